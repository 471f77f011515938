"""What a person sees while a run goes and after: event lines, status, the run list."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from golive.engine.journal import Integrity, Journal, JournalCorrupt
from golive.engine.state import RunState, fold
from golive.exits import EXIT_TEXT
from golive.report.run_report import build_report, text_timeline

__all__ = ["LiveView", "explain_exit", "render_runs", "render_status"]

_BOARD_STATUS = {"failed": "FAILED", "waiting": "WAITING", "stopped": "STOPPED"}
_BOARD_STYLE = {
    "done": "green",
    "running": "cyan",
    "FAILED": "bold red",
    "STOPPED": "bold yellow",
    "WAITING": "bold magenta",
    "undone": "yellow",
}


def explain_exit(code: int, run_id: str) -> str:
    text = EXIT_TEXT.get(code, "ended")  # type: ignore[call-overload]
    return f"run {run_id}: exit {code}, {text}.  See: golive status {run_id}"


class LiveView:
    """Turns journal entries into one line each; on a terminal a live board of steps stays below them.

    The board shows each step's state, its current batch, hosts done and failed, the last
    gate measurement and elapsed time; without a terminal only the lines are printed.
    """

    def __init__(self, *, console: Console, board: bool | None = None) -> None:
        self.console = console
        self.t0 = time.monotonic()
        self.board_on = console.is_terminal if board is None else board
        self.state = RunState()
        self.times: dict[str, list[float | None]] = {}
        self._live: Any = None

    def on_event(self, e: dict[str, Any]) -> None:
        if self.board_on:
            self._track(e)
        line = self.format(e)
        if line is not None:
            text, style = line
            self.console.print(f"[{time.monotonic() - self.t0:7.1f}s] {text}", style=style, markup=False)
        if self._live is not None:
            self._live.update(self.board())
        if e["event"] == "run_finished":
            self.close()

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    def _track(self, e: dict[str, Any]) -> None:
        """The board is the run state (the one reducer) plus when this process saw each step start."""
        self.state.apply(e)
        ev, step = e["event"], e.get("step")
        if ev in ("run_started", "run_resumed") and self._live is None:
            from rich.live import Live

            self._live = Live(self.board(), console=self.console, refresh_per_second=4, transient=False)
            self._live.start()
        elif ev == "step_started":
            self.times[str(step)] = [time.monotonic(), None]
        elif ev in ("step_done", "step_failed") and str(step) in self.times:
            self.times[str(step)][1] = time.monotonic()

    def board(self) -> Table:
        table = Table(title=f"elapsed {time.monotonic() - self.t0:.0f}s", title_justify="left", expand=False)
        for col in ("step", "state", "batch", "hosts ok", "failed", "last gate", "time"):
            table.add_column(col, overflow="fold")
        undone = {u.split("[")[0].removeprefix("rollback:") for u in self.state.compensated}
        for name, st in self.state.steps.items():
            status = _BOARD_STATUS.get(st.status, st.status)
            if name in undone:
                status = "undone"
            t0, t1 = self.times.get(name, [None, None])
            took = (t1 or time.monotonic()) - t0 if t0 else None
            table.add_row(
                name,
                Text(status, style=_BOARD_STYLE.get(status, "")),
                str(st.batch if st.batch is not None else (st.batches_done[-1] if st.batches_done else "")),
                str(st.hosts_ok or ""),
                ", ".join(st.failed_hosts),
                Text(st.last_gate[:70]),
                f"{took:.0f}s" if took is not None else "",
            )
        return table

    @staticmethod
    def format(e: dict[str, Any]) -> tuple[str, str] | None:
        ev = e["event"]
        step = e.get("step")
        batch = f" batch {e['batch']}" if e.get("batch") is not None else ""
        if ev == "run_started":
            return f"start {e['runbook']} env={e.get('env')} plan {e['digest'][:12]} by {e['initiator']}", "bold"
        if ev == "step_started":
            return f"step {step} ({e.get('kind')})", "bold cyan"
        if ev == "batch_started":
            return f"  {step}{batch}: {', '.join(e['hosts'])}", "cyan"
        if ev == "action_result":
            hosts = e.get("hosts", {})
            bad = [h for h, r in hosts.items() if not r.get("ok")]
            what = "rollback action" if e.get("rollback") else "applied"
            if bad:
                detail = "; ".join(f"{h}: {hosts[h].get('message') or 'failed'}" for h in bad)
                return f"  {step}{batch}: {what}, FAILED on {len(bad)}/{len(hosts)}: {detail}", "red"
            return f"  {step}{batch}: {what} on {len(hosts)} host(s)", ""
        if ev == "check_result":
            where = f" {e['host']}" if e.get("host") else ""
            style = {"pass": "green", "fail": "bold red"}.get(e["outcome"], "yellow")
            return (
                f"    {e['check']}{where}: {e['outcome'].upper()} observed {e['observed']} (limit {e['limit']})",
                style,
            )
        if ev == "gate_passed":
            return f"  gate passed: {step}{batch} ({e.get('measurements')} measurements)", "green"
        if ev == "gate_skipped":
            return f"  gate SKIPPED: {step}{batch} by {e.get('by')} at {e['ts']} (gate inconclusive)", "bold yellow"
        if ev == "gate_failed":
            return f"  GATE {e['outcome'].upper()}: {step}{batch}: {e['reason']}", "bold red"
        if ev in ("bake_started", "bake_done", "bake_promoted"):
            what = {
                "bake_started": f"baking {e.get('seconds', 0):g}s",
                "bake_done": f"bake {e.get('how')}",
                "bake_promoted": f"promoted by {e.get('by')}",
            }[ev]
            return f"  {step}{batch}: {what}", ""
        if ev == "hosts_tolerated":
            return (
                f"  {step}{batch}: tolerating failed host(s) {', '.join(e['hosts'])} (max_fail {e['max_fail']})",
                "yellow",
            )
        if ev == "step_done":
            return f"step {step} done", "green"
        if ev == "step_failed":
            return f"STEP {step}{batch} FAILED: {e['reason']}", "bold red"
        if ev == "paused":
            return f"PAUSED: {e['reason']} -> {e.get('howto')}", "bold yellow"
        if ev == "unpaused":
            return f"resumed by {e.get('by')}", "yellow"
        if ev == "window_overrun":
            return f"WARNING: the estimate ends {e['expected_end']}, after the window closes {e['closes_at']}", "yellow"
        if ev == "window_closed":
            return f"WINDOW CLOSED: {e['reason']}; next opening {e.get('next_open') or 'none'}", "bold red"
        if ev == "break_glass":
            return f"BREAK-GLASS by {e['by']}: {e['reason']}", "bold white on red"
        if ev == "approval_requested":
            return (
                f"WAITING FOR APPROVAL ({e['approvers']} approver(s)) of plan {e['digest'][:12]}; next: "
                f"{', '.join(e['next_steps'])} -> {e['howto']}",
                "bold magenta",
            )
        if ev in ("approval_accepted", "approval_refused", "approval_granted", "approval_rejected"):
            who = e.get("by") or ", ".join(e.get("approvers", []))
            return f"  {ev.replace('_', ' ')}: {who} {e.get('reason') or e.get('comment') or ''}".rstrip(), "magenta"
        if ev == "rollback_started":
            return f"ROLLBACK ({e['reason']}): {' -> '.join(e['units']) or 'nothing to undo'}", "bold yellow"
        if ev == "compensation_done":
            return f"  restored: {e['unit']}", "yellow"
        if ev == "compensation_failed":
            return f"  compensation {e['unit']} failed (attempt {e['attempt']}): {e['error']}", "bold red"
        if ev == "rollback_failed":
            return (
                f"ROLLBACK FAILED: restored {e['restored'] or 'nothing'}; NOT restored: {e['not_restored']} "
                f"({e['reason']})",
                "bold white on red",
            )
        if ev == "rollback_done":
            return f"rollback complete: {len(e['restored'])} compensation(s) ran", "bold yellow"
        if ev == "canary_stage":
            return (
                f"  {step}: canary at {e.get('percent')}% ({e.get('canary_replicas')} canary, "
                f"{e.get('stable_replicas')} stable)",
                "cyan",
            )
        if ev == "k8s_switched":
            return f"  {step}: switched service {e.get('service')}: {_switch_text(e)}", "cyan"
        if ev in ("k8s_restored", "k8s_deleted", "k8s_created"):
            what = {
                "k8s_restored": "restored",
                "k8s_deleted": "deleted",
                "k8s_created": "created",
            }[ev]
            return f"  {step}: {what} {e.get('kind', '')} {e.get('namespace', '')}/{e.get('name', '')}", "cyan"
        if ev == "notified":
            return f"notice: {e['message']}", "blue"
        if ev == "rehearsal_started":
            return f"REHEARSAL: faults {', '.join(e['faults'])}", "bold magenta"
        if ev == "fault_injected":
            return f"FAULT INJECTED at {e['step']}: {e['fault']}", "bold magenta"
        if ev == "watch_started":
            return (
                f"WATCHING after go-live for {e['seconds']:g}s ({e['checks']} check(s); "
                f"golive promote accepts early, golive abort rolls back)",
                "bold cyan",
            )
        if ev == "watch_alert":
            return f"WATCH ALERT ({e['outcome']}): {e['reason']} -> {e['action']}", "bold red"
        if ev == "watch_ended":
            return f"watch over: {e['how']}{' by ' + str(e['by']) if e.get('by') else ''}", "green"
        if ev == "run_finished":
            style = "bold green" if e["exit_code"] == 0 else "bold red"
            return f"run {e['status']} (exit {e['exit_code']})", style
        return None


def _switch_text(e: dict[str, Any]) -> str:
    """``golive-color=blue → green``, or the selector before and after for a plain switch."""
    if e.get("label") and e.get("to_color"):
        return f"{e['label']}={e.get('from_color') or '?'} → {e['to_color']}"
    new = e.get("to_selector") or e.get("selector") or {}
    old = e.get("from_selector")
    text = ",".join(f"{k}={v}" for k, v in new.items())
    return f"{','.join(f'{k}={v}' for k, v in old.items())} → {text}" if old is not None else f"selector {text}"


def _status_dict(state: RunState, *, live: bool, integrity: Integrity | None) -> dict[str, Any]:
    took = {s["id"]: s["duration_s"] for s in build_report(state, integrity=None)["steps"]}
    return {
        **({"journal": integrity.as_dict()} if integrity is not None else {}),
        "run_id": state.run_id,
        "runbook": state.meta.get("runbook"),
        "env": state.meta.get("env"),
        "status": state.status,
        "live": live,
        "exit_code": state.exit_code,
        "digest": state.meta.get("digest"),
        "initiator": state.meta.get("initiator"),
        "current_step": state.current,
        "failure": state.failure,
        "steps": {
            k: {
                "status": v.status,
                "batches_done": v.batches_done,
                "failed_hosts": v.failed_hosts,
                "gate_failed_hosts": v.gate_failed_hosts,
                "started": v.started,
                "duration_s": took.get(k),
            }
            for k, v in state.steps.items()
        },
        "compensated": state.compensated,
        "not_restored": state.not_restored,
        "pending_undo": [u.name for u in state.pending_units()],
        "watch": _watch_dict(state),
    }


def _watch_dict(state: RunState) -> dict[str, Any] | None:
    """The watch after go-live: when it started and ends, how it ended, the seconds left while it lasts."""
    if state.watch_started_at is None:
        return None
    from datetime import UTC, datetime

    left = None
    if state.watch_ended is None and not state.finished and state.watch_until:
        left = max(0.0, (datetime.fromisoformat(state.watch_until) - datetime.now(UTC)).total_seconds())
    return {
        "started": state.watch_started_at,
        "until": state.watch_until,
        "ended": state.watch_ended,
        "ended_at": state.watch_ended_at,
        "seconds_left": left,
        "alerts": [
            {"ts": a.get("ts"), "outcome": a.get("outcome"), "reason": a.get("reason")} for a in state.watch_alerts
        ],
    }


def render_status(
    state: RunState,
    *,
    live: bool,
    integrity: Integrity | None = None,
    console: Console | None = None,
    as_dict: bool = False,
) -> dict[str, Any]:
    data = _status_dict(state, live=live, integrity=integrity)
    if as_dict or console is None:
        return data
    console.print(
        f"[bold]{state.run_id}[/]  {data['runbook']} env={data['env']}  status=[bold]{state.status}[/]"
        f"{' (process alive)' if live else ''}  exit={state.exit_code}"
    )
    table = Table()
    for col in ("step", "status", "batches done", "failed hosts", "took"):
        table.add_column(col)
    for name, st in state.steps.items():
        took = data["steps"][name]["duration_s"]
        table.add_row(
            name,
            st.status,
            ",".join(map(str, st.batches_done)) or "-",
            ", ".join([*st.failed_hosts, *(f"{h} (gate)" for h in st.gate_failed_hosts if h not in st.failed_hosts)])
            or "-",
            f"{took:.1f}s" if took is not None else "-",
        )
    console.print(table)
    report = build_report(state, integrity=None)
    if report["steps"]:
        console.print("timeline (# batch/stage, ~ bake, ? wait, < rollback, X failure, . planned):", markup=False)
        for line in text_timeline(report):
            console.print(f"  {line}", markup=False)
    watch = data["watch"]
    if watch is not None:
        if watch["seconds_left"] is not None:
            console.print(
                f"WATCHING after go-live: {watch['seconds_left']:.0f}s left (until {watch['until']}); "
                f"`golive promote {state.run_id}` accepts the release now, `golive abort {state.run_id}` rolls it back",
                style="bold",
                markup=False,
            )
        elif watch["ended"]:
            console.print(f"watch after go-live: {watch['ended']} at {watch['ended_at']}", markup=False)
        for a in watch["alerts"]:
            console.print(f"watch alert at {a['ts']}: {a['outcome']}: {a['reason']}", style="red", markup=False)
    if state.failure:
        console.print(f"failure: {state.failure}", style="red", markup=False)
    if state.compensated:
        console.print(f"restored: {', '.join(state.compensated)}", markup=False)
    if state.not_restored:
        console.print(f"NOT RESTORED: {', '.join(state.not_restored)}", style="bold white on red", markup=False)
    if integrity is not None:
        render_integrity(integrity, console=console)
    return data


def render_integrity(found: Integrity, *, console: Console) -> None:
    if found.broken is None:
        console.print(f"journal: {found.entries} entries, hash chain intact, head {found.head}", markup=False)
        return
    console.print(
        f"JOURNAL NOT AS WRITTEN: {found.broken}. What is shown comes from that journal; "
        "do not trust it without checking the hosts.",
        style="bold white on red",
        markup=False,
    )


def render_runs(journals: list[Journal], *, console: Console) -> None:
    table = Table()
    for col in ("run", "runbook", "env", "status", "exit", "by"):
        table.add_column(col)
    for j in journals:
        try:
            st = fold(j)
        except JournalCorrupt as exc:
            table.add_row(j.run_dir.name, "-", "-", f"journal damaged at line {exc.line}", "-", "-")
            continue
        table.add_row(
            st.run_id or j.run_dir.name,
            str(st.meta.get("runbook") or "-"),
            str(st.meta.get("env") or "-"),
            st.status + (" (rehearsal)" if st.rehearsal is not None else ""),
            str(st.exit_code if st.exit_code is not None else "-"),
            str(st.meta.get("initiator") or "-"),
        )
    console.print(table)
