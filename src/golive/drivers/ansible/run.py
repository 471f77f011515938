"""Run one Ansible playbook on a set of hosts through ansible-runner; report a result per host.

The driver applies; it never decides to undo.  Failures on some hosts come back as per-host
results so the engine can count them against a batch's ``max_fail``.  Exceptions are kept for
what no host result can express: a playbook that cannot run at all (``PermanentError``), or a
run where no host could even be connected to and a retry may help (``TransientError``).
"""

from __future__ import annotations

import configparser
import hashlib
import math
import os
import re
import shlex
import shutil
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import structlog

from golive.drivers.ansible.events import Collector, EventHandler
from golive.drivers.base import ActionResult
from golive.errors import PermanentError, TransientError

__all__ = ["ansible_environment", "control_dir", "finish", "new_ident", "run_playbook", "runner_args"]

log = structlog.get_logger(__name__)

# ssh appends a 17-character random suffix to the socket name while it creates it, and Ansible's
# own name is a 10-character hash; a Unix socket path has at most 107 usable bytes.
MAX_CONTROL_DIR = 78
# A host that stops answering mid-task (a partition: packets vanish, nothing is refused) would hold
# its SSH session, and the batch, for ever; keepalives end it as unreachable after about 15 s.
SSH_KEEPALIVE = "-o ServerAliveInterval=5 -o ServerAliveCountMax=3"
# How often ansible-runner polls the cancel callback (its default is 5 s).
CANCEL_POLL_S = 0.5
# What ansible-runner starts as ``ansible-playbook`` (first on the PATH it is given): it asks
# the kernel to send the play SIGTERM when golive dies (Ansible then stops its workers and
# their tasks), then becomes the real ``ansible-playbook``. Without it a play outlived a
# SIGKILLed golive, to the end of its task or until its gate noticed.
PARENT_PID_VAR = "GOLIVE_PARENT_PID"
_WITH_PARENT = """\
import ctypes, os, signal, sys
ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
if str(os.getppid()) != os.environ.get("{var}", str(os.getppid())):
    sys.exit(143)  # golive died before the line above
os.execv(sys.argv[1], sys.argv[1:])
"""
# Unreachable messages that mean "nobody answered yet", not "answered and refused us".
_TRANSIENT_UNREACHABLE = re.compile(
    r"connection refused|connection reset|kex_exchange_identification|connection closed by remote host",
    re.IGNORECASE,
)


def run_playbook(
    *,
    playbook: Path,
    inventory: Path,
    hosts: list[str],
    extravars: dict[str, Any],
    forks: int = 10,
    tags: list[str] | None = None,
    check: bool = False,
    timeout: float | None = None,
    on_event: EventHandler | None = None,
    cancel: threading.Event | None = None,
    work_dir: Path,
) -> ActionResult:
    """Run ``playbook`` limited to ``hosts``; every host in ``hosts`` gets a result.

    ``check`` runs Ansible's ``--check --diff``.  ``timeout`` ends the run (hosts without a final
    result then fail with "no result").  Setting ``cancel`` stops a run within about half a second.
    """
    playbook = Path(playbook).resolve()
    if not playbook.is_file():
        raise PermanentError(f"playbook {playbook} not found")
    if not hosts:
        # An empty --limit would mean every host in the inventory.
        return ActionResult(detail={"status": "skipped", "reason": "no hosts"})
    ident = new_ident()
    collector = Collector(on_event=on_event, cancel=cancel)
    log.info("ansible_run_started", playbook=str(playbook), hosts=len(hosts), check=check, forks=forks, ident=ident)
    started = time.monotonic()
    import ansible_runner  # slow to import; only runs need it

    runner = ansible_runner.run(
        **runner_args(
            playbook=playbook,
            inventory=inventory,
            hosts=hosts,
            extravars=extravars,
            forks=forks,
            tags=tags,
            work_dir=work_dir,
            ident=ident,
            collector=collector,
        ),
        cmdline="--check --diff" if check else None,
        timeout=max(1, math.ceil(timeout)) if timeout else None,
    )
    return finish(
        runner=runner,
        collector=collector,
        playbook=playbook,
        hosts=hosts,
        timeout=timeout,
        detail={"ident": ident, "check": check, "duration": round(time.monotonic() - started, 3)},
    )


def new_ident() -> str:
    """A name for one ansible-runner run (its artifacts dir): sortable by time, unique."""
    return f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"


def runner_args(
    *,
    playbook: Path,
    inventory: Path,
    hosts: list[str],
    extravars: dict[str, Any],
    forks: int,
    tags: list[str] | None,
    work_dir: Path,
    ident: str,
    collector: Collector,
    extra_env: dict[str, str] | None = None,
) -> dict[str, Any]:
    work_dir = Path(work_dir).resolve()
    private = work_dir / "ansible"
    private.mkdir(parents=True, exist_ok=True, mode=0o700)
    env = ansible_environment(work_dir=work_dir, playbook=playbook)
    return {
        "private_data_dir": str(private),
        "ident": ident,
        "playbook": str(playbook),
        "inventory": str(Path(inventory).resolve()),
        "limit": ",".join(hosts),
        "extravars": dict(extravars),
        "forks": forks,
        **({"tags": ",".join(tags)} if tags else {}),
        "envvars": {**env, **_ending_with_golive(private, env), **(extra_env or {})},
        "quiet": True,
        # Keep env/extravars out of files shared between runs in the same directory.
        "suppress_env_files": True,
        "settings": {"pexpect_timeout": CANCEL_POLL_S, "suppress_ansible_output": True},
        "event_handler": collector.handle,
        # Always give a callback: without one ansible-runner installs SIGINT/SIGTERM handlers.
        "cancel_callback": collector.should_cancel,
    }


def _ending_with_golive(private: Path, env: dict[str, str]) -> dict[str, str]:
    """PATH and the variable that make ``ansible-playbook`` end when this process dies (Linux)."""
    path = env.get("PATH", os.environ.get("PATH", ""))
    real = shutil.which("ansible-playbook", path=path)
    if real is None:
        raise PermanentError(
            "ansible-playbook is not on PATH: install ansible-core into golive's Python environment "
            "(pip install ansible-core) or put its bin directory on PATH"
        )
    if not sys.platform.startswith("linux"):
        return {}
    bindir = private / "bin"
    bindir.mkdir(exist_ok=True, mode=0o700)
    wrapper = bindir / "ansible-playbook"
    text = (
        f"#!/bin/sh\nexec {shlex.quote(sys.executable)} -I -S -c {shlex.quote(_WITH_PARENT.format(var=PARENT_PID_VAR))}"
        f' {shlex.quote(real)} "$@"\n'
    )
    if not wrapper.is_file() or wrapper.read_text() != text:
        partial = bindir / f".ansible-playbook.{os.getpid()}.{threading.get_ident()}"
        partial.write_text(text)
        partial.chmod(0o700)
        os.replace(partial, wrapper)
    return {"PATH": os.pathsep.join([str(bindir), path]), PARENT_PID_VAR: str(os.getpid())}


def finish(
    *,
    runner: Any,
    collector: Collector,
    playbook: Path,
    hosts: list[str],
    timeout: float | None,
    detail: dict[str, Any],
) -> ActionResult:
    """The per-host result of a finished ansible-runner run, for ``hosts``."""
    if collector.handler_error is not None:
        raise collector.handler_error
    detail = {
        "status": runner.status,
        "rc": runner.rc,
        "artifact_dir": str(Path(runner.config.artifact_dir)),
        **detail,
        "stats": collector.stats,
    }
    log.info(
        "ansible_run_finished",
        playbook=str(playbook),
        status=runner.status,
        rc=runner.rc,
        duration=detail.get("duration"),
    )
    if collector.stats is None and runner.status not in ("timeout", "canceled"):
        raise PermanentError(
            f"ansible-playbook could not run {playbook.name} (rc {runner.rc}): {collector.error_text() or 'no output'}"
        )
    result = ActionResult(results=collector.results(hosts, status=runner.status, timeout=timeout), detail=detail)
    if _all_transiently_unreachable(result, collector):
        raise TransientError(f"no host answered: {result.summary()}")
    return result


def ansible_environment(*, work_dir: Path, playbook: Path) -> dict[str, str]:
    """Ansible settings for one run; everything it writes locally stays under ``work_dir``."""
    local_tmp = work_dir / "ansible-tmp"
    control = control_dir(work_dir)
    for d in (local_tmp, control):
        d.mkdir(parents=True, exist_ok=True, mode=0o700)
    env = {
        # ansible-runner turns host key checking off unless told otherwise.
        "ANSIBLE_HOST_KEY_CHECKING": "True",
        "ANSIBLE_PIPELINING": "True",
        "ANSIBLE_SSH_CONTROL_PATH_DIR": str(control),
        "ANSIBLE_LOCAL_TEMP": str(local_tmp),
        "ANSIBLE_RETRY_FILES_ENABLED": "False",
        "ANSIBLE_NOCOLOR": "True",
    }
    config = _project_config(playbook)
    if "ANSIBLE_CONFIG" not in os.environ and config is not None:
        # ansible-runner starts Ansible in its own project dir, where the repo's ansible.cfg is not found.
        env["ANSIBLE_CONFIG"] = str(config)
    if not _sets_extra_args(Path(os.environ["ANSIBLE_CONFIG"]) if "ANSIBLE_CONFIG" in os.environ else config):
        env["ANSIBLE_SSH_EXTRA_ARGS"] = SSH_KEEPALIVE
    bindir = str(Path(sys.executable).parent)
    path = os.environ.get("PATH", "")
    if (Path(bindir) / "ansible-playbook").exists() and path.split(os.pathsep)[0] != bindir:
        env["PATH"] = os.pathsep.join([bindir, path]) if path else bindir
    return env


def _sets_extra_args(config: Path | None) -> bool:
    """Whether the operator chose ssh_extra_args (environment or ansible.cfg): theirs are left alone."""
    if "ANSIBLE_SSH_EXTRA_ARGS" in os.environ:
        return True
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        parser.read(config) if config is not None else None
    except configparser.Error:
        return False
    return any(parser.has_option(section, "ssh_extra_args") for section in parser.sections())


def control_dir(work_dir: Path) -> Path:
    preferred = work_dir / "cp"
    if len(str(preferred)) <= MAX_CONTROL_DIR:
        return preferred
    short = Path(tempfile.gettempdir()) / f"golive-cp-{hashlib.sha1(str(work_dir).encode()).hexdigest()[:12]}"
    log.warning(
        "ansiblecontrol_dir_moved",
        wanted=str(preferred),
        used=str(short),
        reason="path too long for an ssh control socket",
    )
    return short


def _project_config(playbook: Path) -> Path | None:
    """The ansible.cfg at the root of the project holding ``playbook`` (the dir with inventory/), if any."""
    for d in (playbook.parent, *playbook.parent.parents):
        if (d / "inventory").is_dir() or (d / "ansible.cfg").is_file():
            cfg = d / "ansible.cfg"
            return cfg if cfg.is_file() else None
    return None


def _all_transiently_unreachable(result: ActionResult, collector: Collector) -> bool:
    if not result.results:
        return False
    for name, host in result.results.items():
        if not host.unreachable or host.changed or name in collector.touched:
            return False
        if not _TRANSIENT_UNREACHABLE.search(host.message):
            return False
    return True
