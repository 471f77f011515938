"""The run told in the Prefect UI: journal entries as short log lines, and a closing summary.

``story_line`` maps one journal entry to what an operator wants to read in the flow run's
logs ("gate http on app-3: status 500, limit status 200: FAIL"); ``summary_markdown`` is
the artifact a flow run ends with: the outcome, the gate results and where the report is.
Both are pure; ``PrefectStory`` (imports Prefect when it is built) sends them, and never
fails a run over the UI.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

__all__ = ["GateRow", "PrefectStory", "gate_rows", "story_line", "summary_markdown"]

log = structlog.get_logger(__name__)

INFO, WARNING, ERROR = logging.INFO, logging.WARNING, logging.ERROR


def _at(e: dict[str, Any]) -> str:
    batch = e.get("batch")
    return f"{e.get('step')} batch {batch}" if batch is not None else str(e.get("step"))


def _hosts(hosts: Iterable[str]) -> str:
    names = list(hosts)
    return ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")


def _check(e: dict[str, Any]) -> tuple[int, str]:
    outcome = str(e.get("outcome", "")).upper()
    where = e.get("host") or e.get("target")
    line = (
        f"gate {e.get('check')} on {where} ({_at(e)}): observed {e.get('observed')}, limit {e.get('limit')}: {outcome}"
    )
    return (INFO if outcome == "PASS" else WARNING), line


def _approval_requested(e: dict[str, Any]) -> tuple[int, str]:
    who = f"{e['approvers']} approval(s)" + (", not by the initiator" if e.get("exclude_initiator") else "")
    msg = f": {e['message']}" if e.get("message") else ""
    return INFO, f"{e['step']} waits for {who}{msg} ({e.get('howto', '')})"


def _run_finished(e: dict[str, Any]) -> tuple[int, str]:
    reason = f": {e['reason']}" if e.get("reason") else ""
    level = INFO if e.get("status") == "succeeded" else ERROR
    return level, f"run {e.get('status')} (exit {e.get('exit_code')}){reason}"


_LINES: dict[str, Callable[[dict[str, Any]], tuple[int, str]]] = {
    "run_started": lambda e: (INFO, f"run of {e['runbook']} in {e.get('env') or '-'} by {e.get('initiator')}"),
    "run_resumed": lambda e: (INFO, f"run resumed by {e.get('by')} from {e.get('from_step') or 'its rollback'}"),
    "step_started": lambda e: (INFO, f"step {e['step']} ({e['kind']}) started"),
    "step_done": lambda e: (INFO, f"step {e['step']} done"),
    "step_failed": lambda e: (ERROR, f"step {_at(e)} FAILED: {e['reason']}"),
    "batch_started": lambda e: (INFO, f"{_at(e)} started on {_hosts(e['hosts'])}"),
    "batch_done": lambda e: (
        INFO,
        f"{_at(e)} done on {len(e['hosts'])} host(s)"
        + (f"; failed, within max_fail: {_hosts(e['failed_hosts'])}" if e.get("failed_hosts") else ""),
    ),
    "stage_started": lambda e: (INFO, f"{e['step']} stage {e['stage']} ({e['label']}) started"),
    "stage_done": lambda e: (INFO, f"{e['step']} stage {e['stage']} ({e['label']}) done"),
    "check_result": _check,
    "gate_passed": lambda e: (
        INFO,
        f"gate of {_at(e)} passed: {e['checks']} check(s), {e['measurements']} measurement(s)",
    ),
    "gate_skipped": lambda e: (
        WARNING,
        f"gate of {_at(e)}: SKIPPED by {e.get('by')} at {e['ts']} (gate inconclusive: {e['reason']})",
    ),
    "gate_failed": lambda e: (ERROR, f"gate of {_at(e)}: {str(e['outcome']).upper()}: {e['reason']}"),
    "bake_started": lambda e: (INFO, f"{_at(e)} bakes for {e['seconds']:g}s"),
    "bake_done": lambda e: (INFO, f"{_at(e)} bake over ({e['how']})"),
    "approval_requested": _approval_requested,
    "approval_accepted": lambda e: (INFO, f"{e['step']} approved by {e['by']} ({e['count']}/{e['needed']})"),
    "approval_refused": lambda e: (WARNING, f"{e['step']}: approval by {e['by']} does not count: {e['reason']}"),
    "approval_rejected": lambda e: (ERROR, f"{e['step']} rejected by {e['by']}: {e.get('reason') or 'no reason'}"),
    "approval_granted": lambda e: (INFO, f"{e['step']} granted by {', '.join(e['approvers'])}"),
    "approval_timed_out": lambda e: (ERROR, f"{e['step']}: no approval in time, {e['on_timeout']}"),
    "paused": lambda e: (WARNING, f"paused by {e.get('by')}"),
    "unpaused": lambda e: (INFO, f"resumed by {e.get('by')}"),
    "rollback_started": lambda e: (
        ERROR,
        f"ROLLBACK started ({e['reason']}): undoing {', '.join(e['units']) or 'nothing'}",
    ),
    "rollback_resumed": lambda e: (ERROR, f"rollback resumed ({e['reason']}): {', '.join(e['units'])}"),
    "compensation_started": lambda e: (WARNING, f"undoing {e['unit']}"),
    "compensation_done": lambda e: (WARNING, f"undone: {e['unit']}"),
    "compensation_failed": lambda e: (ERROR, f"undo of {e['unit']} failed (attempt {e['attempt']}): {e['error']}"),
    "compensation_missing": lambda e: (ERROR, f"{e['step']} has no rollback: {e['unit']} is NOT restored"),
    "rollback_done": lambda e: (WARNING, f"rollback finished: restored {', '.join(e['restored']) or 'nothing'}"),
    "rollback_failed": lambda e: (
        ERROR,
        f"rollback FAILED ({e['reason']}): NOT restored: {', '.join(e['not_restored'])}; "
        f"restored: {', '.join(e['restored']) or 'nothing'}",
    ),
    "run_finished": _run_finished,
    "watch_started": lambda e: (INFO, f"watching after go-live for {e['seconds']:g}s (until {e['until']})"),
    "watch_alert": lambda e: (ERROR, f"WATCH ALERT ({e['outcome']}, {e['action']}): {e['reason']}"),
    "watch_ended": lambda e: (INFO, f"watch over ({e['how']}{' by ' + str(e['by']) if e.get('by') else ''})"),
    "notification_sent": lambda e: (INFO, f"{e['notification']} sent to {e['channel']}"),
    "notification_failed": lambda e: (
        WARNING,
        f"{e['notification']} NOT sent to {e['channel']} ({e['attempts']} attempt(s)): {e['error']}",
    ),
}


def story_line(entry: dict[str, Any]) -> tuple[int, str] | None:
    """(log level, line) for an entry an operator cares about; None for the others."""
    make = _LINES.get(str(entry.get("event")))
    if make is None:
        return None
    try:
        return make(entry)
    except (KeyError, TypeError):  # an older entry shape: the journal and status still tell it
        return INFO, str(entry.get("event"))


@dataclass
class GateRow:
    step: str
    batch: int | None
    check: str
    where: str
    limit: str
    measurements: int = 0
    failures: int = 0
    observed: str = ""  # the latest measurement with the worst outcome
    worst: str = "pass"


def gate_rows(entries: Iterable[dict[str, Any]]) -> list[GateRow]:
    """One row per check, step, batch and host: how often measured and failed, and the worst value seen."""
    rows: dict[tuple[Any, ...], GateRow] = {}
    rank = {"pass": 0, "inconclusive": 1, "fail": 2}
    for e in entries:
        if e.get("event") != "check_result":
            continue
        where = str(e.get("host") or e.get("target"))
        key = (e["step"], e.get("batch"), e["check"], where, e["limit"])
        row = rows.setdefault(
            key, GateRow(step=e["step"], batch=e.get("batch"), check=e["check"], where=where, limit=e["limit"])
        )
        outcome = str(e.get("outcome"))
        row.measurements += 1
        row.failures += outcome != "pass"
        if rank.get(outcome, 0) >= rank.get(row.worst, 0):  # the value behind the verdict, not a later pass
            row.worst = outcome
            row.observed = str(e.get("observed"))
    return list(rows.values())


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ") or "-"


def summary_markdown(entries: list[dict[str, Any]], *, report_path: Path | None = None) -> str:
    """The closing artifact of a flow run: outcome, rollback, gate results, the report's path."""
    first = next((e for e in entries if e.get("event") == "run_started"), {})
    end = next((e for e in reversed(entries) if e.get("event") == "run_finished"), None)
    status = f"**{end['status']}** (exit {end['exit_code']})" if end else "**not finished**"
    lines = [
        f"# golive run {first.get('run_id', '')}",
        "",
        f"Runbook **{first.get('runbook', '?')}** in **{first.get('env') or '-'}**, "
        f"initiated by {first.get('initiator', '?')}: {status}.",
    ]
    if end and end.get("reason"):
        lines += ["", f"Reason: {end['reason']}"]
    rolled = next((e for e in reversed(entries) if e.get("event") in ("rollback_done", "rollback_failed")), None)
    if rolled:
        lines += ["", f"Rollback restored: {', '.join(rolled['restored']) or 'nothing'}."]
        if rolled.get("not_restored"):
            lines.append(f"**NOT restored: {', '.join(rolled['not_restored'])}** — check these by hand.")
    rows = gate_rows(entries)
    lines += ["", "## Gate results", ""]
    if rows:
        lines += [
            "| step | check | on | limit | observed | measurements | failed | verdict |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for r in rows:
            at = f"{r.step} batch {r.batch}" if r.batch is not None else r.step
            lines.append(
                f"| {_cell(at)} | {_cell(r.check)} | {_cell(r.where)} | {_cell(r.limit)} | {_cell(r.observed)} "
                f"| {r.measurements} | {r.failures} | {r.worst.upper()} |"
            )
    else:
        lines.append("No gate measured anything.")
    if report_path is not None:
        lines += ["", f"Full report: `{report_path}`"]
    return "\n".join(lines) + "\n"


@dataclass
class PrefectStory:
    """Sends the story to the current Prefect flow run; built inside it (imports Prefect).

    Lines go to the API only, through Prefect's API log handler: the terminal already shows
    golive's own lines, and Prefect's task-run logger is kept quiet there (cli/__init__.py).
    """

    flow_run_id: Any
    handler: logging.Handler
    entries: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def start(cls) -> PrefectStory:
        from prefect.context import get_run_context
        from prefect.logging.handlers import APILogHandler

        flow_run = getattr(get_run_context(), "flow_run", None)
        return cls(flow_run_id=flow_run.id if flow_run is not None else None, handler=APILogHandler())

    def on_entry(self, entry: dict[str, Any]) -> None:
        """A journal listener: keep the entry for the summary and log its line to the task or flow run."""
        self.entries.append(entry)
        line = story_line(entry)
        if line is None or self.flow_run_id is None:
            return
        try:
            self.handler.handle(self._record(*line))
        except Exception as exc:  # the UI is a view: a log that cannot be sent never stops a run
            log.warning("prefect_log_failed", error=str(exc))

    def _record(self, level: int, line: str) -> logging.LogRecord:
        """A record for the step's task run where one runs in this thread; else for the flow run."""
        from prefect.context import TaskRunContext

        task = TaskRunContext.get()
        extra = {"flow_run_id": self.flow_run_id, "task_run_id": task.task_run.id if task is not None else None}
        name = "prefect.task_runs" if task is not None else "prefect.flow_runs"
        return logging.getLogger(name).makeRecord(name, level, __file__, 0, line, (), None, extra=extra)

    def publish(
        self,
        *,
        run_id: str,
        entries: list[dict[str, Any]] | None = None,
        report_path: Path | None = None,
        report_markdown: str | None = None,
    ) -> None:
        """The summary artifact of the flow run (at its end, also after a failure), and the
        run's whole report in Markdown as a second one when it could be built.

        ``entries``: the whole journal, where this process saw only part of it (a resumed run).
        """
        from prefect.artifacts import create_markdown_artifact

        key = "golive-" + "".join(c if c.isalnum() else "-" for c in run_id.lower())[:90].strip("-")
        try:
            create_markdown_artifact(
                markdown=summary_markdown(self.entries if entries is None else entries, report_path=report_path),
                key=key,
                description=f"golive run {run_id}: outcome and gate results",
            )
            if report_markdown is not None:
                create_markdown_artifact(
                    markdown=report_markdown, key=f"{key}-report"[:100], description=f"golive report {run_id}"
                )
        except Exception as exc:
            log.warning("prefect_artifact_failed", run_id=run_id, error=str(exc))
