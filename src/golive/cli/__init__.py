"""The ``golive`` command. Commands parse, call into the package and render; no logic here.

Heavy imports (Prefect, Ansible, the Kubernetes client) happen inside commands so
that ``golive validate`` and ``golive plan`` start fast.
"""

from __future__ import annotations

import gc
import os
import sys

# Imported in the order their commands are listed in --help.
from golive.cli import plan_cmds  # noqa: F401  isort: skip
from golive.cli import run_cmds  # noqa: F401  isort: skip
from golive.cli import journal_cmds  # noqa: F401  isort: skip
from golive.cli import change_cmds  # noqa: F401  isort: skip
from golive.cli import lock_cmds  # noqa: F401  isort: skip
from golive.cli import report_cmds  # noqa: F401  isort: skip
from golive.cli import notify_cmds  # noqa: F401  isort: skip
from golive.cli import schedule_cmds  # noqa: F401  isort: skip
from golive.cli import rehearse_cmds  # noqa: F401  isort: skip
from golive.cli.app import EXIT_BAD_INPUT, app, err
from golive.errors import JournalCorrupt, JournalUnwritable
from golive.exits import ExitCode

__all__ = ["app", "main"]


PLUGIN_GROUP = "golive.cli"
_ROOT_FLAGS, _ROOT_VALUED = {"--log-json"}, {"--log-level"}


def _command_word(args: list[str]) -> str | None:
    """The command the arguments name (past the root options), "--help" when help is asked, else None."""
    it = iter(args)
    for arg in it:
        if arg in ("--help", "-h"):
            return "--help"
        if arg in _ROOT_VALUED:
            next(it, None)
        elif arg not in _ROOT_FLAGS and not arg.startswith("--log-level="):
            return arg
    return None


def _mount_plugins(word: str | None) -> None:
    """Mount the typer apps other distributions register under entry-point group ``golive.cli``.

    Only when the command is not one of golive's own, or help is asked: a plugin may be slow to
    import (the lab takes ~0.5 s) and ``golive run`` should not pay for it.
    """
    own = {c.name or (c.callback.__name__ if c.callback else "") for c in app.registered_commands}
    own |= {g.name or "" for g in app.registered_groups}
    if word in own:
        return
    from importlib.metadata import entry_points

    for ep in entry_points(group=PLUGIN_GROUP):
        if word not in (None, "--help", ep.name) or ep.name in own:
            continue
        try:
            plugin = ep.load()
        except Exception as exc:  # a broken plugin must not take golive's own commands down
            err.print(f"plugin {ep.name} ({ep.value}) failed to load: {exc}", style="yellow", markup=False)
            continue
        app.add_typer(plugin, name=ep.name)


def main() -> None:
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # golive prints every step's outcome itself; Prefect's per-task lines and tracebacks only repeat it.
    os.environ.setdefault("PREFECT_LOGGING_LOGGERS_PREFECT_TASK_RUNS_LEVEL", "CRITICAL")
    _mount_plugins(_command_word(sys.argv[1:]))
    try:
        app()
    except JournalCorrupt as exc:  # a journal golive did not write as it is: say where, change nothing
        err.print(
            f"journal damaged: {exc}. golive acts only on a journal as it wrote it; `golive status` shows where",
            style="bold red",
            markup=False,
        )
        sys.exit(EXIT_BAD_INPUT)
    except JournalUnwritable as exc:  # every action is journaled first: one that cannot be is not taken
        err.print(
            f"cannot write the run's journal or files: {exc}. golive stopped before any further change; "
            "the journal says where. Free the space (or fix the disk), then `golive resume` the run "
            "(or `golive abort` it)",
            style="bold red",
            markup=False,
        )
        sys.exit(ExitCode.INTERRUPTED)
    finally:
        # Exit stays orderly (atexit, Prefect's event flush, open files), but the collector no
        # longer walks every object of the imported modules on the way out: ~0.4 s with Prefect.
        gc.freeze()


if __name__ == "__main__":
    main()
