"""The board's schema version and the migrations between versions.

The version lives in the file itself: `meta` table, document `schema`, field `version`. A file
without it is version 0 (a plain TinyDB file). Migrations work on the raw JSON dict, one step
per version, and run under the board's lock when the board is opened. A file written by a newer
coordssh is refused, never rewritten.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from coordssh.errors import StateError

SCHEMA_VERSION = 1

ASSIGNMENTS = "assignments"
KV = "kv"
META = "meta"
SCHEMA_DOC = "schema"

Migration = Callable[[dict[str, Any]], dict[str, Any]]


def schema_version(data: Mapping[str, Any]) -> int:
    return int(data.get(META, {}).get(SCHEMA_DOC, {}).get("version", 0))


def _set_version(data: dict[str, Any], version: int) -> None:
    data.setdefault(META, {})[SCHEMA_DOC] = {"version": version}


def _v0_to_v1(data: dict[str, Any]) -> dict[str, Any]:
    """Key assignment rows by their id (a plain TinyDB file keys them 1, 2, 3...)."""
    rows = data.get(ASSIGNMENTS, {})
    data[ASSIGNMENTS] = {str(row.get("id", key)): row for key, row in rows.items()}
    data.setdefault(KV, {})
    return data


# from version N (the key) to version N + 1
MIGRATIONS: dict[int, Migration] = {0: _v0_to_v1}


def migrate(data: dict[str, Any], path: Path, *, target: int = SCHEMA_VERSION,
            migrations: Mapping[int, Migration] = MIGRATIONS) -> tuple[dict[str, Any], bool]:
    """`data` brought to `target`, and whether anything changed (so the caller must write it)."""
    version = schema_version(data)
    if version > target:
        raise StateError(
            f"{path} has board schema version {version}, newer than this coordssh "
            f"understands ({target})",
            hint="upgrade coordssh (pip install -U coordssh) on this machine, or point "
                 "state_dir at another directory",
        )
    changed = False
    while version < target:
        step = migrations.get(version)
        if step is None:
            raise StateError(f"{path}: no migration from board schema version {version}",
                             hint="this is a coordssh bug; please report it with the file")
        data = step(data)
        version += 1
        _set_version(data, version)
        changed = True
    return data, changed


def new_board_data() -> dict[str, Any]:
    data: dict[str, Any] = {ASSIGNMENTS: {}, KV: {}}
    _set_version(data, SCHEMA_VERSION)
    return data
