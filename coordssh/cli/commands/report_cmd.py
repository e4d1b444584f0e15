"""`coordssh report [--since 7d] [--by ...] [--json] [--html FILE]`: runs, outcomes and spend."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    @app.command("report")
    def report(
        since: str = typer.Option("7d", "--since",
                                  help="Runs started within this window: 90m, 24h, 7d, 2w, all."),
        by: str = typer.Option("issue", "--by", help="Group by issue, model, machine, role or day."),
        json_output: bool = typer.Option(False, "--json", help="Print the report as JSON."),
        html: Optional[Path] = typer.Option(
            None, "--html", metavar="FILE",
            help="Also write one self-contained HTML page with charts to FILE."),
        config: Optional[str] = typer.Option(None, "--config", help="Path to coordinator.yml."),
    ) -> None:
        """Runs and outcomes, cost, turns, tokens, rounds and the most expensive runs."""
        from coordssh.cli.context import build_context
        from coordssh.cli.render.report import print_json, print_report
        from coordssh.services.report import report_for

        ctx = build_context(config)
        result = report_for(ctx, since=since, by=by)
        if html is not None:
            from coordssh.cli.render.report_html import write_html

            write_html(result, html)
        if json_output:
            print_json(result)
        else:
            print_report(result)
            if html is not None:
                typer.echo(f"wrote {html}")
