"""`coordssh test ID --passed | --fail --reason T`: a test verdict by hand, for the head SHA.

ID is a run id (or a prefix) or REPO#ISSUE. The dispatched test run (`coordssh test ID` with
neither flag) comes with services/test_run.py.
"""

from __future__ import annotations

from typing import Optional

import typer

from coordssh.cli.fastpath import CONFIG_HELP


def register(app: typer.Typer) -> None:
    app.command("test")(test)


def test(
    which: str = typer.Argument(..., metavar="ID", help="A run id (or prefix), or REPO#ISSUE."),
    passed: bool = typer.Option(False, "--passed", help="Record that the head SHA passed."),
    failed: bool = typer.Option(False, "--fail", help="Record that the head SHA failed."),
    reason: str = typer.Option("", "--reason", help="What failed (required with --fail)."),
    json_output: bool = typer.Option(False, "--json", help="Print the work item as JSON."),
    config: Optional[str] = typer.Option(None, "--config", help=CONFIG_HELP),
) -> None:
    """Record a test verdict for the work item's head SHA (--passed, or --fail --reason T)."""
    import asyncio

    from coordssh.cli.context import build_context
    from coordssh.cli.render.work import print_work
    from coordssh.errors import UsageError
    from coordssh.services.verdicts import record_test_verdict
    from coordssh.services.work_view import work_views

    if passed == failed:
        raise UsageError("give one of --passed or --fail --reason T",
                         hint="coordssh test ID --passed   or   coordssh test ID --fail "
                              "--reason 'what failed'")
    ctx = build_context(config)
    item = asyncio.run(record_test_verdict(ctx, which, passed=passed, reason=reason))
    print_work(asyncio.run(work_views(ctx, item.key)), json_output=json_output)
