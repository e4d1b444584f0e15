"""The typer app: one module per group of commands under cli/commands/, each with `register(app)`.

Command modules stay light at import time (typer only); services, transports and rich are
imported inside the command functions, so `coordssh status` pays only for what it uses.
"""

from __future__ import annotations

import importlib
from typing import Optional

import typer

COMMAND_MODULES = (
    "config_cmd",   # config, init
    "trust_cmd",    # trust
    "doctor_cmd",   # doctor
    "assign_cmd",   # assign
    "run_cmds",     # status, watch, wait, log, stop, attach
    "push_cmd",     # push
    "work_cmd",     # work
    "test_cmd",     # test
    "followup_cmds",  # fix, retry, continue
    "pr_cmds",      # pr, review, merge, split
    "abandon_cmd",  # abandon
    "notify_cmd",   # notify, gc
    "session_cmd",  # resume, done
    "demo_cmd",     # demo
    "setup_cmd",    # setup
    "report_cmd",   # report
    "plan_cmd",     # plan, approve
)


def build_app() -> typer.Typer:
    app = typer.Typer(
        name="coordssh",
        help="Coordinate Claude Code workers over SSH, agentlessly.",
        no_args_is_help=True,
        add_completion=True,   # --install-completion, --show-completion (README)
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
        context_settings={"help_option_names": ["-h", "--help"]},  # every command inherits it
    )

    @app.callback()
    def root(
        version: bool = typer.Option(False, "--version", "-V", help="Print the version and exit."),
        config: Optional[str] = typer.Option(
            None, "--config", help="Path to coordinator.yml (before or after the command)."),
    ) -> None:
        """Coordinate Claude Code workers over SSH, agentlessly (no daemon on the workers)."""
        # both are answered in cli/main.py before typer runs: `--version` alone prints it, and a
        # `--config PATH` before the command is moved after it; they are here for the help

    @app.command("version")
    def version() -> None:
        """Print the version."""
        from coordssh import __version__

        typer.echo(f"coordssh {__version__}")

    for name in COMMAND_MODULES:
        module = importlib.import_module(f"coordssh.cli.commands.{name}")
        register = getattr(module, "register", None) or getattr(module, "register_assign", None)
        if register is not None:
            register(app)
    return app
