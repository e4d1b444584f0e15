"""Observing runs: `status`, `watch`, `wait`, `log`, `stop`, `attach` (`assign` is assign_cmd.py).

`status` is defined in cli/fastpath.py (its options and its body), which runs it without typer
for plain command lines; the typer command here is built from the same definition.

Each command parses, builds the context, calls one service and renders. Exit codes for watch and
wait come from the services' errors (mapped in cli/main.py): 0 done, 1 another outcome
(RunFailed), 2 no such assignment (NotFound), 3 timed out (WaitTimeout).
"""

from __future__ import annotations

from typing import Optional

import typer

from coordssh.cli.fastpath import CONFIG_HELP, STATUS_OPTIONS
from coordssh.cli.fastpath import status as run_status


def register(app: typer.Typer) -> None:
    app.command("status")(status)
    app.command("watch")(watch)
    app.command("wait")(wait)
    app.command("log")(log)
    app.command("stop")(stop)
    app.command("attach")(attach)


def _status_option(name: str):
    flags, takes_value, _, help_text = STATUS_OPTIONS[name]
    return typer.Option(None if takes_value else False, *flags, help=help_text)


def status(
    machine: Optional[list[str]] = _status_option("machine"),
    json_output: bool = _status_option("json_output"),
    live: bool = _status_option("live"),
    refresh: Optional[float] = _status_option("refresh"),
    config: Optional[str] = _status_option("config"),
) -> None:
    """Machines and assignments, reconciled with what the machines say right now."""
    # `coordssh status` usually runs it directly (cli/fastpath.py)
    run_status(machine, json_output, live, config, refresh)


def watch(
    assignment_id: str = typer.Argument(..., metavar="ID", help="Assignment id (or a prefix)."),
    show_all: bool = typer.Option(False, "--all", help="Show every event, not only the key ones."),
    timeout: Optional[float] = typer.Option(None, "--timeout", min=0,
                                            help="Give up after S seconds (exit 3)."),
    from_offset: int = typer.Option(0, "--from-offset", min=0,
                                    help="Start at this byte of stream.jsonl."),
    config: Optional[str] = typer.Option(None, "--config", help=CONFIG_HELP),
) -> None:
    """Follow a run's events until it ends; exit 0 if it is done, 1 otherwise."""
    import asyncio

    from coordssh.cli.context import build_context
    from coordssh.cli.render.events import EventPrinter, outcome_line
    from coordssh.services.watch import check_done, watch_run

    ctx = build_context(config)
    row = asyncio.run(watch_run(ctx, assignment_id, on_event=EventPrinter(show_all),
                                from_offset=from_offset, timeout=timeout, on_notice=_notice))
    typer.echo(outcome_line(row))
    check_done(row)


def wait(
    assignment_id: str = typer.Argument(..., metavar="ID", help="Assignment id (or a prefix)."),
    timeout: Optional[float] = typer.Option(None, "--timeout", min=0,
                                            help="Give up after S seconds (exit 3)."),
    config: Optional[str] = typer.Option(None, "--config", help=CONFIG_HELP),
) -> None:
    """Wait for a run to end: exit 0 done, 1 another outcome, 2 no such run, 3 timeout."""
    import asyncio

    from coordssh.cli.context import build_context
    from coordssh.cli.render.events import outcome_line
    from coordssh.services.watch import check_done, watch_run

    ctx = build_context(config)
    row = asyncio.run(watch_run(ctx, assignment_id, timeout=timeout, on_notice=_notice))
    typer.echo(outcome_line(row))
    check_done(row)


def log(
    assignment_id: str = typer.Argument(..., metavar="ID", help="Assignment id (or a prefix)."),
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing until the run ends."),
    config: Optional[str] = typer.Option(None, "--config", help=CONFIG_HELP),
) -> None:
    """Print the run's raw stream-json (stream.jsonl)."""
    import asyncio

    from coordssh.cli.context import build_context
    from coordssh.services.attach import read_log

    ctx = build_context(config)
    if follow:
        _follow_raw(ctx, assignment_id)
    else:
        _write_raw(asyncio.run(read_log(ctx, assignment_id)))


def stop(
    assignment_id: str = typer.Argument(..., metavar="ID", help="Assignment id (or a prefix)."),
    config: Optional[str] = typer.Option(None, "--config", help=CONFIG_HELP),
) -> None:
    """Stop a run (INT, TERM, then KILL); its worktree and branch stay."""
    import asyncio

    from coordssh.cli.context import build_context
    from coordssh.cli.render.events import outcome_line
    from coordssh.services.stop import stop as stop_service

    ctx = build_context(config)
    result = asyncio.run(stop_service(ctx, assignment_id))
    if result.already_finished:
        typer.echo(f"nothing to stop: {outcome_line(result.assignment)}")
        return
    how = f" after SIG{result.signal.signal}" if result.signal.signal else ""
    typer.echo(f"stopped{how}: {outcome_line(result.assignment)}")


def attach(
    assignment_id: str = typer.Argument(..., metavar="ID", help="Assignment id (or a prefix)."),
    config: Optional[str] = typer.Option(None, "--config", help=CONFIG_HELP),
) -> None:
    """Open the run's tmux session (here, or on the worker over SSH); a nohup run's log is followed."""
    from coordssh.cli.context import build_context
    from coordssh.cli.terminal import attach_in_terminal
    from coordssh.services.attach import attach_plan

    ctx = build_context(config)
    plan = attach_plan(ctx, assignment_id)
    if plan.follow_log:
        typer.echo(f"{plan.assignment.id} runs under nohup (no tmux session): following its log",
                   err=True)
        _follow_raw(ctx, plan.assignment.id)
        return
    raise typer.Exit(attach_in_terminal(ctx, plan))


def _follow_raw(ctx, assignment_id: str) -> None:
    import asyncio

    from coordssh.services.watch import watch_run

    asyncio.run(watch_run(ctx, assignment_id, on_line=_write_raw, on_notice=_notice))


def _notice(text: str) -> None:
    """What the follow itself is doing (an unreachable machine, a reconnect): on stderr."""
    typer.echo(f"coordssh: {text}", err=True)


def _write_raw(data: bytes) -> None:
    import sys

    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()
