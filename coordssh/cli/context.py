"""The composition root: the one place that picks concrete adapters for a command.

Commands call `build_context(config_option)`; services receive the Context and never build
adapters themselves, so tests can build a Context from their own parts.
"""

from __future__ import annotations

import os
from pathlib import Path
from collections.abc import Iterable
from typing import TYPE_CHECKING

from coordssh.services.context import Context

if TYPE_CHECKING:
    from coordssh.config.schema import Config, Repo
    from coordssh.forge.base import Forge
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
    made: dict[str, Forge] = {}

    def forge(repo: Repo) -> Forge:
        from coordssh.forge import forge_for  # only commands that read issues need it

        if repo.name not in made:  # one per repo per command: its pacing and back-off hold
            path, origin = git_origin(config, repo)
            made[repo.name] = forge_for(repo, gh=gh, issues=issues, state_dir=config.state_dir,
                                        path=path, origin=origin)
        return made[repo.name]

    return Context(
        config=config,
        board=Board.open(config.state_dir),
        connector=Connector(max_connections=config.concurrency.max_connections),
        forge_factory=forge,
    )


def git_origin(config: Config, repo: Repo) -> tuple[Path | None, str | None]:
    """Where a plain-git repo's pull requests live: (the operator's clone, whose `origin` remote
    it is; or the repo's `url`). The clone is the repo's path on a local machine. GitHub repos
    need neither."""
    if repo.github:
        return None, None
    for machine in config.machines.values():
        path = machine.repo_paths.get(repo.name)
        if machine.connection == "local" and path:
            return Path(path).expanduser(), repo.url
    return None, repo.url
