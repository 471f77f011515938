"""``golive lab``: bring the lab up, look at it, break it on purpose, take it down."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console
from rich.table import Table

from golive.exits import ExitCode
from golive_lab.lab import Lab, LabError, LabStatus, MissingTool

app = typer.Typer(
    help="Run the lab: sshd hosts, Prometheus, a Kubernetes API emulator and a Prefect "
    "server on this machine's loopback.",
    no_args_is_help=True,
)
fault_app = typer.Typer(help="Inject faults into the running lab (and clear them).", no_args_is_help=True)
app.add_typer(fault_app, name="fault")

console = Console()
err = Console(stderr=True)

DirOption = Annotated[
    Path | None, typer.Option("--dir", help="Lab directory [default: $GOLIVE_LAB_DIR or .golive/lab]")
]


def _lab(lab_dir: Path | None) -> Lab:
    try:
        return Lab(lab_dir)
    except LabError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(ExitCode.BAD_INPUT) from exc


def _fail(exc: Exception) -> typer.Exit:
    err.print(f"[red]error:[/red] {exc}")
    return typer.Exit(ExitCode.FAILED)


def render_status(status: LabStatus) -> None:
    if not status.components:
        console.print(f"no lab in {status.dir}")
        return
    table = Table(title=f"lab {status.dir}")
    for column in ("component", "pid", "running", "ready", "address", "detail"):
        table.add_column(column)
    for comp in status.components:
        table.add_row(
            comp.name,
            str(comp.pid or "-"),
            "[green]yes[/green]" if comp.running else "[red]no[/red]",
            "[green]yes[/green]" if comp.ready else "[yellow]no[/yellow]",
            comp.url or "",
            comp.detail,
        )
    console.print(table)
    for fault in status.faults:
        console.print(f"[yellow]fault:[/yellow] {fault}")


def _ip_base(text: str | None) -> int | Literal["free"] | None:
    if text is None:
        return None
    if text == "free":
        return "free"
    try:
        return int(text)
    except ValueError:
        raise typer.BadParameter(f"not a number or 'free': {text!r}") from None


@app.command()
def up(
    hosts: Annotated[int | None, typer.Option("--hosts", help="Number of hosts [default: 10]")] = None,
    lab_dir: DirOption = None,
    prefect: Annotated[bool, typer.Option("--prefect/--no-prefect", help="Start a Prefect server")] = True,
    traffic: Annotated[bool, typer.Option("--traffic/--no-traffic", help="Send demo traffic")] = True,
    ip_base: Annotated[
        str | None,
        typer.Option("--ip-base", help="Hosts at 127.0.0.(BASE+i), or 'free': the first free BASE [default: 10]"),
    ] = None,
    seed: Annotated[
        bool, typer.Option("--seed/--no-seed", help="Create namespace demo with Deployment demo-api at v1")
    ] = True,
) -> None:
    """Start the lab (or whatever of it is not running) and return once every part answers."""
    lab = _lab(lab_dir)
    try:
        with console.status("starting the lab"):
            state = lab.up(hosts=hosts, prefect=prefect, traffic=traffic, ip_base=_ip_base(ip_base))
            if seed and state.kube.url and state.kube.kubeconfig:
                from golive_lab.kube_seed import seed_demo_api

                seed_demo_api(Path(state.kube.kubeconfig))
    except MissingTool as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(ExitCode.BAD_INPUT) from exc
    except (LabError, OSError) as exc:
        raise _fail(exc) from exc
    render_status(lab.status())
    console.print(f"environment: [bold]set -a; . {lab.dir / 'env'}; set +a[/bold]")
    if state.settings_file:
        console.print(f"golive reads this lab's settings from {state.settings_file}")
    else:
        console.print(f"for golive: [bold]export GOLIVE_ENV_FILE={lab.dir / 'env'}[/bold]")


@app.command()
def status(lab_dir: DirOption = None) -> None:
    """Show each part of the lab, its PID and whether it answers."""
    lab = _lab(lab_dir)
    result = lab.status()
    render_status(result)
    if not result.up:
        raise typer.Exit(ExitCode.FAILED)


@app.command()
def down(lab_dir: DirOption = None) -> None:
    """Stop every process the lab started (by recorded PID)."""
    lab = _lab(lab_dir)
    left = lab.down()
    if left:
        err.print(f"[red]still running:[/red] {left}")
        raise typer.Exit(ExitCode.FAILED)
    console.print("lab stopped")


@app.command("inbox")
def inbox_cmd(
    lab_dir: DirOption = None,
    last: Annotated[int, typer.Option("--last", "-n", help="show the last N messages")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="the messages as received, one JSON per line")] = False,
) -> None:
    """The notifications golive sent to the lab's channel lab-inbox, newest last."""
    from golive_lab import inbox

    lab = _lab(lab_dir)
    got = inbox.messages(lab.dir)[-last:] if last > 0 else []
    if not got:
        console.print(f"no notification received yet ({inbox.messages_file(lab.dir)})")
        return
    for m in got:
        body = m.get("body")
        if as_json:
            console.print_json(data=m)
        elif isinstance(body, dict):
            console.print(f"[dim]{m['ts'][:19]}[/dim] [bold]{body.get('title', '')}[/bold]", highlight=False)
            console.print(f"    {str(body.get('message', '')).replace(chr(10), chr(10) + '    ')}", markup=False)
        else:
            console.print(f"{m['ts'][:19]} {body}", markup=False)


def _duration(text: str) -> float:
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m)?\s*", text)
    if not match:
        raise typer.BadParameter(f"not a duration: {text!r} (try 2s, 500ms)")
    value, unit = float(match.group(1)), match.group(2) or "s"
    return value * {"ms": 0.001, "s": 1.0, "m": 60.0}[unit]


def _run_fault(lab_dir: Path | None, action: str, **kwargs: object) -> None:
    lab = _lab(lab_dir)
    try:
        getattr(lab, action)(**kwargs)
    except (LabError, OSError) as exc:
        raise _fail(exc) from exc
    console.print(f"{action.replace('_', '-')} done")


@fault_app.command("host-down")
def host_down(host: str, lab_dir: DirOption = None) -> None:
    """Stop the whole host: its sshd and every service in it."""
    _run_fault(lab_dir, "host_down", name=host)


@fault_app.command("host-up")
def host_up(host: str, lab_dir: DirOption = None) -> None:
    """Bring a host (or only its sshd) back."""
    _run_fault(lab_dir, "host_up", name=host)


@fault_app.command("sshd-stop")
def sshd_stop(host: str, lab_dir: DirOption = None) -> None:
    """Stop the host's sshd only; its services keep running."""
    _run_fault(lab_dir, "sshd_stop", name=host)


@fault_app.command("partition")
def partition(host: str, lab_dir: DirOption = None) -> None:
    """Cut the host off: its processes stop (SIGSTOP), so connections hang instead of being refused."""
    _run_fault(lab_dir, "partition", name=host)


@fault_app.command("heal")
def heal(host: str, lab_dir: DirOption = None) -> None:
    """End a partition: the host's processes go on."""
    _run_fault(lab_dir, "heal", name=host)


@fault_app.command("service-down")
def service_down(service: str, lab_dir: DirOption = None) -> None:
    """Stop prometheus or prefect (the server); `golive lab up` starts it again."""
    _run_fault(lab_dir, "service_down", name=service)


@fault_app.command("app-crash")
def app_crash(host: str, lab_dir: DirOption = None) -> None:
    """Kill the host's demo service (SIGKILL)."""
    _run_fault(lab_dir, "app_crash", name=host)


@fault_app.command("api-errors")
def api_errors(
    code: Annotated[int, typer.Option(help="HTTP status to answer with")] = 503,
    count: Annotated[int, typer.Option(help="How many requests fail")] = 5,
    retry_after: Annotated[float, typer.Option(help="Retry-After seconds for 429/503")] = 1.0,
    lab_dir: DirOption = None,
) -> None:
    """Make the Kubernetes API fail the next COUNT requests with CODE."""
    _run_fault(lab_dir, "api_errors", code=code, count=count, retry_after=retry_after)


@fault_app.command("api-latency")
def api_latency(delay: Annotated[str, typer.Argument(help="e.g. 2s or 500ms")], lab_dir: DirOption = None) -> None:
    """Delay every Kubernetes API answer."""
    _run_fault(lab_dir, "api_latency", seconds=_duration(delay))


@fault_app.command("api-conflicts")
def api_conflicts(
    count: Annotated[int, typer.Option(help="How many writes fail with 409")] = 1, lab_dir: DirOption = None
) -> None:
    """Make the next COUNT writes to the Kubernetes API fail with 409 Conflict."""
    _run_fault(lab_dir, "api_conflicts", count=count)


@fault_app.command("clear")
def clear(lab_dir: DirOption = None) -> None:
    """Undo every fault."""
    _run_fault(lab_dir, "clear")


if __name__ == "__main__":
    app()
