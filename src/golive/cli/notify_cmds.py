"""golive notify test: send a test message to an environment's notification channels."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from golive.cli.app import EXIT_BAD_INPUT, InvOpt, RootOpt, app, err, out, project_root

notify_app = typer.Typer(help="Notification channels of an environment (golive_notify).", no_args_is_help=True)
app.add_typer(notify_app, name="notify")


@notify_app.command("test")
def notify_test(
    env: Annotated[str, typer.Argument(help="the environment whose channels to try")],
    channel: Annotated[str | None, typer.Argument(help="one channel (default: every channel)")] = None,
    inventory: InvOpt = None,
    root: RootOpt = None,
) -> None:
    """Send a test message now, waiting for each channel's answer: exit 0 all delivered, 1 one failed."""
    from golive.envsettings import check_settings
    from golive.errors import RunbookError
    from golive.inventory import load_inventory
    from golive.notify import Notifier, env_channels, render

    try:
        inv = load_inventory(root=project_root(root), env=env, path=inventory)
    except RunbookError as exc:
        for issue in exc.issues:
            err.print(issue.render(), markup=False)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    problems = [i for i in check_settings(Path(inv.path), inv.settings) if i.severity == "error"]
    channels = env_channels(inv)
    if problems:
        for issue in problems:
            err.print(issue.render(), markup=False)
        raise typer.Exit(EXIT_BAD_INPUT)
    if not channels:
        err.print(f"env {env!r} defines no notification channel: add golive_notify to its group_vars", markup=False)
        raise typer.Exit(EXIT_BAD_INPUT)
    if channel is not None and channel not in channels:
        err.print(f"env {env!r} has no channel {channel!r}; its channels: {', '.join(channels)}", markup=False)
        raise typer.Exit(EXIT_BAD_INPUT)
    chosen = [channels[channel]] if channel else list(channels.values())
    failures: list[str] = []

    def journal(event: str, **fields: object) -> None:
        if event == "notification_failed":
            failures.append(f"{fields['channel']}: {fields['error']}")

    notifier = Notifier(channels, journal=journal, run={"env": env})
    for c in chosen:
        ok = notifier.deliver(c, render("test", {"channel": c.name, "env": env}))
        out.print(f"{c.name}: {'delivered' if ok else 'FAILED'}", markup=False)
    for line in failures:
        err.print(line, markup=False)
    raise typer.Exit(1 if failures else 0)
