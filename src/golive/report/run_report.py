"""A run's report as data: what the journal says happened, from its folded state alone.

``build_report`` turns the run state (``golive.engine.state``, the one reducer) and the
journal's integrity into a plain dict with a ``schema_version`` (docs/report.md); the
HTML, Markdown and JSON renderings and ``golive status``'s timeline all read that dict.
Times are ISO 8601 as journaled, plus seconds from the run's start (``t``) for drawing.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from golive.engine.journal import Integrity
from golive.engine.state import RunState, Span, StepState
from golive.exits import EXIT_TEXT
from golive.report.gantt import Bar, Gantt, Row

__all__ = ["SCHEMA_VERSION", "build_report", "gantt_of", "text_timeline"]

SCHEMA_VERSION = 1

_WAITS = ("bake", "approval", "pause")


def _secs(ts: str | None, t0: datetime | None) -> float | None:
    if ts is None or t0 is None:
        return None
    return round((datetime.fromisoformat(ts) - t0).total_seconds(), 3)


class _Clock:
    """Seconds from the run's start; what has not ended yet ends at the journal's last entry."""

    def __init__(self, state: RunState) -> None:
        self.t0 = datetime.fromisoformat(state.started_at) if state.started_at else None
        self.now = state.ended_at or state.last_ts

    def at(self, ts: str | None) -> float | None:
        return _secs(ts, self.t0)

    def until(self, ts: str | None) -> float | None:
        return _secs(ts or self.now, self.t0)


def _span(span: Span, clock: _Clock) -> dict[str, Any]:
    return {
        "kind": span.kind,
        "label": span.label,
        "index": span.batch,
        "hosts": span.hosts,
        "start": span.start,
        "end": span.end,
        "t_start": clock.at(span.start),
        "t_end": clock.until(span.end),
        "outcome": span.outcome or ("running" if span.end is None else ""),
    }


def _batches(st: StepState, clock: _Clock) -> list[dict[str, Any]]:
    out = []
    for span in st.spans:
        if span.kind not in ("batch", "stage"):
            continue
        item = _span(span, clock)
        results = [r for r in st.results if span.kind == "batch" and r.get("batch") == span.batch]
        item["results"] = {h: dict(o) for r in results for h, o in r.get("hosts", {}).items()}
        out.append(item)
    return out


def _gates(st: StepState, clock: _Clock) -> list[dict[str, Any]]:
    gates: dict[tuple[str, str], dict[str, Any]] = {}
    for c in st.checks:
        # One chart per check and limit: the same check on several hosts is one gate, its hosts in the table.
        g = gates.setdefault(
            (c["check"], c["limit"]),
            {"check": c["check"], "target": c["target"], "targets": [], "limit": c["limit"], "measurements": []},
        )
        if c["target"] not in g["targets"]:
            g["targets"].append(c["target"])
        g["measurements"].append(
            {
                "ts": c["ts"],
                "t": clock.at(c["ts"]),
                "batch": c.get("batch"),
                "host": c.get("host"),
                "target": c["target"],
                "outcome": c["outcome"],
                "observed": c["observed"],
                "value": c.get("value"),
                "limit": c["limit"],
                "message": c.get("message", ""),
            }
        )
    return list(gates.values())


def _approvals(state: RunState, step: str) -> list[dict[str, Any]]:
    digests = {(c.get("by"), c.get("step")): c.get("digest") for c in state.controls if c.get("action") == "approve"}
    return [
        {
            "by": a["by"],
            "ts": a["ts"],
            "digest": digests.get((a["by"], step)) or state.meta.get("digest"),
            "comment": a.get("comment"),
            "source": a.get("source"),
        }
        for a in state.approvals.get(step, [])
    ]


def _step(state: RunState, ref: dict[str, Any], clock: _Clock) -> dict[str, Any]:
    sid = ref["id"]
    st = state.steps.get(sid, StepState())
    started, finished = st.started, st.finished or st.failed_at
    return {
        "id": sid,
        "kind": ref.get("kind"),
        "owner": ref.get("owner"),
        "action": ref.get("action"),
        "estimate_s": ref.get("estimate_s"),
        "status": st.status,
        "started": started,
        "finished": finished,
        "t_start": clock.at(started),
        "t_end": clock.until(finished) if started else None,
        "duration_s": _duration(clock, started, finished),
        "failed_at": st.failed_at,
        "failure": st.failure,
        "failed_hosts": st.failed_hosts,
        "batches": _batches(st, clock),
        "waits": [_span(s, clock) for s in st.spans if s.kind in _WAITS],
        "gates": _gates(st, clock),
        "approvals": _approvals(state, sid),
        "results": [
            {"batch": r.get("batch"), "ok": r.get("ok"), "hosts": r.get("hosts", {})}
            for r in st.results
            if r.get("batch") is None
        ],
    }


def _duration(clock: _Clock, start: str | None, end: str | None) -> float | None:
    a, b = clock.at(start), clock.until(end)
    return None if a is None or b is None else round(b - a, 3)


def _rollback(state: RunState, clock: _Clock) -> dict[str, Any] | None:
    if state.rollback_started_at is None and not state.compensations:
        return None
    comps = []
    for c in state.compensations:
        item = asdict(c)
        item.update(t_start=clock.at(c.start), t_end=clock.until(c.end))
        comps.append(item)
    return {
        "reason": state.rollback_reason,
        "started": state.rollback_started_at,
        "compensations": comps,
        "restored": state.compensated,
        "not_restored": state.not_restored,
    }


def _watch(state: RunState, clock: _Clock) -> dict[str, Any] | None:
    """The watch after go-live: from its start to its end (elapsed, promoted), the alert that ended it,
    or the run's end; its measurements as gates, its alerts."""
    if state.watch_started_at is None:
        return None
    alerts = [
        {k: a.get(k) for k in ("ts", "outcome", "reason", "action")} | {"t": clock.at(a["ts"])}
        for a in state.watch_alerts
    ]
    stopped_by = next((a for a in alerts if a["action"] == "rollback"), None)
    end = state.watch_ended_at or (stopped_by["ts"] if stopped_by else None)
    how = state.watch_ended or ("alert" if stopped_by else ("stopped" if state.finished else "watching"))
    return {
        "started": state.watch_started_at,
        "until": state.watch_until,
        "planned_s": state.watch_seconds,
        "how": how,
        "ended": end,
        "t_start": clock.at(state.watch_started_at),
        "t_end": clock.until(end),
        "duration_s": _duration(clock, state.watch_started_at, end),
        "alerts": alerts,
        "gates": _gates(StepState(checks=state.watch_checks), clock),
    }


def build_report(state: RunState, *, integrity: Integrity | None) -> dict[str, Any]:
    """The report of one run (finished or not) as a JSON-ready dict; see docs/report.md."""
    clock = _Clock(state)
    meta = state.meta
    code = state.exit_code
    return {
        "schema_version": SCHEMA_VERSION,
        "run": {
            "run_id": state.run_id,
            "runbook": meta.get("runbook"),
            "file": meta.get("file"),
            "env": meta.get("env"),
            "status": state.status,
            "finished": state.finished,
            "exit_code": code,
            "outcome": EXIT_TEXT.get(code, state.status) if code is not None else state.status,  # type: ignore[call-overload]
            "initiator": meta.get("initiator"),
            "machine": meta.get("machine"),
            "params": meta.get("params", {}),
            "previous": meta.get("previous", {}),
            "digest": meta.get("digest"),
            "change_id": meta.get("change_id"),
            "started": state.started_at,
            "ended": state.ended_at,
            "last_entry": state.last_ts,
            "duration_s": _duration(clock, state.started_at, state.ended_at),
            "estimate_s": _estimate(meta, state.watch_seconds),
            "failure": state.failure,
        },
        "journal": integrity.as_dict() if integrity is not None else None,
        "steps": [_step(state, ref, clock) for ref in meta.get("steps", [])],
        "controls": [
            {k: c.get(k) for k in ("ts", "action", "by", "reason", "comment", "step", "source")}
            for c in state.controls
            if c.get("action") in ("pause", "resume", "promote", "abort")
        ],
        "resumes": [{"ts": r["ts"], "by": r.get("by"), "from_step": r.get("from_step")} for r in state.resumes],
        "watch": _watch(state, clock),
        "rollback": _rollback(state, clock),
    }


def _estimate(meta: dict[str, Any], watch_s: float | None) -> float | None:
    est = [s.get("estimate_s") for s in meta.get("steps", [])]
    if not est or any(e is None for e in est):
        return None
    return round(sum(est) + (watch_s or 0.0), 3)


# ------------------------------------------------------------------ the timeline


def gantt_of(report: dict[str, Any]) -> Gantt:
    """One row per step: the plan's estimate as a ghost bar, batches or stages, waits, gate ticks,
    the failure, and the compensations that undid the step (in the order they ran); then the
    watch after go-live, when the run got that far."""
    rows = []
    planned_at = 0.0
    comps = (report.get("rollback") or {}).get("compensations", [])
    for step in report["steps"]:
        row = Row(step["id"], owner=step.get("owner"))
        if step.get("estimate_s"):
            row.bars.append(Bar(planned_at, planned_at + step["estimate_s"], "planned", f"planned {step['id']}"))
            planned_at += step["estimate_s"]
        row.bars += _actual_bars(step)
        for c in comps:
            if c["step"] == step["id"] and c["t_start"] is not None:
                row.bars.append(Bar(c["t_start"], c["t_end"] or c["t_start"], "rollback", f"{c['unit']} {c['status']}"))
        rows.append(row)
    watch = report.get("watch")
    if watch:
        row = Row("watch", owner="after go-live")
        if watch["planned_s"]:
            row.bars.append(Bar(planned_at, planned_at + watch["planned_s"], "planned", "planned watch"))
        row.bars.append(Bar(watch["t_start"], watch["t_end"], "watch", f"watch: {watch['how']}"))
        row.bars += _gate_ticks(watch["gates"])
        for a in watch["alerts"]:
            row.bars.append(Bar(a["t"], a["t"], "failure", f"watch alert ({a['action']}): {a['reason']}"))
        rows.append(row)
    return Gantt(rows=rows, title=f"timeline of run {report['run']['run_id']}")


def _actual_bars(step: dict[str, Any]) -> list[Bar]:
    bars: list[Bar] = []
    parts = step["batches"]
    for b in parts:
        bars.append(Bar(b["t_start"], b["t_end"], "batch" if b["kind"] == "batch" else "stage", b["label"]))
    if not parts and step["t_start"] is not None:  # a step with no batches is one bar
        bars.append(Bar(step["t_start"], step["t_end"], "stage", step["id"]))
    for w in step["waits"]:
        bars.append(Bar(w["t_start"], w["t_end"], w["kind"], w["label"]))
    bars += _gate_ticks(step["gates"])
    if step["failed_at"]:
        t = step["t_end"]
        bars.append(Bar(t, t, "failure", f"failed: {step['failure']}"))
    return bars


def _gate_ticks(gates: list[dict[str, Any]]) -> list[Bar]:
    """A tick per measurement of the gates (a step's or the watch's)."""
    return [
        Bar(m["t"], m["t"], "gate-tick", f"{g['check']}: {m['outcome']} {m['observed']}")
        for g in gates
        for m in g["measurements"]
    ]


_GLYPH = {
    "planned": ".",
    "batch": "#",
    "stage": "#",
    "bake": "~",
    "approval": "?",
    "pause": "?",
    "watch": "=",
    "rollback": "<",
}


def text_timeline(report: dict[str, Any], *, width: int = 48) -> list[str]:
    """The Gantt in characters, one line per step (and the watch): # batch or stage, ~ bake, ? approval
    or pause, = watch, < rollback, X failure, . planned only. Right of it, the step's duration."""
    gantt = gantt_of(report)
    scale = width / gantt.span
    label_w = max([4, *(len(r.label) for r in gantt.rows)])
    lines = []
    watch = [report["watch"]["duration_s"]] if report.get("watch") else []
    took_s = [s["duration_s"] for s in report["steps"]] + watch
    for row, seconds in zip(gantt.rows, took_s, strict=True):
        cells = [" "] * width
        for bar in sorted(row.bars, key=lambda b: list(_GLYPH).index(b.kind) if b.kind in _GLYPH else 99):
            a = min(width - 1, int(bar.start * scale))
            if bar.kind == "failure":
                cells[a] = "X"
                continue
            if bar.kind not in _GLYPH:
                continue
            b = max(a + 1, min(width, round(bar.end * scale)))
            for i in range(a, b):
                cells[i] = _GLYPH[bar.kind]
        took = f"{seconds:.1f}s" if seconds is not None else "-"
        lines.append(f"{row.label:<{label_w}} |{''.join(cells)}| {took}")
    return lines
