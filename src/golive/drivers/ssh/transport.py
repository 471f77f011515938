"""SSH connections with paramiko: key auth, verified host keys, and retries of connecting only.

Only connecting is retried, and only for faults that say "nobody answered yet" (refused,
reset, no banner, connect timeout).  Host keys come from the inventory's known_hosts and an
unknown or changed key is refused.
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Callable

import paramiko
import structlog
from paramiko.ssh_exception import NoValidConnectionsError
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential,
)

from golive.errors import PermanentError, TransientError
from golive.inventory import Connection

__all__ = ["CONNECT_TIMEOUT", "HostKeyError", "connect", "describe", "is_transient_connect_error"]

log = structlog.get_logger(__name__)

CONNECT_TIMEOUT = 10.0
# Tests replace this so retries never sleep for real.
sleep: Callable[[float], None] = time.sleep


class HostKeyError(PermanentError):
    """The host's key is unknown or differs from known_hosts: never connect, never retry."""


def is_transient_connect_error(exc: BaseException) -> bool:
    """Whether a failed connect may succeed when tried again."""
    if isinstance(exc, paramiko.BadHostKeyException | paramiko.AuthenticationException | HostKeyError):
        return False
    if isinstance(exc, NoValidConnectionsError):
        return True  # paramiko's wrapper for refused / host unreachable on every address
    if isinstance(exc, ConnectionRefusedError | ConnectionResetError | TimeoutError):
        return True
    if isinstance(exc, paramiko.SSHException):
        text = str(exc)
        return "Error reading SSH protocol banner" in text or "Connection reset" in text
    return isinstance(exc, EOFError)


def describe(exc: BaseException) -> str:
    if isinstance(exc, NoValidConnectionsError):
        return (
            "connection refused"
            if all(
                isinstance(e, ConnectionRefusedError) or getattr(e, "errno", None) == 111 for e in exc.errors.values()
            )
            else f"cannot connect: {exc}"
        )
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ConnectionResetError):
        return "connection reset"
    if isinstance(exc, TimeoutError):
        return "connect timed out"
    return str(exc) or type(exc).__name__


def _fingerprint(key: paramiko.PKey) -> str:
    """The SHA256 fingerprint as ``ssh-keygen -l`` prints it."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(key.asbytes()).digest()).decode().rstrip("=")


def _log_retry(state: RetryCallState) -> None:
    exc = state.outcome.exception() if state.outcome else None
    log.warning(
        "ssh_connect_retry",
        host=state.args[0].name if state.args else None,
        attempt=state.attempt_number,
        error=describe(exc) if exc else None,
        wait=round(state.upcoming_sleep, 3),
    )


def _open(conn: Connection, timeout: float) -> paramiko.SSHClient:
    client = paramiko.SSHClient()
    try:
        if conn.known_hosts:
            client.load_host_keys(conn.known_hosts)
        else:
            client.load_system_host_keys()
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        client.connect(
            conn.address,
            port=conn.port,
            username=conn.user,
            key_filename=conn.key_file,
            look_for_keys=False,
            allow_agent=False,
            timeout=timeout,
            banner_timeout=timeout,
            auth_timeout=timeout,
            channel_timeout=timeout,
        )
    except paramiko.BadHostKeyException as exc:
        client.close()
        raise HostKeyError(
            f"host key for {conn.name} ({conn.address}:{conn.port}) does not match known_hosts "
            f"{conn.known_hosts or '~/.ssh/known_hosts'}: got {exc.key.get_name()} {_fingerprint(exc.key)}, "
            f"expected {_fingerprint(exc.expected_key)}; "
            "refusing to connect (if the host was rebuilt, replace its known_hosts line)",
            host=conn.name,
        ) from None
    except paramiko.SSHException as exc:
        client.close()
        if "not found in known_hosts" in str(exc):
            raise HostKeyError(
                f"host key for {conn.name} ({conn.address}:{conn.port}) is not in known_hosts "
                f"{conn.known_hosts or '~/.ssh/known_hosts'}; refusing to connect to an unknown host",
                host=conn.name,
            ) from None
        raise
    except BaseException:
        client.close()
        raise
    return client


def connect(
    conn: Connection,
    *,
    timeout: float = CONNECT_TIMEOUT,
    attempts: int = 3,
    max_delay: float | None = None,
    sleep_fn: Callable[[float], None] | None = None,
) -> paramiko.SSHClient:
    """An authenticated client for ``conn``; transient connect faults are retried with backoff.

    Raises HostKeyError for an unknown or changed host key, TransientError when the host never
    answered within the attempts, PermanentError for anything else (bad key, auth refused).
    """
    budget = max_delay if max_delay is not None else attempts * (timeout + 2.0)
    retrying = Retrying(
        retry=retry_if_exception(is_transient_connect_error),
        stop=stop_after_attempt(max(1, attempts)) | stop_after_delay(budget),
        wait=wait_exponential(multiplier=0.25, min=0.25, max=4.0),
        sleep=sleep_fn or (lambda seconds: sleep(seconds)),
        before_sleep=_log_retry,
        reraise=True,
    )
    try:
        return retrying(_open, conn, timeout)
    except HostKeyError:
        raise
    except paramiko.AuthenticationException as exc:
        raise PermanentError(
            f"{conn.user}@{conn.name}: authentication failed ({exc}); check key {conn.key_file}", host=conn.name
        ) from None
    except Exception as exc:
        if is_transient_connect_error(exc):
            raise TransientError(f"{conn.name} ({conn.address}:{conn.port}): {describe(exc)}", host=conn.name) from None
        raise PermanentError(f"{conn.name} ({conn.address}:{conn.port}): {describe(exc)}", host=conn.name) from None
