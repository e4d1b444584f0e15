"""`coordssh trust MACHINE [--yes] [--config PATH]`: show a machine's host key, then record it."""

from __future__ import annotations

from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    @app.command("trust")
    def trust_command(
        machine: str = typer.Argument(..., help="Machine name from coordinator.yml."),
        yes: bool = typer.Option(False, "--yes", "-y",
                                 help="Record the key without asking (check the fingerprint first)."),
        config: Optional[str] = typer.Option(None, "--config", help="Path to coordinator.yml."),
    ) -> None:
        """Fetch MACHINE's SSH host key, show its fingerprint, and add it to known_hosts."""
        import asyncio

        from coordssh.config.load import load_config
        from coordssh.services.trust import trust_machine

        loaded = load_config(config)
        typer.echo(f"config: {loaded.path}")
        target = loaded.machine(machine)
        outcome = asyncio.run(trust_machine(target, lambda report: yes or _confirm(report)))
        report = outcome.report
        if outcome.status == "already-known":
            typer.echo(f"{machine}: {report.key_type} {report.fingerprint} is already trusted "
                       f"({report.where()})")
        elif outcome.status == "added":
            typer.echo(f"{machine}: added {report.key_type} {report.fingerprint} to {report.where()}")
        else:
            typer.echo(f"{machine}: not trusted; nothing written")
            raise typer.Exit(1)


def _confirm(report) -> bool:
    typer.echo(f"host {report.host} port {report.port} offers {report.key_type} key\n"
               f"  {report.fingerprint}\n"
               "compare it with `ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub` run on that machine")
    return typer.confirm(f"add it to {report.path}?", default=False)
