"""The board's archives beside board.json, and their compaction (a mixin of `Board`).

  board-archive.json    finished rows past `keep_terminal` (RowArchive: rewritten whole)
  runs-archive.jsonl    rows moved on by `coordssh gc` (ColdRuns: appended, JSON lines)
  events-archive.jsonl  the history moved on by `coordssh gc` (an EventLog)

Each is read lazily and parsed again only when its file changed. Every move appends to (or
writes) the destination before it removes from the source, under the board lock: a crash in
between leaves a row or an event in both places, and readers keep one (board.json's row, the
first event of a seq).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from coordssh.board.events import EventLog
from coordssh.board.migrate import ARCHIVED_SEQ, ASSIGNMENTS, migrate, new_board_data
from coordssh.board.shape import check_row_line
from coordssh.board.storage import file_stamp, read_json, write_json_atomic


class RowArchive:
    """board-archive.json, loaded lazily (most commands never touch it) and again only when
    the file was replaced."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._rows: dict[str, dict[str, Any]] | None = None
        self._stamp: Any = None

    def rows(self) -> dict[str, dict[str, Any]]:
        stamp = file_stamp(self.path)
        if self._rows is None or stamp != self._stamp:
            data = read_json(self.path)
            data = migrate(data, self.path)[0] if data is not None else new_board_data()
            self._rows, self._stamp = data.get(ASSIGNMENTS, {}), stamp
        return self._rows

    def add(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Append rows and rewrite the archive (the caller holds the board lock)."""
        merged = dict(self.rows())
        merged.update({str(r["id"]): dict(r) for r in rows})
        self.replace(merged)

    def replace(self, rows: dict[str, dict[str, Any]]) -> None:
        """Rewrite the archive with `rows` (the caller holds the board lock)."""
        data = new_board_data()
        data[ASSIGNMENTS] = rows
        write_json_atomic(self.path, data)
        self._rows, self._stamp = rows, file_stamp(self.path)


class ColdRuns:
    """runs-archive.jsonl: rows appended by `coordssh gc`, read whole, again only when it
    changed; a row in it and in board-archive.json (a crash mid-move) is read from the latter."""

    def __init__(self, path: Path) -> None:
        self.log = EventLog(path, check=check_row_line)
        self._rows: dict[str, dict[str, Any]] | None = None
        self._stamp: Any = None

    def rows(self) -> dict[str, dict[str, Any]]:
        stamp = file_stamp(self.log.path)
        if self._rows is None or stamp != self._stamp:
            found: dict[str, dict[str, Any]] = {}
            for row in self.log.read():
                found.setdefault(str(row["id"]), row)
            self._rows, self._stamp = found, stamp
        return self._rows


class Compaction:
    """Needs the Board's paths, `_archive`, `_locked()` and `transaction()`."""

    events_path: Path
    events_archive_path: Path
    cold_path: Path
    _archive: RowArchive
    _locked: Any
    transaction: Any

    def _move_events(self, table: Mapping[str, Mapping[str, Any]]) -> None:
        """The `events` table of a schema-2 board, appended to events.jsonl (under the lock).
        Written before board.json loses the table: a crash in between moves them again, and
        only those past the file's last seq are appended."""
        log = EventLog(self.events_path)
        last = log.last_seq()
        log.append(sorted((dict(e) for e in table.values() if e["seq"] > last),
                          key=lambda e: e["seq"]))

    def maybe_cold(self, assignment_id: str) -> bool:
        """Whether runs-archive.jsonl may hold the run: a byte search of the file, without
        parsing it (a false yes only makes `assign` draw another id)."""
        try:
            raw = self.cold_path.read_bytes()
        except FileNotFoundError:
            return False
        return json.dumps(assignment_id).encode() in raw

    def archive_cold(self, run_ids: Iterable[str], *, minimum: int = 1) -> int:
        """Move archived rows to runs-archive.jsonl when at least `minimum` would move."""
        run_ids = [i for i in run_ids if i in self._archive.rows()]
        if len(run_ids) < minimum or not run_ids:
            return 0          # looked without the lock
        with self.transaction() as tx:
            return tx.archive_cold(run_ids)

    def compact_events(self, keys: Iterable[str], *, minimum: int = 1) -> int:
        """Move the history of the items `keys` from events.jsonl to events-archive.jsonl, when
        at least `minimum` events would move; how many moved. Under the board lock: first the
        board records the highest seq moved (so `events_since` knows to look in the archive),
        then the archive is appended to, then events.jsonl replaced without them. A crash at any
        point loses nothing: an event in both files is read once."""
        keys = set(keys)
        if EventLog(self.events_path).count_of(keys) < minimum:
            return 0          # looked without the lock: most notify passes stop here
        with self._locked():
            log = EventLog(self.events_path)
            hot = log.read()
            moving = [e for e in hot if e["work"] in keys]
            if not moving or len(moving) < minimum:
                return 0
            with self.transaction() as tx:     # the lock is re-entrant
                top = max(e["seq"] for e in moving)
                tx.kv_set(ARCHIVED_SEQ, max(top, int(tx.kv_get(ARCHIVED_SEQ, 0) or 0)))
            EventLog(self.events_archive_path).append(moving)
            log.rewrite(e for e in hot if e["work"] not in keys)
        return len(moving)
