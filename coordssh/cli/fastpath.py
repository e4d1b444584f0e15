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
    "live": (("--live",), False, False,
             "Full-screen view that follows the fleet until Ctrl-C (one connection per machine)."),
    "refresh": (("--refresh",), True, False,
                "With --live: seconds between two probes of each machine (default 2)."),
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
           config: str | None = None, refresh: str | float | None = None) -> None:
    """Machines and assignments, reconciled with what the machines say right now."""
    import asyncio

    from coordssh.cli.context import build_context
    from coordssh.services.observe import observe

    seconds = live_refresh(live, json_output, refresh)
    ctx = build_context(config)
    names = machine or None
    if names:
        for name in names:
            ctx.config.machine(name)  # NotFound (exit 2) before any connection
    if live:
        from coordssh.cli.render.live import show_live

        show_live(ctx, names, seconds, str(ctx.config.path))
        return
    observation = asyncio.run(observe(ctx, names))
    from coordssh.services.machine_notes import machine_notes

    if json_output:
        from coordssh.cli.render.status_json import print_json  # no rich

        print_json(observation, machine_notes(ctx))
        return
    from coordssh.cli.render.status import print_status

    print_status(observation, str(ctx.config.path), machine_notes(ctx))


def live_refresh(live: bool, json_output: bool, refresh: str | float | None) -> float:
    """The seconds between two probes of a machine in the live view; UsageError (exit 2) for a
    value that is not a number of seconds, or --refresh/--json used the wrong way with --live."""
    from coordssh.errors import UsageError

    if live and json_output:
        raise UsageError("--live draws the full-screen view and --json prints once: not both",
                         hint="scripts poll `coordssh status --json`")
    if refresh is None:
        return 2.0
    if not live:
        raise UsageError("--refresh only goes with --live", hint="coordssh status --live "
                         f"--refresh {refresh}")
    try:
        seconds = float(refresh)
    except ValueError:
        seconds = float("nan")
    if not 0.2 <= seconds <= 3600:   # also refuses nan and inf
        raise UsageError(f"--refresh {refresh}: give the seconds between two probes, "
                         "from 0.2 to 3600", hint="coordssh status --live --refresh 5")
    return seconds
