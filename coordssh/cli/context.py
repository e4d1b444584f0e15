"""The composition root: the one place that picks concrete adapters for a command.

Commands call `build_context(config_option)`; services receive the Context and never build
adapters themselves, so tests can build a Context from their own parts.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import TYPE_CHECKING

from coordssh.services.context import Context

if TYPE_CHECKING:
    from coordssh.config.schema import Config
    from coordssh.forge.issue import Issue


def build_context(config_path: str | None, *, environ: dict[str, str] | None = None) -> Context:
    from coordssh.cli.main import remember_state_dir
    from coordssh.config.load import load_config

    env = os.environ if environ is None else environ
    config = load_config(config_path, environ=env)
    remember_state_dir(config.state_dir)  # where an internal error's traceback goes
    return context_for(config, gh=env.get("COORDSSH_GH", "gh"))


def context_for(config: Config, *, gh: str = "gh", issues: Iterable[Issue] = ()) -> Context:
    """The Context of an already built config (`demo` builds its own, with its own issues)."""
    from coordssh.board.store import Board
    from coordssh.transport.connect import Connector

    issues = tuple(issues)

    def forge(repo):
        from coordssh.forge import forge_for  # only commands that read issues need it

        return forge_for(repo, gh=gh, issues=issues)

    return Context(
        config=config,
        board=Board.open(config.state_dir),
        connector=Connector(max_connections=config.concurrency.max_connections),
        forge_factory=forge,
    )
