"""A board transaction (`Tx`): the rows, kv and work records of one locked read-modify-write,
changed in memory and written once by `Board.transaction` (board/store.py). Also the TinyDB
subclasses the board uses (string document ids, never scan-inserted)."""

from __future__ import annotations

import builtins
import copy
from collections.abc import Iterable, Mapping
from typing import Any

from tinydb import TinyDB
from tinydb.table import Document, Table

from coordssh.board.archives import ColdRuns, RowArchive
from coordssh.board.events import EventLog
from coordssh.board.migrate import ASSIGNMENTS, KV, WORK
from coordssh.board.work_records import WorkRecords
from coordssh.domain.models import LIVE_STATUSES, TERMINAL_STATUSES, Assignment
from coordssh.errors import NotFound


class _IdTable(Table):
    document_id_class = str


class BoardDB(TinyDB):
    table_class = _IdTable


def _finished_key(row: Mapping[str, Any]) -> float:
    return row.get("finished_at") or row.get("updated_at") or row.get("created_at") or 0.0


def _row_matches(row: Mapping[str, Any], machine: str | None, live_only: bool) -> bool:
    if machine is not None and row.get("machine") != machine:
        return False
    return not live_only or row.get("status") in LIVE_STATUSES


def _assignment(row: Mapping[str, Any]) -> Assignment:
    """A row as an Assignment with its own `extra` (the parsed board is shared by reads)."""
    found = dict(row)
    if isinstance(found.get("extra"), dict):
        found["extra"] = dict(found["extra"])
    return Assignment.from_dict(found)


def _sorted(rows: Iterable[Mapping[str, Any]]) -> builtins.list[Assignment]:
    found = sorted(rows, key=lambda r: (r.get("created_at") or 0.0, r.get("id", "")))
    return [_assignment(r) for r in found]


class Tx(WorkRecords):
    """Reads and writes on one snapshot of the board. Made by `Board.transaction()`."""

    def __init__(self, db: BoardDB, archive: RowArchive, cold: ColdRuns, log: EventLog,
                 archive_log: EventLog) -> None:
        self._table = db.table(ASSIGNMENTS, cache_size=0)
        self._kv = db.table(KV, cache_size=0)
        self._work = db.table(WORK, cache_size=0)
        self._archive, self._cold = archive, cold
        self._log, self._archive_log = log, archive_log
        self._new_events: builtins.list[dict[str, Any]] = []
        self._seq: int | None = None
        self._pending: dict[str, dict[str, Any]] = {}

    @property
    def _rows(self) -> Table:
        """The assignments table with pending puts applied.

        Each TinyDB write copies the whole table, so puts are collected and applied with two
        operations (remove the old rows, insert the new ones) before the next read or the commit.
        """
        if self._pending:
            pending, self._pending = self._pending, {}
            self._table.remove(doc_ids=[i for i in pending if self._table.contains(doc_id=i)])
            self._table.insert_multiple(Document(row, doc_id=i) for i, row in pending.items())
        return self._table

    def flush(self) -> None:
        self._rows  # noqa: B018 (the property applies the pending puts)

    def get(self, assignment_id: str) -> Assignment | None:
        doc = self._rows.get(doc_id=assignment_id)
        if doc is None:
            doc = self._archive.rows().get(assignment_id)
        if doc is None:
            doc = self._cold.rows().get(assignment_id)
        return _assignment(doc) if doc is not None else None

    def put(self, assignment: Assignment) -> None:
        self._pending[assignment.id] = assignment.to_dict()

    def update(self, assignment_id: str, **changes: Any) -> Assignment:
        current = self.get(assignment_id)
        if current is None:
            raise NotFound(f"no assignment '{assignment_id}' on the board",
                           hint="`coordssh status` lists the assignments")
        updated = current.evolve(**changes)
        self.put(updated)
        return updated

    def list(self, *, machine: str | None = None, live_only: bool = False,
             include_archived: bool = False, cold: bool = True) -> builtins.list[Assignment]:
        rows = {doc.doc_id: doc for doc in self._rows.all() if _row_matches(doc, machine, live_only)}
        if include_archived and not live_only:
            for source in (self._archive, self._cold) if cold else (self._archive,):
                for key, row in source.rows().items():
                    if key not in rows and _row_matches(row, machine, False):
                        rows[key] = row
        return _sorted(rows.values())

    def ids(self, *, include_archived: bool = True) -> set[str]:
        found = {doc.doc_id for doc in self._rows.all()}
        if include_archived:
            found.update(self._archive.rows())
            found.update(self._cold.rows())
        return found

    def archive_cold(self, ids: Iterable[str]) -> int:
        """Move rows of board-archive.json to runs-archive.jsonl; how many moved. Appended
        first, so a crash in between leaves a row in both (read once)."""
        warm = self._archive.rows()
        moving = [warm[i] for i in ids if i in warm]
        if moving:
            self._cold.log.append(moving)
            gone = {str(r["id"]) for r in moving}
            self._archive.replace({k: v for k, v in warm.items() if k not in gone})
        return len(moving)

    def kv_get(self, key: str, default: Any = None) -> Any:
        doc = self._kv.get(doc_id=key)
        return default if doc is None else copy.deepcopy(doc.get("value", default))

    def kv_set(self, key: str, value: Any) -> None:
        self._kv.upsert(Document({"value": value}, doc_id=key))

    def archive_overflow(self, keep: int, chunk: int) -> int:
        """Move the oldest finished rows past `keep` to the archive; the number moved."""
        if len(self._rows) <= keep + chunk:
            return 0
        finished = [doc for doc in self._rows.all() if doc.get("status") in TERMINAL_STATUSES]
        if len(finished) <= keep + chunk:
            return 0
        finished.sort(key=_finished_key)
        old = finished[: len(finished) - keep]
        # Archive first: a crash in between leaves a row in both files, and board.json wins.
        self._archive.add(old)
        self._rows.remove(doc_ids=[doc.doc_id for doc in old])
        return len(old)


def match_prefix(ids: Iterable[str], prefix: str) -> builtins.list[str]:
    return sorted(i for i in ids if i.startswith(prefix))
