"""`coordssh plan` and `coordssh approve` (services/plan.py, services/approve.py)."""

from __future__ import annotations

import os
from typing import List, Optional

import typer

from coordssh.cli.fastpath import CONFIG_HELP


def register(app: typer.Typer) -> None:
    app.command("plan")(plan)
    app.command("approve")(approve)


def plan(
    repo: Optional[List[str]] = typer.Option(None, "--repo", help="Only this repo (repeatable)."),
    json_output: bool = typer.Option(False, "--json", help="Print {proposals, skipped, ...}."),
    brain: bool = typer.Option(False, "--brain",
                               help="Ask claude for briefings and splits (its cost is shown); "
                                    "the plan stands whatever it answers."),
    config: Optional[str] = typer.Option(None, "--config", help=CONFIG_HELP),
) -> None:
    """Propose one open issue per free slot (machine, model, likely files), each skip with its
    reason; saved for `coordssh approve`."""
    import asyncio

    from coordssh.cli.context import build_context
    from coordssh.cli.render.plan import print_plan
    from coordssh.services.plan import make_plan
    from coordssh.services.plan_source import GhIssueSource

    ctx = build_context(config)
    source = GhIssueSource(gh=os.environ.get("COORDSSH_GH", "gh"))
    result = asyncio.run(make_plan(ctx, source, repos=repo or None))
    if brain:
        from coordssh.services.plan_brain import add_brain

        result = asyncio.run(add_brain(ctx, result))
    print_plan(result, json_output=json_output)


def approve(
    ids: List[str] = typer.Argument(..., metavar="IDS|all",
                                    help="Proposal ids of the saved plan (1 2, 1,3 or REPO#N), "
                                         "or all."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Check and show; dispatch nothing."),
    json_output: bool = typer.Option(False, "--json", help="Print a JSON object."),
    config: Optional[str] = typer.Option(None, "--config", help=CONFIG_HELP),
) -> None:
    """Dispatch the chosen proposals of the saved plan, re-checking each (claims, capacity,
    conflicts) first; the others stay for later. Exit 1 if any was refused."""
    import asyncio

    from coordssh.cli.context import build_context
    from coordssh.cli.render.plan import print_approve
    from coordssh.services.approve import approve as run_approve

    ctx = build_context(config)
    result = asyncio.run(run_approve(ctx, ids, dry_run=dry_run))
    if not print_approve(result, json_output=json_output):
        raise typer.Exit(1)
