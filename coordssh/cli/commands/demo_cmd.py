"""`coordssh demo [--agent auto|claude|replay] [--keep] [--dir DIR] [--test-command CMD]`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo_command(
        agent: str = typer.Option(
            "auto", "--agent",
            help="auto (claude if installed and logged in, else replay), claude, or replay "
                 "(plays a recorded transcript, no model is called)."),
        keep: bool = typer.Option(False, "--keep", help="Keep the sandbox afterwards."),
        directory: Optional[Path] = typer.Option(
            None, "--dir", help="Create the sandbox inside DIR (default: the temp directory)."),
        test_command: Optional[str] = typer.Option(
            None, "--test-command", metavar="CMD",
            help="The sandbox repo's test_command (default: python3 check.py, the repo's own "
                 "check). One that fails shows an item stopping at test_failed."),
    ) -> int:
        """Carry two issues to merged changes in a throwaway sandbox: implement, test, PR, merge
        (no GitHub, no remote machine, no login needed)."""
        import asyncio

        from coordssh.services.demo import DemoOptions

        options = DemoOptions(agent=agent, keep=keep, parent=directory,
                              test_command=test_command)
        return asyncio.run(_run(options))


async def _run(options) -> int:
    from coordssh.cli.context import context_for
    from coordssh.cli.render.demo import DemoView
    from coordssh.services.demo import Finished, run_demo

    view = DemoView()
    ok = False
    try:
        async for event in run_demo(options, lambda config, issues: context_for(config, issues=issues)):
            view.handle(event)
            ok = isinstance(event, Finished) and event.ok
    finally:
        view.close()
    return 0 if ok else 1
