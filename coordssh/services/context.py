"""The context every service receives: config, board, connector, forge, clock.

Services never build their own adapters; the composition root (`coordssh/cli/context.py`) or a
test builds a Context and passes it in.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from coordssh.board.store import Board
    from coordssh.config.schema import Config, Repo
    from coordssh.forge.base import Forge
    from coordssh.transport.connect import Connector


@dataclass
class Context:
    config: Config
    board: Board
    connector: Connector
    forge_factory: Callable[[Repo], Forge]    # repo -> forge (GitHub via gh, or plain git)
    clock: Callable[[], float] = time.time
    extras: dict[str, Any] = field(default_factory=dict)

    def forge(self, repo: Repo) -> Forge:
        return self.forge_factory(repo)
