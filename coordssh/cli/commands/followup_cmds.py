"""`coordssh fix`, `retry` and `continue`: follow-up runs of a work item on its branch
(services/fix.py, services/retry.py, services/continue_run.py). ID is a run id (or a prefix) or
REPO#ISSUE (its latest run)."""

from __future__ import annotations

from typing import Optional

import typer

from coordssh.cli.fastpath import CONFIG_HELP

ID_HELP = "A run id (or prefix), or REPO#ISSUE (its latest run)."
JSON_HELP = "Print the new run as JSON (like assign --json)."


def register(app: typer.Typer) -> None:
    app.command("fix")(fix)
    app.command("retry")(retry)
    app.command("continue")(continue_)


def fix(
    which: str = typer.Argument(..., metavar="ID", help=ID_HELP),
    guidance: str = typer.Option("", "--guidance", help="Appended to the fix prompt."),
    model: Optional[str] = typer.Option(None, "--model",
                                        help="Model for the fix (default: one rung up "
                                             "models.escalation)."),
    machine: Optional[str] = typer.Option(None, "--machine", "-m", help="Run it on this machine."),
    json_output: bool = typer.Option(False, "--json", help=JSON_HELP),
    config: Optional[str] = typer.Option(None, "--config", help=CONFIG_HELP),
) -> None:
    """Fix what failed on the work item's branch: a fix run on the same branch."""
    from coordssh.services.fix import FixRequest
    from coordssh.services.fix import fix as run_fix

    _run(config, json_output, lambda ctx: run_fix(ctx, FixRequest(which, guidance, model,
                                                                  machine)))


def retry(
    which: str = typer.Argument(..., metavar="ID", help=ID_HELP),
    machine: Optional[str] = typer.Option(None, "--machine", "-m",
                                          help="Retry on this machine (default: another one)."),
    force: bool = typer.Option(False, "--force",
                               help="Retry a usage_limited or budget run now, elsewhere, or past concurrency.max_retries."),
    json_output: bool = typer.Option(False, "--json", help=JSON_HELP),
    config: Optional[str] = typer.Option(None, "--config", help=CONFIG_HELP),
) -> None:
    """Run again, on another machine, a run that failed for infrastructure reasons."""
    from coordssh.services.retry import retry as run_retry

    _run(config, json_output, lambda ctx: run_retry(ctx, which, machine=machine, force=force))


def continue_(
    which: str = typer.Argument(..., metavar="ID", help=ID_HELP),
    guidance: str = typer.Option(..., "--guidance", help="The continued run's prompt."),
    json_output: bool = typer.Option(False, "--json", help=JSON_HELP),
    config: Optional[str] = typer.Option(None, "--config", help=CONFIG_HELP),
) -> None:
    """Continue a stuck, max_turns or crashed run with `claude --resume` and your guidance."""
    from coordssh.services.continue_run import continue_run

    _run(config, json_output, lambda ctx: continue_run(ctx, which, guidance))


def _run(config: Optional[str], json_output: bool, start) -> None:
    import asyncio

    from coordssh.cli.context import build_context
    from coordssh.cli.render.followup import print_followup

    ctx = build_context(config)
    print_followup(asyncio.run(start(ctx)), json_output=json_output)
