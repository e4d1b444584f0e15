"""`coordssh push ID`: push a finished run's branch again (after `push_failed`)."""

from __future__ import annotations

from typing import Optional

import typer

from coordssh.cli.fastpath import CONFIG_HELP


def register(app: typer.Typer) -> None:
    app.command("push")(push)


def push(
    assignment_id: str = typer.Argument(..., metavar="ID", help="Assignment id (or a prefix)."),
    json_output: bool = typer.Option(False, "--json", help="Print the row as JSON."),
    config: Optional[str] = typer.Option(None, "--config", help=CONFIG_HELP),
) -> None:
    """Push a finished run's branch again (its commits stay on the worker after push_failed)."""
    import asyncio
    import json

    from coordssh.cli.context import build_context
    from coordssh.cli.render.events import outcome_line
    from coordssh.cli.render.status_json import row_json
    from coordssh.services.repush import push_again

    ctx = build_context(config)
    row = asyncio.run(push_again(ctx, assignment_id))
    if json_output:
        typer.echo(json.dumps(row_json(row), ensure_ascii=False))
    else:
        typer.echo(outcome_line(row))
    if row.status == "push_failed" or "git push failed again" in row.reason:
        raise typer.Exit(1)
