"""Delivery: a bounded queue and one sender thread, so no message ever holds up a gate or a rollback.

The runner hands every journal entry to ``Notifier.on_entry``; the entries that are
notifications (messages.event_of) are rendered for each channel that wants them and queued.
A thread sends them through Apprise, each with bounded attempts and backoff (tenacity) and
a bounded time. Every send is journaled (``notification_sent``), every channel that could
not be reached too (``notification_failed``, the error with the channel's URL and secrets
replaced by ``***``); neither ever changes how the run ends. When the run ends its queue is
drained for a bounded time, then dropped (journaled) rather than waited for.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog
from tenacity import RetryError, Retrying, stop_after_attempt, stop_after_delay, wait_exponential

from golive.notify.channels import Channel, ChannelError
from golive.notify.messages import Message, event_of, render

__all__ = ["DeliveryFailed", "Notifier", "apprise_send", "redact"]

log = structlog.get_logger(__name__)

ATTEMPTS = 3
SEND_BUDGET_S = 30.0  # per message, all attempts
DRAIN_S = 15.0  # at the run's end, for what is still queued
QUEUE_SIZE = 200
# Apprise's socket timeouts, added to a URL that sets none: a hung receiver costs seconds, not minutes.
CONNECT_TIMEOUT_S = 4
READ_TIMEOUT_S = 6


class DeliveryFailed(Exception):
    """A channel did not take a message; the text is safe to journal (secrets already redacted)."""


def redact(text: str, secrets: list[str]) -> str:
    """``text`` with every secret (longest first) replaced by ``***``."""
    for secret in sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def _with_timeouts(url: str) -> str:
    if "cto=" in url or "rto=" in url or url.startswith(("mailto", "mailtos")):
        return url
    return f"{url}{'&' if '?' in url else '?'}cto={CONNECT_TIMEOUT_S}&rto={READ_TIMEOUT_S}"


_sending = threading.local()  # the URL (and its parts) this thread is sending to now


class _Quiet(logging.Filter):
    """On Apprise's logger: only warnings and errors, each with the URL being sent to as ``***``.

    Apprise logs the URL it posts to (``https://hooks.slack.com/services/T/B/token``) and
    socket errors naming it, at debug level; a handler on the root logger (or on Apprise's
    own, as pytest and Prefect may add) would show the token. A logger's filter sees every
    record it makes, before any handler does.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return False
        secrets = getattr(_sending, "secrets", None)
        if secrets:
            record.msg, record.args = redact(record.getMessage(), secrets), None
        return True


def _keep_apprise_quiet() -> None:
    logger = logging.getLogger("apprise")
    if not any(isinstance(f, _Quiet) for f in logger.filters):
        logger.addFilter(_Quiet())
    logger.propagate = False


def apprise_send(url: str, message: Message) -> None:
    """Send one message to one Apprise URL; raises DeliveryFailed with what Apprise said."""
    import apprise

    _keep_apprise_quiet()
    _sending.secrets = [url, *(p for p in re.split(r"[/:@?&=#]+", url) if len(p) >= 6)]
    box = apprise.Apprise()
    if not box.add(_with_timeouts(url)):
        raise DeliveryFailed("the URL is not one Apprise knows (check its scheme)")
    kind = apprise.NotifyType.FAILURE if message.loud else apprise.NotifyType.INFO
    try:
        with apprise.LogCapture(level=logging.WARNING, fmt="%(message)s") as logs:
            ok = box.notify(title=message.title, body=message.body, notify_type=kind)
            said = logs.getvalue().strip() if hasattr(logs, "getvalue") else ""
    finally:
        _sending.secrets = None
    if not ok:
        raise DeliveryFailed(said.splitlines()[-1] if said else "the service did not accept the message")


@dataclass(frozen=True)
class _Item:
    channel: Channel
    message: Message


class Notifier:
    """One run's notifications: ``on_entry`` for journal entries, ``close`` when the run ends."""

    def __init__(
        self,
        channels: dict[str, Channel],
        *,
        journal: Callable[..., Any],
        run: dict[str, Any],
        send: Callable[[str, Message], None] = apprise_send,
        attempts: int = ATTEMPTS,
        budget_s: float = SEND_BUDGET_S,
        backoff_s: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.channels = channels
        self.journal = journal  # Journal.append: thread-safe (the journal's lock), unlike the runner
        self.run = dict(run)
        self._send = send
        self._attempts = attempts
        self._budget = budget_s
        self._backoff = backoff_s
        self._sleep = sleep
        self._queue: queue.Queue[_Item | None] = queue.Queue(maxsize=QUEUE_SIZE)
        self._thread: threading.Thread | None = None
        self._closed = False

    # ------------------------------------------------------------ producing

    def on_entry(self, entry: dict[str, Any]) -> None:
        """A journal entry: queue it for every channel that wants it (never raises)."""
        try:
            event = event_of(entry)
            if event is None or self._closed:
                return
            if event == "run_started":
                self.run.update(runbook=entry.get("runbook"), env=entry.get("env"), initiator=entry.get("initiator"))
            context = {**self.run, **{k: v for k, v in entry.items() if k not in ("prev", "seq")}}
            names = entry.get("to") if event == "message" else None
            for channel in self.channels.values():
                if (names is not None and channel.name not in names) or (names is None and not channel.wants(event)):
                    continue
                message = render(event, context, override=channel.templates.get(event))
                self.put(channel, message)
        except Exception as exc:  # a notification must never change how a run goes
            log.warning("notification_not_queued", problem=str(exc))

    def put(self, channel: Channel, message: Message) -> None:
        self._start()
        try:
            self._queue.put_nowait(_Item(channel, message))
        except queue.Full:
            self._failed(channel, message.event, f"dropped: more than {QUEUE_SIZE} messages waiting", attempts=0)

    # ------------------------------------------------------------ sending

    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="golive-notify", daemon=True)
            self._thread.start()

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            self.deliver(item.channel, item.message)

    def deliver(self, channel: Channel, message: Message) -> bool:
        """Send with bounded attempts and time; journal the outcome. True when delivered."""
        secrets = channel.secrets()
        tries = 0
        try:
            url = channel.resolve()
            for attempt in Retrying(
                stop=stop_after_attempt(self._attempts) | stop_after_delay(self._budget),
                wait=wait_exponential(multiplier=self._backoff, max=8),
                sleep=self._sleep,
                reraise=False,
            ):
                with attempt:
                    tries += 1
                    self._send(url, message)
        except ChannelError as exc:
            self._failed(channel, message.event, str(exc), attempts=0)
            return False
        except RetryError as exc:
            cause = exc.last_attempt.exception()
            self._failed(channel, message.event, redact(str(cause) or type(cause).__name__, secrets), attempts=tries)
            return False
        except Exception as exc:  # whatever the sender raised, the run goes on
            self._failed(channel, message.event, redact(str(exc), secrets), attempts=tries)
            return False
        self._journal("notification_sent", channel=channel.name, notification=message.event, attempts=tries)
        return True

    def _failed(self, channel: Channel, event: str, error: str, *, attempts: int) -> None:
        log.warning("notification_failed", channel=channel.name, notification=event, error=error)
        self._journal("notification_failed", channel=channel.name, notification=event, error=error, attempts=attempts)

    def _journal(self, event: str, **fields: Any) -> None:
        try:
            self.journal(event, run_id=self.run.get("run_id"), **fields)
        except Exception as exc:  # a journal that cannot be written stops the run elsewhere; not here
            log.warning("notification_not_journaled", event=event, problem=str(exc))

    # ------------------------------------------------------------ the end

    def close(self, timeout: float = DRAIN_S) -> None:
        """Send what is queued, for at most ``timeout`` s; what is left then is journaled as dropped."""
        self._closed = True
        if self._thread is None:
            return
        with contextlib.suppress(queue.Full):
            self._queue.put(None, timeout=timeout)
        self._thread.join(timeout)
        if self._thread.is_alive():
            left = []
            while True:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is not None:
                    left.append(item)
            for item in left:
                self._failed(item.channel, item.message.event, f"dropped: not sent within {timeout:g}s", attempts=0)
