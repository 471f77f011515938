"""First process of one lab host, run inside the host's own mount, UTS and PID namespaces.

It gives the host its name and its own /opt and /srv, starts sshd, starts the demo
service a previous deploy left configured (as a service manager would at boot), and
reaps every orphan, because as PID 1 of the namespace it inherits them. SIGTERM ends
everything in the host. SIGUSR2 stops sshd alone and SIGUSR1 starts it again, which is
how the lab's ``sshd-stop`` fault and ``host-up`` work; SIGHUP starts the demo service
if it is not running.

It uses ``os`` process calls rather than ``subprocess`` and no argparse: it runs once
per host, and its start-up time adds up over 30 hosts on two cores.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import time

HANDLED = {signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGUSR1, signal.SIGUSR2, signal.SIGHUP}
BOOT_NICE = 19
BOOT_NICE_SECONDS = 5.0


def _spawn(argv: list[str], *, out: str, new_session: bool = False, nice: int = 0) -> int:
    pid = os.fork()
    if pid:
        return pid
    try:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, HANDLED)
        for sig in HANDLED:
            signal.signal(sig, signal.SIG_DFL)
        if new_session:
            os.setsid()
        if nice:
            os.nice(nice)
            _autogroup_nice("self", nice)
        null = os.open(os.devnull, os.O_RDONLY)
        log = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.closerange(3, 1024)
        os.execv(argv[0], argv)
    finally:
        os._exit(127)


def _autogroup_nice(pid: str, nice: int) -> None:
    # With autogroup scheduling, each session competes as a whole, so a process nice
    # value alone would not stop a new session from taking its full share.
    with contextlib.suppress(OSError), open(f"/proc/{pid}/autogroup", "w") as group:
        group.write(str(nice))


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


class Host:
    def __init__(self, opts: dict[str, str]) -> None:
        self.name = opts["name"]
        self.ip = opts["ip"]
        self.hostdir = opts["hostdir"]
        self.sshd_config = opts["sshd-config"]
        self.python = opts.get("python", sys.executable)
        self.app_port = opts.get("app-port", "8080")
        self.log_path = os.path.join(self.hostdir, "host.log")
        self.sshd: int | None = None
        self.app: int | None = None
        self.renice: tuple[int, float] | None = None

    def note(self, text: str) -> None:
        with open(self.log_path, "a") as log:
            log.write(f"{time.strftime('%H:%M:%S')} {text}\n")

    def setup(self) -> None:
        socket.sethostname(self.name)
        for sub in ("opt", "srv"):
            pid = _spawn(["/bin/mount", "--bind", os.path.join(self.hostdir, sub), f"/{sub}"], out=self.log_path)
            _, status = os.waitpid(pid, 0)
            if status != 0:
                raise SystemExit(f"bind mount of /{sub} failed")

    def start_sshd(self) -> None:
        if _alive(self.sshd):
            return
        self.sshd = _spawn(["/usr/sbin/sshd", "-D", "-e", "-f", self.sshd_config], out=self.log_path)
        self.note(f"sshd started pid={self.sshd}")

    def stop_sshd(self) -> None:
        if _alive(self.sshd) and self.sshd:
            os.kill(self.sshd, signal.SIGTERM)
            self.note("sshd stopped")

    def app_running(self) -> bool:
        try:
            with open("/srv/demo/app.pid") as f:
                return _alive(int(f.read().split()[0]))
        except (OSError, ValueError, IndexError):
            return False

    def start_app(self, *, boot: bool = False) -> None:
        try:
            with open("/srv/demo/current") as f:
                version = f.read().strip()
        except OSError:
            return
        app = f"/opt/demo/releases/{version}/app.py"
        if not version or not os.path.exists(app) or self.app_running():
            return
        argv = [
            self.python,
            app,
            "--bind",
            self.ip,
            "--port",
            self.app_port,
            "--version",
            version,
            "--name",
            self.name,
            "--pidfile",
            "/srv/demo/app.pid",
        ]
        # At boot every host starts at once; sshd should get the CPU before the services import.
        nice = BOOT_NICE if boot else 0
        self.app = _spawn(argv, out="/srv/demo/app.log", new_session=True, nice=nice)
        if nice:
            self.renice = (self.app, time.monotonic() + BOOT_NICE_SECONDS)
        self.note(f"app {version} started pid={self.app}")

    def reap(self) -> None:
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return

    def shutdown(self) -> None:
        self.note("shutdown")
        # In a PID namespace, kill(-1) reaches every process of this host and nothing else.
        with contextlib.suppress(ProcessLookupError):
            os.kill(-1, signal.SIGTERM)
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                time.sleep(0.02)
        with contextlib.suppress(ProcessLookupError):
            os.kill(-1, signal.SIGKILL)

    def _renice_due(self) -> float:
        if self.renice is None:
            return 5.0
        pid, when = self.renice
        left = when - time.monotonic()
        if left > 0:
            return left
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.setpriority(os.PRIO_PROCESS, pid, 0)
        _autogroup_nice(str(pid), 0)
        self.renice = None
        return 5.0

    def run(self) -> int:
        signal.pthread_sigmask(signal.SIG_BLOCK, HANDLED)
        # Handlers are installed too: PID 1 of a namespace drops signals left at default.
        for sig in HANDLED:
            signal.signal(sig, lambda *_: None)
        self.setup()
        self.start_sshd()
        self.start_app(boot=True)
        while True:
            info = signal.sigtimedwait(HANDLED, self._renice_due())
            self.reap()
            if info is None:
                continue
            if info.si_signo in (signal.SIGTERM, signal.SIGINT):
                self.shutdown()
                return 0
            if info.si_signo == signal.SIGUSR1:
                self.start_sshd()
            elif info.si_signo == signal.SIGUSR2:
                self.stop_sshd()
            elif info.si_signo == signal.SIGHUP:
                self.start_app()


def parse(argv: list[str]) -> dict[str, str]:
    """``--key value`` pairs; the lab is the only caller."""
    if len(argv) % 2 or not all(a.startswith("--") for a in argv[::2]):
        raise SystemExit(
            "usage: hostinit.py --name N --ip IP --hostdir D --sshd-config F [--python P] [--app-port PORT]"
        )
    opts = {k[2:]: v for k, v in zip(argv[::2], argv[1::2], strict=True)}
    missing = {"name", "ip", "hostdir", "sshd-config"} - set(opts)
    if missing:
        raise SystemExit(f"missing: {', '.join(sorted(missing))}")
    return opts


def main(argv: list[str] | None = None) -> int:
    return Host(parse(sys.argv[1:] if argv is None else argv)).run()


if __name__ == "__main__":
    sys.exit(main())
