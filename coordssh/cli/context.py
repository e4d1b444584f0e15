"""The composition root: the one place that picks concrete adapters for a command.

Commands call `build_context(config_option)`; services receive the Context and never build
adapters themselves, so tests can build a Context from their own parts.
"""

from __future__ import annotations

import os

from coordssh.services.context import Context


def build_context(config_path: str | None, *, environ: dict[str, str] | None = None) -> Context:
    from coordssh.board.store import Board
    from coordssh.config.load import load_config
    from coordssh.forge import forge_for
    from coordssh.transport.connect import Connector

    env = os.environ if environ is None else environ
    config = load_config(config_path, environ=env)
    os.environ.setdefault("COORDSSH_STATE_DIR", str(config.state_dir))  # for the debug log
    gh = env.get("COORDSSH_GH", "gh")
    return Context(
        config=config,
        board=Board.open(config.state_dir),
        connector=Connector(max_connections=config.concurrency.max_connections),
        forge_factory=lambda repo: forge_for(repo, gh=gh),
    )
