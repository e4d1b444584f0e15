"""`coordssh test ID [--machine M] [--json]`: test the work item's head SHA (a plain process, no
model); `coordssh test ID --passed | --fail --reason T`: a verdict by hand, for the head SHA.

ID is a run id (or a prefix) or REPO#ISSUE.
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
    machine: Optional[str] = typer.Option(None, "--machine", "-m",
                                          help="Run the test on this machine."),
    json_output: bool = typer.Option(False, "--json",
                                     help="Print the new run (or the work item) as JSON."),
    config: Optional[str] = typer.Option(None, "--config", help=CONFIG_HELP),
) -> None:
    """Test the head SHA with the repo's build and test commands, or record a verdict by hand."""
    import asyncio

    from coordssh.cli.context import build_context
    from coordssh.cli.render.work import print_test_run, print_work
    from coordssh.errors import UsageError
    from coordssh.services.verdicts import record_test_verdict
    from coordssh.services.work_view import work_views

    if passed and failed:
        raise UsageError("give one of --passed or --fail, not both",
                         hint="coordssh test ID --passed   or   coordssh test ID --fail "
                              "--reason 'what failed'")
    if (passed or failed) and machine:
        raise UsageError("--machine is for a test run; a verdict by hand runs nothing",
                         hint="drop --machine, or drop --passed/--fail to run the test")
    ctx = build_context(config)
    if not (passed or failed):
        from coordssh.services.test_run import dispatch_test

        print_test_run(asyncio.run(dispatch_test(ctx, which, machine=machine)),
                       json_output=json_output)
        return
    item = asyncio.run(record_test_verdict(ctx, which, passed=passed, reason=reason))
    print_work(asyncio.run(work_views(ctx, item.key)), json_output=json_output)
