"""`coordssh assign MACHINE REPO ISSUE`: dispatch one issue to one machine (services/assign.py)."""

from __future__ import annotations

from typing import Optional

import typer

MAX_ISSUE = 2**31 - 1  # GitHub's issue numbers are 32-bit


def register(app: typer.Typer) -> None:
    @app.command("assign")
    def assign(
        machine: str = typer.Argument(..., help="The machine (a name in coordinator.yml)."),
        repo: str = typer.Argument(..., help="The repo (a name in coordinator.yml)."),
        issue: int = typer.Argument(..., min=1, max=MAX_ISSUE, help="The issue number."),
        model: Optional[str] = typer.Option(None, "--model", help="Model alias or id for this run."),
        briefing: str = typer.Option("", "--briefing",
                                     help="Extra instructions appended to the prompt (the task "
                                          "itself for a repo without GitHub)."),
        briefing_file: Optional[str] = typer.Option(
            None, "--briefing-file", metavar="PATH",
            help="Read the briefing from PATH (- for stdin): for one too long for the command "
                 "line (Linux refuses an argument over 128 KiB)."),
        title: Optional[str] = typer.Option(None, "--title",
                                            help="The issue's title (required without GitHub)."),
        force: bool = typer.Option(False, "--force", help="Assign even if the issue is claimed."),
        dry_run: bool = typer.Option(False, "--dry-run",
                                     help="Show the plan (worktree, branch, base SHA, command, "
                                          "prompt) and change nothing."),
        json_output: bool = typer.Option(False, "--json", help="Print a JSON object."),
        config: Optional[str] = typer.Option(None, "--config", help="Path to coordinator.yml."),
    ) -> None:
        """Dispatch ISSUE of REPO to MACHINE: a worktree, a branch, and a detached claude run."""
        import asyncio

        from coordssh.cli.context import build_context
        from coordssh.cli.render.assign import print_result
        from coordssh.services.assign import AssignRequest
        from coordssh.services.assign import assign as run_assign

        if briefing_file is not None:
            briefing = read_briefing(briefing_file, briefing)
        ctx = build_context(config)
        intents: list = []
        request = AssignRequest(machine=machine, repo=repo, issue=issue, model=model,
                                briefing=briefing, title=title, force=force, dry_run=dry_run,
                                on_intent=intents.append)
        try:
            result = asyncio.run(run_assign(ctx, request))
            print_result(result, json_output=json_output, config_path=str(ctx.config.path))
        except KeyboardInterrupt:
            if not intents:
                raise               # nothing was started: the usual "interrupted"
            row = ctx.board.get(intents[-1].id) or intents[-1]
            typer.echo(interrupted_text(row), err=True)
            raise typer.Exit(130) from None


def interrupted_text(row) -> str:
    """Ctrl-C after the intent row: the run is (or may be) going on the machine; say which."""
    if row.terminal:
        return f"interrupted: run {row.id} ({row.repo}#{row.issue}) ended {row.status}: {row.reason}"
    if row.status == "running":
        what = f"run {row.id} ({row.repo}#{row.issue}) is running on {row.machine}"
    else:
        what = (f"run {row.id} ({row.repo}#{row.issue}) was being started on {row.machine} "
                f"({row.status}); `coordssh status` shows whether it runs")
    return (f"interrupted: {what}; it keeps running (Ctrl-C does not stop it)\n"
            f"  follow it: coordssh watch {row.id}\n"
            f"  stop it:   coordssh stop {row.id}")


register_assign = register  # the name the task's brief asked for


def read_briefing(path: str, given: str) -> str:
    """The briefing in `path` (`-`: stdin), as UTF-8 text."""
    import sys

    from coordssh.errors import UsageError

    if given:
        raise UsageError("--briefing and --briefing-file both give a briefing",
                         hint="pass one of them")
    try:
        if path == "-":
            return sys.stdin.buffer.read().decode("utf-8")
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except (OSError, UnicodeDecodeError) as err:
        where = "stdin" if path == "-" else path
        raise UsageError(f"cannot read the briefing from {where}: {err}",
                         hint="pass a readable UTF-8 text file to --briefing-file") from None
