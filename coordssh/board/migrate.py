"""The board's schema version and the migrations between versions.

The version lives in the file itself: `meta` table, document `schema`, field `version`. A file
without it is version 0 (a plain TinyDB file). Migrations work on the raw JSON dict, one step
per version, and run under the board's lock when the board is opened. A file written by a newer
coordssh is refused, never rewritten. A step also gets the archived rows (board-archive.json)
for reading: v1 -> v2 builds each work item from all of its runs.

Versions: 0 a plain TinyDB file; 1 assignments keyed by id, `kv`; 2 adds `work_items` (keyed
"repo#issue") and `events` (the history, keyed by a zero-padded sequence number; the next
number is `kv["events.seq"]`), and every assignment row names its work item (`work`); 3 moves
`events` out of board.json into events.jsonl (board/events.py; `Board.open` does the move).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from coordssh.errors import StateError

SCHEMA_VERSION = 3

ASSIGNMENTS = "assignments"
KV = "kv"
WORK = "work_items"
EVENTS = "events"
EVENT_SEQ = "events.seq"
ARCHIVED_SEQ = "events.archived_seq"   # the highest seq `coordssh gc` moved to the archive
META = "meta"
SCHEMA_DOC = "schema"

Rows = Mapping[str, Mapping[str, Any]]
Migration = Callable[[dict[str, Any], Rows], dict[str, Any]]


def schema_version(data: Mapping[str, Any]) -> int:
    return int(data.get(META, {}).get(SCHEMA_DOC, {}).get("version", 0))


def _set_version(data: dict[str, Any], version: int) -> None:
    data.setdefault(META, {})[SCHEMA_DOC] = {"version": version}


def event_doc_id(seq: int) -> str:
    return f"{seq:012d}"


def _v0_to_v1(data: dict[str, Any], archived: Rows) -> dict[str, Any]:
    """Key assignment rows by their id (a plain TinyDB file keys them 1, 2, 3...)."""
    rows = data.get(ASSIGNMENTS, {})
    data[ASSIGNMENTS] = {str(row.get("id", key)): row for key, row in rows.items()}
    data.setdefault(KV, {})
    return data


def _v1_to_v2(data: dict[str, Any], archived: Rows) -> dict[str, Any]:
    """Work items from the assignment rows: one per repo#issue (domain/work_migration.py),
    each with one `migrated` event in its history; every row gets its `work` key."""
    from coordssh.domain.stages import MIGRATED
    from coordssh.domain.work import work_key
    from coordssh.domain.work_migration import item_from_runs

    now = time.time()
    rows = data.get(ASSIGNMENTS, {})
    by_key: dict[str, dict[str, Mapping[str, Any]]] = {}
    for source in (archived, rows):   # a row in both files is read from board.json
        for row_id, row in source.items():
            key = work_key(row["repo"], row["issue"])
            by_key.setdefault(key, {})[str(row.get("id", row_id))] = row
    for row in rows.values():
        row["work"] = work_key(row["repo"], row["issue"])
    kv = data.setdefault(KV, {})
    seq = int(kv.get(EVENT_SEQ, {}).get("value", 0))
    work, events = data.setdefault(WORK, {}), data.setdefault(EVENTS, {})
    for key in sorted(by_key):
        item = item_from_runs(list(by_key[key].values()), now)
        work[key] = item.to_dict()
        seq += 1
        events[event_doc_id(seq)] = {"seq": seq, "work": key, "at": now, "kind": MIGRATED,
                                     "run": "", "data": {"from_version": 1, "stage": item.stage,
                                                         "runs": list(item.runs)}}
    kv[EVENT_SEQ] = {"value": seq}
    return data


def _v2_to_v3(data: dict[str, Any], archived: Rows) -> dict[str, Any]:
    """The history leaves board.json: `Board.open` appends the `events` table to events.jsonl
    (before it writes board.json without it); nothing else changes."""
    data.setdefault(EVENTS, {})
    return data


# from version N (the key) to version N + 1
MIGRATIONS: dict[int, Migration] = {0: _v0_to_v1, 1: _v1_to_v2, 2: _v2_to_v3}


def migrate(data: dict[str, Any], path: Path, *, target: int = SCHEMA_VERSION,
            migrations: Mapping[int, Migration] = MIGRATIONS,
            archived: Rows | None = None) -> tuple[dict[str, Any], bool]:
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
        data = step(data, archived or {})
        version += 1
        _set_version(data, version)
        changed = True
    return data, changed


def new_board_data() -> dict[str, Any]:
    data: dict[str, Any] = {ASSIGNMENTS: {}, KV: {}, WORK: {}}
    _set_version(data, SCHEMA_VERSION)
    return data
