"""`coordssh setup MACHINE... [--check] [--install] [--yes] [--json]`: prepare workers.

Without --check it first checks, shows what would change and asks before changing anything
(--yes: no question). Exit 0 when every step ends ok/changed/skipped, 1 when one failed or a
machine could not be reached.
"""

from __future__ import annotations

from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    @app.command("setup")
    def setup(
        machines: list[str] = typer.Argument(..., metavar="MACHINE...",
                                             help="Machines to prepare."),
        check: bool = typer.Option(False, "--check",
                                   help="Report what would change; change nothing."),
        install: bool = typer.Option(False, "--install",
                                     help="Install missing packages (git, tmux) with apt-get."),
        yes: bool = typer.Option(False, "--yes", "-y", help="Make the changes without asking."),
        json_output: bool = typer.Option(False, "--json", help="Print a machine-readable report."),
        config: Optional[str] = typer.Option(None, "--config", help="Path to coordinator.yml."),
    ) -> None:
        """Prepare workers with the setup playbook: git, tmux, private dirs, clones, claude."""
        import asyncio

        from coordssh.cli.context import build_context
        from coordssh.cli.render.setup import print_json, print_report
        from coordssh.errors import UsageError
        from coordssh.services.setup import run_setup

        if json_output and not (check or yes):
            raise UsageError("--json cannot ask before changing anything",
                             hint="add --check to only report, or --yes to make the changes")
        ctx = build_context(config)
        show = print_json if json_output else print_report
        if not (check or yes):
            planned = asyncio.run(run_setup(ctx, machines, check=True, install=install))
            print_report(planned)
            if planned.changes == 0 or not typer.confirm("make these changes?", default=False):
                raise typer.Exit(0 if planned.ok else 1)
        report = asyncio.run(run_setup(ctx, machines, check=check, install=install))
        show(report)
        if not report.ok:
            raise typer.Exit(1)
