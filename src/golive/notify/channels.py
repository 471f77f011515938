"""Notification channels an environment names: ``golive_notify`` in its group_vars.

```yaml
golive_notify:
  ops:
    url: "slack://${SLACK_TOKEN_A}/${SLACK_TOKEN_B}/${SLACK_TOKEN_C}/#ops"
    events: [approval_needed, gate_failed, rollback_failed]
  dba:
    url_file: /etc/golive/dba-webhook-url     # the URL kept in a file (0600) beside no inventory
  audit:
    url: "json://hooks.internal:8080/golive"
    templates: {run_finished: "{{ runbook }} on {{ env }}: {{ status }}"}
```

A URL is any Apprise URL (Slack, Feishu/Lark, DingTalk, WeCom, Teams, email, JSON webhooks
and many more). ``${VAR}`` in it is read from the environment when a message is sent, so
tokens stay out of the inventory; ``url_file`` reads the whole URL from a file. The resolved
URL never reaches the journal, logs, reports or error messages: only the channel's name does.
"""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2

from golive.errors import Issue

__all__ = [
    "EVENTS",
    "Channel",
    "ChannelError",
    "channels_of",
    "notify_issues",
]

# What a channel may subscribe to, and what each is about.
EVENTS: dict[str, str] = {
    "run_started": "a run started: who, runbook, env, plan digest",
    "approval_needed": "a step waits for approval: the golive approve command and the Prefect UI link",
    "gate_failed": "a gate failed: what was observed against its limit",
    "rollback_started": "the run turned back",
    "rollback_finished": "every unit was restored",
    "rollback_failed": "a compensation failed: what is not restored",
    "run_finished": "a run ended, however it ended",
    "watch_alert": "a check failed while the release was watched after go-live",
    "break_glass": "a run was started outside its change window",
    "rehearsal_finished": "a rehearsal ended",
    "message": "a notify step's message sent to the channel by name",
}
_KEYS = {"url", "url_file", "events", "templates"}
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_PARTS = re.compile(r"[/:@?&=#]+")


class ChannelError(Exception):
    """A channel's URL cannot be made now (a variable unset, a file unreadable); says which and how."""


@dataclass(frozen=True)
class Channel:
    """One named destination; ``url`` may hold ``${VAR}``, resolved only when a message is sent."""

    name: str
    url: str | None = None
    url_file: Path | None = None
    events: frozenset[str] | None = None  # None: every event
    templates: dict[str, str] = field(default_factory=dict)

    def wants(self, event: str) -> bool:
        return event == "message" or self.events is None or event in self.events

    def variables(self) -> list[str]:
        return _VAR.findall(self.url or "")

    def resolve(self) -> str:
        """The URL to send to, secrets filled in (never to be journaled, logged or shown)."""
        if self.url_file is not None:
            try:
                text = self.url_file.read_text().strip()
            except OSError as exc:
                raise ChannelError(
                    f"channel {self.name!r}: cannot read its url_file {self.url_file}: {exc.strerror}"
                ) from None
            if not text:
                raise ChannelError(f"channel {self.name!r}: its url_file {self.url_file} is empty")
            return text
        assert self.url is not None
        missing = [v for v in self.variables() if v not in os.environ]
        if missing:
            raise ChannelError(
                f"channel {self.name!r}: its url reads ${{{missing[0]}}}, which is not set in golive's environment"
            )
        return _VAR.sub(lambda m: os.environ[m.group(1)], self.url)

    def secrets(self) -> list[str]:
        """The values that must never be shown: the resolved URL, each variable it reads, and their parts.

        A service's own error names the URL it posted to, not the one golive was given
        (``slack://T/B/token`` is posted to ``https://hooks.slack.com/services/T/B/token``),
        so each part of a secret value (``/``, ``:``, ``@``, ``?``, ``&``, ``=``, ``#``
        apart) of six characters or more is a secret too.
        """
        secret = [os.environ[v] for v in self.variables() if os.environ.get(v)]
        resolved: list[str] = []
        with contextlib.suppress(ChannelError):
            resolved.append(self.resolve())
        if self.url_file is not None:  # all of it came from the file
            secret += resolved
        parts = [p for value in secret for p in _PARTS.split(value) if len(p) >= 6]
        return [*secret, *resolved, *parts]


def _raw(settings: dict[str, Any]) -> Any:
    return settings.get("golive_notify")


def channels_of(settings: dict[str, Any], *, base: Path) -> dict[str, Channel]:
    """The env's channels (an invalid entry is left out: ``notify_issues`` reports it)."""
    raw = _raw(settings)
    if not isinstance(raw, dict):
        return {}
    out = {}
    for name, spec in raw.items():
        if _spec_problems(name, spec):
            continue
        url_file = spec.get("url_file")
        events = spec.get("events")
        out[str(name)] = Channel(
            name=str(name),
            url=spec.get("url"),
            url_file=(base / url_file) if url_file else None,
            events=frozenset(events) if events is not None else None,
            templates=dict(spec.get("templates") or {}),
        )
    return out


def _spec_problems(name: Any, spec: Any) -> list[tuple[str, str]]:
    """(problem, fix) for one channel entry."""
    if not isinstance(name, str) or not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", name):
        return [(f"channel name {name!r}", "use lowercase letters, digits, '-' or '_'")]
    if not isinstance(spec, dict):
        return [(f"channel {name!r} is not a mapping", "write {url: APPRISE-URL, events: [...]}")]
    out = []
    unknown = sorted(set(spec) - _KEYS)
    if unknown:
        out.append((f"channel {name!r}: unknown key {unknown[0]!r}", f"allowed keys: {', '.join(sorted(_KEYS))}"))
    has_url, has_file = isinstance(spec.get("url"), str) and bool(spec.get("url")), "url_file" in spec
    if has_url == has_file:
        out.append((f"channel {name!r} needs exactly one of url and url_file", "url: slack://... or url_file: PATH"))
    elif has_file and not isinstance(spec["url_file"], str):
        out.append((f"channel {name!r}: url_file must be a path", "url_file: /etc/golive/ops-url"))
    elif has_url and "://" not in spec["url"]:
        out.append((f"channel {name!r}: url {spec['url']!r} is no Apprise URL", "e.g. json://host:port/path"))
    events = spec.get("events")
    if events is not None:
        if not isinstance(events, list) or not all(isinstance(e, str) for e in events):
            out.append((f"channel {name!r}: events must be a list of names", f"from: {', '.join(EVENTS)}"))
        else:
            for e in events:
                if e not in EVENTS:
                    out.append((f"channel {name!r}: unknown event {e!r}", f"known events: {', '.join(EVENTS)}"))
    templates = spec.get("templates")
    if templates is not None:
        if not isinstance(templates, dict):
            out.append((f"channel {name!r}: templates must map event names to text", "templates: {run_started: ...}"))
        else:
            for e, text in templates.items():
                if e not in EVENTS:
                    out.append((f"channel {name!r}: template for unknown event {e!r}", f"known: {', '.join(EVENTS)}"))
                    continue
                try:
                    jinja2.Environment(autoescape=False).parse(str(text))
                except jinja2.TemplateSyntaxError as exc:
                    out.append((f"channel {name!r}: template for {e}: {exc.message}", "fix the Jinja2 syntax"))
    return out


def notify_issues(settings: dict[str, Any], *, file: str, line: int | None, base: Path) -> list[Issue]:
    """Everything wrong with ``golive_notify``, at its file and line (a URL that cannot be made now: a warning)."""
    raw = _raw(settings)
    if raw is None:
        return []
    if not isinstance(raw, dict):
        return [Issue(file, line, "golive_notify must map channel names to {url, events}", "see docs/notifications.md")]
    out = []
    for name, spec in raw.items():
        out += [Issue(file, line, problem, fix) for problem, fix in _spec_problems(name, spec)]
    for channel in channels_of(settings, base=base).values():
        try:
            channel.resolve()
        except ChannelError as exc:
            # A warning: the run goes on and the channel's messages fail at once (journaled), as
            # `golive notify test` shows; a plan or a lab without its inbox is no reason to stop.
            out.append(
                Issue(
                    file,
                    line,
                    f"{exc}: its messages will not be sent",
                    "set it before golive starts, and try it with `golive notify test ENV CHANNEL`",
                    severity="warning",
                )
            )
    return out
