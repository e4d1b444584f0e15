"""`coordssh work [REPO#ISSUE|ID] [--history] [--json]`: work items, next actions, history."""

from __future__ import annotations

from typing import Optional

import typer

from coordssh.cli.fastpath import CONFIG_HELP


def register(app: typer.Typer) -> None:
    app.command("work")(work)


def work(
    which: Optional[str] = typer.Argument(None, metavar="[REPO#ISSUE|ID]",
                                          help="One work item, by REPO#ISSUE or a run id."),
    history: bool = typer.Option(False, "--history", help="Show each item's event trail."),
    json_output: bool = typer.Option(False, "--json", help="Print a JSON list of work items."),
    config: Optional[str] = typer.Option(None, "--config", help=CONFIG_HELP),
) -> None:
    """Every work item with its stage, its runs, and what should happen next (and why)."""
    import asyncio

    from coordssh.cli.context import build_context
    from coordssh.cli.render.work import print_work
    from coordssh.services.work_view import work_views

    ctx = build_context(config)
    views = asyncio.run(work_views(ctx, which, history=history))
    print_work(views, json_output=json_output)
