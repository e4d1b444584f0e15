"""`coordssh status` without typer: the hot command's fast path.

Operators run `status` dozens of times an hour and scripts poll `status --json`. Importing typer
costs about 55 ms here before any command runs, over a quarter of the 200 ms start-up budget,
of which Python and asyncio already take 140 ms (docs/performance.md). So `cli/main.py` offers
argv to `run` first. It takes only the plain forms of `coordssh status`: the options of
STATUS_OPTIONS, each spelled out, as `--opt value` or `--opt=value`. Anything else (`--help`, an
unknown or malformed option, another command) returns None and goes to typer, so help and usage
errors read as they always have. The typer command (`commands/run_cmds.py`) is built from the
same STATUS_OPTIONS and calls the same `status`.
"""

from __future__ import annotations

import sys
from typing import Any

CONFIG_HELP = "Path to coordinator.yml."

# parameter -> (flags, takes a value, repeatable, help); a flag's default is False, a value's None
Spec = dict[str, tuple[tuple[str, ...], bool, bool, str]]
STATUS_OPTIONS: Spec = {
    "machine": (("--machine", "-m"), True, True, "Only this machine (repeatable)."),
    "json_output": (("--json",), False, False, "Print a JSON object."),
    "live": (("--live",), False, False, "Redraw in place every ~2 s until Ctrl-C."),
    "config": (("--config",), True, False, CONFIG_HELP),
}


def run(args: list[str]) -> int | None:
    """The exit code of `args` run as a plain `status` command line; None: typer's to run."""
    if not args or args[0] != "status":
        return None
    values = parse_options(args[1:], STATUS_OPTIONS)
    if values is None:
        return None
    try:
        status(**values)
    except (EOFError, KeyboardInterrupt):  # what typer makes of it (click's Abort)
        sys.stderr.write("\naborted\n")
        return 130
    return 0


def parse_options(argv: list[str], spec: Spec) -> dict[str, Any] | None:
    """{parameter: value} for argv made only of `spec`'s options; None for anything else."""
    by_flag = {flag: name for name, (flags, *_) in spec.items() for flag in flags}
    values: dict[str, Any] = {name: None if takes else False
                              for name, (_, takes, _, _) in spec.items()}
    i = 0
    while i < len(argv):
        flag, eq, value = argv[i].partition("=") if argv[i].startswith("--") else (argv[i], "", "")
        i += 1
        name = by_flag.get(flag)
        if name is None:
            return None
        _, takes, repeatable, _ = spec[name]
        if not takes:
            if eq:
                return None
            values[name] = True
            continue
        if not eq:
            if i == len(argv) or argv[i].startswith("-"):
                return None
            value, i = argv[i], i + 1
        if repeatable:
            values[name] = [*(values[name] or ()), value]
        elif values[name] is not None:
            return None  # given twice: typer decides
        else:
            values[name] = value
    return values


def status(machine: list[str] | None = None, json_output: bool = False, live: bool = False,
           config: str | None = None) -> None:
    """Machines and assignments, reconciled with what the machines say right now."""
    import asyncio

    from coordssh.cli.context import build_context
    from coordssh.services.observe import observe

    ctx = build_context(config)
    names = machine or None
    if names:
        for name in names:
            ctx.config.machine(name)  # NotFound (exit 2) before any connection
    observe_once = lambda: asyncio.run(observe(ctx, names))  # noqa: E731
    from coordssh.services.machine_notes import machine_notes

    if json_output and not live:
        from coordssh.cli.render.status_json import print_json  # no rich

        seen = observe_once()
        print_json(seen, machine_notes(ctx))
        return
    from coordssh.cli.render import status as render

    if live:
        render.live_status(observe_once, str(ctx.config.path), notes_of=lambda: machine_notes(ctx))
    else:
        seen = observe_once()
        render.print_status(seen, str(ctx.config.path), machine_notes(ctx))
