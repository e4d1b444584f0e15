"""What a plain-git forge cannot keep in git: its PRs, comments, reviews and created issues.

One JSON file per repo under the state directory (`<state_dir>/forge/<repo>.json`, 0600), read
and rewritten whole under a file lock, so two coordssh processes never lose each other's
comments and the marker look-up of `post_once` works like on GitHub. Without a state directory
the store lives in memory (one process).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from coordssh.errors import StateError
from coordssh.transport.files import atomic_write, make_private_dirs


def _empty() -> dict[str, Any]:
    return {"issues": {}, "pulls": {}, "comments": {}, "reviews": {}, "next_id": 1}


class ForgeStore:
    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._memory = _empty()

    def read(self) -> dict[str, Any]:
        if self.path is None:
            return self._memory
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return _empty()
        try:
            return {**_empty(), **json.loads(text)}
        except ValueError as exc:
            raise StateError(f"the plain-git forge file {self.path} is not valid JSON",
                             "restore it from a backup, or move it aside to start afresh") from exc

    @contextmanager
    def edit(self) -> Iterator[dict[str, Any]]:
        """The data, locked for this process; saved when the block ends without an error."""
        if self.path is None:
            yield self._memory
            return
        import filelock

        make_private_dirs(self.path.parent)
        with filelock.FileLock(str(self.path) + ".lock", timeout=60):
            data = self.read()
            yield data
            atomic_write(self.path, json.dumps(data, indent=1, sort_keys=True).encode())

    @staticmethod
    def next_id(data: dict[str, Any]) -> int:
        data["next_id"] = int(data.get("next_id", 1)) + 1
        return data["next_id"] - 1
