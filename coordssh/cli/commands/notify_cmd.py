"""`coordssh notify [--dry-run] [--json]` (the periodic driver, cron-safe) and
`coordssh gc [--dry-run] [--json]` (clean-up on demand)."""

from __future__ import annotations

from typing import Optional

import typer

from coordssh.cli.fastpath import CONFIG_HELP


def register(app: typer.Typer) -> None:
    app.command("notify")(notify)
    app.command("gc")(gc)


def notify(
    dry_run: bool = typer.Option(False, "--dry-run",
                                 help="Change nothing; report what one pass would do."),
    json_output: bool = typer.Option(False, "--json",
                                     help="Print what the pass did and skipped as JSON."),
    config: Optional[str] = typer.Option(None, "--config", help=CONFIG_HELP),
) -> None:
    """One pass of the driver: observe, record, act on each work item, comment (cron-safe).

    A second notify while one runs exits 0 at once, naming the holder."""
    import asyncio

    from coordssh.cli.context import build_context
    from coordssh.cli.render.notify import print_pass
    from coordssh.services.notify import notify_pass

    ctx = build_context(config)
    print_pass(asyncio.run(notify_pass(ctx, dry_run=dry_run)), json_output=json_output)


def gc(
    dry_run: bool = typer.Option(False, "--dry-run", help="List what would be removed."),
    json_output: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    config: Optional[str] = typer.Option(None, "--config", help=CONFIG_HELP),
) -> None:
    """Remove worktrees of merged/abandoned work and finished tests, and old run directories
    (only under each machine's worktree_root and run_root); report disk use per machine."""
    import asyncio

    from coordssh.cli.context import build_context
    from coordssh.cli.render.notify import print_gc
    from coordssh.services.gc import collect

    ctx = build_context(config)
    print_gc(asyncio.run(collect(ctx, dry_run=dry_run, always=True)), json_output=json_output)
