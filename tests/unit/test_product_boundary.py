"""golive stands without its lab: no module of it imports golive_lab; the lab plugs in by entry point."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300)


def test_importing_every_golive_module_loads_no_lab_module() -> None:
    """Each module under golive imports without golive_lab being loaded."""
    result = _run(
        """
        import importlib, pkgutil, sys
        import golive
        names = [m.name for m in pkgutil.walk_packages(golive.__path__, "golive.")]
        for name in names:
            importlib.import_module(name)
        lab = sorted(m for m in sys.modules if m == "golive_lab" or m.startswith("golive_lab."))
        print(len(names), lab)
        """
    )
    assert result.returncode == 0, result.stderr
    count, lab = result.stdout.split(" ", 1)
    assert int(count) > 20
    assert lab.strip() == "[]"


def test_the_lab_is_mounted_only_when_named_or_for_help() -> None:
    """golive's own commands start without the lab; `golive lab ...` and `golive --help` mount it."""
    result = _run(
        """
        import sys
        from golive import cli
        for args in (["run", "x.yml"], ["--log-level", "debug", "plan", "x.yml"], ["lab", "up"], ["--help"]):
            cli._mount_plugins(cli._command_word(args))
            groups = sorted(g.name or "" for g in cli.app.registered_groups)
            print(args[-2 if args[0] == "--log-level" else 0], "golive_lab" in sys.modules, groups)
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "run False ['change', 'journal', 'notify']",
        "plan False ['change', 'journal', 'notify']",
        "lab True ['change', 'journal', 'lab', 'notify']",
        "--help True ['change', 'journal', 'lab', 'notify']",
    ]


def test_command_word_skips_root_options() -> None:
    """The command is found past --log-json and --log-level VALUE; help is help wherever the root sees it."""
    from golive.cli import _command_word

    assert _command_word(["--log-json", "--log-level", "info", "lab", "up"]) == "lab"
    assert _command_word(["--log-level=debug", "run", "x.yml"]) == "run"
    assert _command_word(["-h"]) == "--help"
    assert _command_word([]) is None
