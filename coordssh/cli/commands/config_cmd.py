"""`coordssh config [--check] [--json]` and `coordssh init [--yes] [--force] [--path DIR]`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    @app.command("config")
    def config_command(
        check: bool = typer.Option(False, "--check", help="Validate only: exit 0 if clean, 2 with every problem."),
        json_output: bool = typer.Option(False, "--json", help="Print the normalized config as JSON."),
        config: Optional[str] = typer.Option(None, "--config", help="Path to coordinator.yml."),
    ) -> None:
        """Show the resolved coordinator.yml (path first), or check it."""
        from coordssh.config.dump import config_to_dict
        from coordssh.config.load import load_config

        loaded = load_config(config)
        if json_output:
            import json

            typer.echo(json.dumps(config_to_dict(loaded), indent=2))
            return
        typer.echo(f"config: {loaded.path}")
        if check:
            typer.echo(f"ok: {_count(len(loaded.repos), 'repo')}, {_count(len(loaded.machines), 'machine')}")
            return
        typer.echo(_listing(config_to_dict(loaded)))

    @app.command("init")
    def init_command(
        yes: bool = typer.Option(False, "--yes", "-y", help="Take every default; ask nothing."),
        force: bool = typer.Option(False, "--force", help="Overwrite an existing coordinator.yml."),
        path: Optional[Path] = typer.Option(
            None, "--path", help="Directory to search for repositories and write coordinator.yml "
                                 "into (default: the current directory)."),
        slash_command: Optional[bool] = typer.Option(
            None, "--slash-command/--no-slash-command",
            help="Write the /coordinator Claude Code command into each repo's .claude/commands/ "
                 "(and, if you agree, allow Bash(coordssh *) in its .claude/settings.json). "
                 "Default: ask; --yes: write both."),
    ) -> None:
        """Detect git repositories here and in ~/src, and write a coordinator.yml for this machine."""
        from coordssh.services import init as service

        directory = path or Path.cwd()
        target = service.config_target(directory, force=force)
        plan = service.default_plan(directory, Path.home())
        if not yes:
            plan = _ask(plan)
        slash, allow = _ask_slash(plan, slash_command, yes)
        config = service.write_config(plan, target, home=Path.home())
        machine = next(iter(config.machines.values()))
        typer.echo(f"wrote {config.path}: {_count(len(config.repos), 'repo')} "
                   f"({', '.join(config.repos)}), machine '{machine.name}' "
                   f"(local, {machine.launcher}, {machine.max_workers} workers)")
        if slash:
            from coordssh.services.init_slash import install

            _show_files(install([r.path for r in plan.repos], allow=allow, force=force))
        typer.echo("next: `coordssh config --check`, then `coordssh doctor`")


def _ask_slash(plan, choice, yes) -> tuple[bool, bool]:
    """(write the slash command?, allow Bash(coordssh *) in the repos' settings?), asked before
    anything is written."""
    if choice is False or not plan.repos:
        return False, False
    if yes:
        return True, True
    names = ", ".join(r.name for r in plan.repos)
    if choice is None and not typer.confirm(
            f"add the /coordinator Claude Code command to {names} (.claude/commands/)?",
            default=True):
        return False, False
    allow = typer.confirm("let Claude Code run coordssh there without asking each time "
                          "(adds \"Bash(coordssh *)\" to .claude/settings.json)?", default=True)
    return True, allow


def _show_files(outcomes) -> None:
    for outcome in outcomes:
        detail = f": {outcome.detail}" if outcome.detail else ""
        typer.echo(f"{outcome.state} {outcome.path}{detail}")


def _ask(plan):
    """The few questions of an interactive init; each answer defaults to the plan's value."""
    import dataclasses

    repos = tuple(
        repo for repo in plan.repos
        if typer.confirm(f"include {repo.name} ({repo.path}"
                         f"{', github ' + repo.github if repo.github else ''})?", default=True)
    )
    return dataclasses.replace(
        plan,
        repos=repos,
        machine=typer.prompt("machine name", default=plan.machine),
        max_workers=typer.prompt("max workers (claude runs at once)", default=plan.max_workers,
                                 value_proc=_positive_int),
        launcher=typer.prompt("launcher (tmux or nohup)", default=plan.launcher, value_proc=_launcher),
    )


def _positive_int(text) -> int:
    try:
        number = int(text)
    except ValueError:
        raise typer.BadParameter(f"'{text}' is not a whole number") from None
    if number < 1:
        raise typer.BadParameter("must be at least 1")
    return number


def _launcher(text) -> str:
    if text not in ("tmux", "nohup"):
        raise typer.BadParameter("choose tmux or nohup")
    return text


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _listing(data: dict) -> str:
    """The normalized config as YAML (without `path`, already printed above)."""
    import yaml

    body = {key: value for key, value in data.items() if key != "path"}
    return yaml.safe_dump(body, sort_keys=False, default_flow_style=False, allow_unicode=True).rstrip()
