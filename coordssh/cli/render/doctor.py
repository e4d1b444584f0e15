"""Rendering of the doctor's report: a rich table, each problem with its fix, or JSON."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn
from rich.table import Table

from coordssh.services.doctor import DoctorReport, MachineReport
from coordssh.services.doctor_checks import ERROR, SLOW_SHELL_S

OK, BAD, WARN = "[green]✓[/]", "[red]✗[/]", "[yellow]![/]"


@contextmanager
def progress(total: int) -> Iterator[Callable[[str, str], None]]:
    """A transient progress bar on stderr, fed by the service's (machine, stage) callback."""
    bar = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                   MofNCompleteColumn(), console=Console(stderr=True), transient=True)

    with bar:
        task = bar.add_task("connecting", total=total)

        def on_progress(name: str, stage: str) -> None:
            done = stage in ("done", "failed")
            bar.update(task, advance=1 if done else 0, description=f"{stage} {escape(name)}")

        yield on_progress


def print_json(report: DoctorReport) -> None:
    sys.stdout.write(json.dumps(report.to_dict(), indent=2) + "\n")


def print_report(report: DoctorReport) -> None:
    console = Console(highlight=False)
    console.print(f"config: {escape(report.config_path)}", soft_wrap=True)
    table = Table(show_edge=False, pad_edge=False)
    dispatched = any(m.dispatch is not None for m in report.machines)
    for column in ("machine", "reachable", "shell", "git", "tmux", "claude", "repos", "disk",
                   *(("dispatch",) if dispatched else ())):
        table.add_column(column, no_wrap=column != "claude")
    for machine in report.machines:
        row = _row(machine)
        table.add_row(*row, *((_dispatch(machine),) if dispatched else ()))
    console.print(table)
    if report.gh is not None:
        console.print(f"gh: {OK if report.gh == 'ok' else BAD} {report.gh}")
    for problem in report.problems:
        mark = BAD if problem.severity == ERROR else WARN
        # soft_wrap: a fix is a command to copy, never broken across lines
        console.print(f"{mark} {escape(problem.message)}", soft_wrap=True)  # names its machine
        if problem.fix:
            console.print(f"    fix: {escape(problem.fix)}", soft_wrap=True)
    errors = sum(1 for p in report.problems if p.severity == ERROR)
    console.print(f"{OK} all good" if report.ok else f"{BAD} {errors} problem(s) to fix")


def _row(m: MachineReport) -> list[str]:
    name = escape(m.name)
    if not m.reachable:
        return [name, f"{BAD} unreachable", "", "", "", "", "", ""]
    reach = f"{OK} {m.connect_s * 1000:.0f} ms" if m.connect_s is not None else OK
    f = m.facts
    if f is None:
        return [name, reach, "", "", "", f"{BAD} probe failed", "", ""]
    return [name, reach, _shell(m.shell_s), _tool(f.git, required=True),
            _tool(f.tmux, required=m.launcher == "tmux"), _claude(f.claude_state, f.claude_version,
                                                                  f.claude_path),
            _repos(f.repos), _disk(f.disk_free_kb) + _used(f.used_kb)]


def _dispatch(m: MachineReport) -> str:
    check = m.dispatch
    if check is None:
        return ""
    took = f"{check.seconds:.1f} s {escape(check.launcher)}"
    return f"{OK} {took}" if check.ok else f"{BAD} failed ({took})"


def _shell(seconds: float | None) -> str:
    if seconds is None:
        return ""
    return f"{WARN if seconds > SLOW_SHELL_S else ''}{seconds * 1000:.1f} ms"


def _tool(version: str | None, *, required: bool) -> str:
    if version:
        return escape(version)
    return f"{BAD} missing" if required else "-"


def _claude(state: str, version: str, path: str) -> str:
    if state == "ok":
        return f"{escape(version.split(' ')[0])} {escape(path)}"
    return f"{BAD} {state.replace('_', ' ')}"


def _repos(repos: dict) -> str:
    if not repos:
        return "-"
    good = sum(1 for r in repos.values() if r.state == "ok")
    return f"{OK if good == len(repos) else BAD} {good}/{len(repos)}"


def _disk(kb: int | None) -> str:
    return "?" if kb is None else f"{kb / 1024 / 1024:.1f} GiB"


def _used(used: tuple[int | None, int | None]) -> str:
    """Disk used by the worktree root and the run root (what `coordssh gc` frees)."""
    if all(kb is None for kb in used):
        return ""
    worktrees, runs = (f"{(kb or 0) / 1024:.0f} MiB" for kb in used)
    return f" free; used: worktrees {worktrees}, runs {runs}"
