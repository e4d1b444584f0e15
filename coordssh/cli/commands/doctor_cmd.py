"""`coordssh doctor [MACHINE...] [--dispatch] [--json]`: exit 0 when every check passes, else 1."""

from __future__ import annotations

from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    @app.command("doctor")
    def doctor(
        machines: Optional[list[str]] = typer.Argument(
            None, metavar="[MACHINE]...", help="Machines to check (default: all of them)."),
        dispatch: bool = typer.Option(
            False, "--dispatch",
            help="Also run one real dispatch per machine with the replay agent (no tokens spent), "
                 "in a scratch repo that is removed afterwards."),
        json_output: bool = typer.Option(False, "--json", help="Print a machine-readable report."),
        config: Optional[str] = typer.Option(None, "--config", help="Path to coordinator.yml."),
    ) -> None:
        """Check every machine (SSH, shell cost, git, tmux, claude, repos, disk) and gh."""
        import asyncio

        from coordssh.cli.context import build_context
        from coordssh.cli.render.doctor import print_json, print_report, progress
        from coordssh.services.doctor import run_doctor

        ctx = build_context(config)
        names = tuple(machines or ())
        if json_output:
            report = asyncio.run(run_doctor(ctx, names, dispatch=dispatch))
            print_json(report)
        else:
            with progress(len(names) or len(ctx.config.machines)) as on_progress:
                report = asyncio.run(run_doctor(ctx, names, on_progress=on_progress,
                                                dispatch=dispatch))
            print_report(report)
        if not report.ok:
            raise typer.Exit(1)
