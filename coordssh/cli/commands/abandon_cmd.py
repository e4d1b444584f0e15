"""`coordssh abandon KEY [--reason T] [--close-pr]`: give up on a work item (services/abandon)."""

from __future__ import annotations

from typing import Optional

import typer

from coordssh.cli.fastpath import CONFIG_HELP


def register(app: typer.Typer) -> None:
    app.command("abandon")(abandon)


def abandon(which: str = typer.Argument(..., metavar="KEY",
                                        help="REPO#ISSUE, or a run id (or prefix) of the item."),
            reason: str = typer.Option("", "--reason", help="Why (kept in the history)."),
            close_pr: bool = typer.Option(False, "--close-pr",
                                          help="Close the item's open PR (branch kept)."),
            json_output: bool = typer.Option(False, "--json", help="Print the result as JSON."),
            config: Optional[str] = typer.Option(None, "--config", help=CONFIG_HELP)) -> None:
    """Give up on a work item: recorded `abandoned`, its branch and commits kept; refused while
    a run of it is live. `coordssh assign MACHINE REPO ISSUE` starts it again later."""
    import asyncio

    from coordssh.cli.context import build_context
    from coordssh.cli.render.abandon import print_abandoned
    from coordssh.services.abandon import abandon as give_up

    ctx = build_context(config)
    print_abandoned(asyncio.run(give_up(ctx, which, reason=reason, close_pr=close_pr)),
                    json_output=json_output)
