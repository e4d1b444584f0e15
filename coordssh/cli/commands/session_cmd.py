"""`coordssh resume` (reconcile after a crash, list what is where) and `coordssh done`
(end a session: summary, on_session_end hooks)."""

from __future__ import annotations

from typing import Optional

import typer

from coordssh.cli.fastpath import CONFIG_HELP


def register(app: typer.Typer) -> None:
    app.command("resume")(resume)
    app.command("done")(done)


def resume(
    json_output: bool = typer.Option(False, "--json", help="Print the lists as JSON."),
    config: Optional[str] = typer.Option(None, "--config", help=CONFIG_HELP),
) -> None:
    """Reconcile the board with every machine and list what is live, parked, waiting, and
    what needs a human (starts nothing)."""
    import asyncio

    from coordssh.cli.context import build_context
    from coordssh.cli.render.notify import print_resume
    from coordssh.services.session import resume as run_resume

    ctx = build_context(config)
    print_resume(asyncio.run(run_resume(ctx)), json_output=json_output)


def done(
    json_output: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    config: Optional[str] = typer.Option(None, "--config", help=CONFIG_HELP),
) -> None:
    """End a session: counts, cost per model, machine and merged PR; runs on_session_end."""
    import asyncio

    from coordssh.cli.context import build_context
    from coordssh.cli.render.notify import print_done
    from coordssh.services.session import done as end_session

    ctx = build_context(config)
    print_done(asyncio.run(end_session(ctx)), json_output=json_output)
