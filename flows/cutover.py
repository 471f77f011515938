"""Prefect entrypoint for unattended runs: deployments and schedules.

    prefect deploy flows/cutover.py:cutover        # with a work pool, or
    python flows/cutover.py runbooks/k8s-canary.yml --env lab --cron "0 2 * * 6" -p version=v2

The second form serves a scheduled deployment from this process (it needs a Prefect
server: PREFECT_API_URL). Approval steps still wait for people: they answer with
`golive approve RUN --as NAME` or in the Prefect UI. Thin on purpose: the engine lives
in the golive package.
"""

from __future__ import annotations

import argparse
import sys

from golive.engine.deployment import cutover

__all__ = ["cutover", "main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve a scheduled golive cutover as a Prefect deployment")
    parser.add_argument("runbook")
    parser.add_argument("--env", "-e", required=True)
    parser.add_argument("--cron", help="cron schedule in UTC, e.g. '0 18 * * 5' (Friday 18:00 UTC)")
    parser.add_argument("--interval", type=float, help="seconds between runs, instead of --cron")
    parser.add_argument("--param", "-p", action="append", default=[], help="key=value (repeatable)")
    parser.add_argument("--name", help="deployment name (default: <runbook>-<env>)")
    args = parser.parse_args(argv)
    params = {}
    for item in args.param:
        key, sep, value = item.partition("=")
        if not sep:
            parser.error(f"malformed param {item!r}: write -p key=value")
        params[key] = value
    if not args.cron and not args.interval:
        parser.error("give --cron or --interval")
    name = args.name or f"{args.runbook.rsplit('/', 1)[-1].removesuffix('.yml')}-{args.env}"
    schedule: dict[str, object] = {"cron": args.cron} if args.cron else {"interval": args.interval}
    cutover.serve(
        name=name,
        parameters={"runbook": args.runbook, "env": args.env, "params": params, "initiator": f"schedule:{name}"},
        **schedule,  # type: ignore[arg-type]
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
