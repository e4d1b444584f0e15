"""The board: assignments, work items and their event history, a small key-value table and the
schema version, in TinyDB.

Files in the state directory (created 0700; every file 0600):
  board.json            live rows and recent finished ones (what `status` reads), work items, kv
  board-archive.json    finished rows moved out of board.json (see `keep_terminal`)
  events.jsonl          the work items' history, appended (board/events.py); since schema 3
  events-archive.jsonl  the history of finished items moved out by `coordssh gc`
  runs-archive.jsonl    archived rows of finished items moved out of board-archive.json by
                        `coordssh gc` once nothing is left to clean up after them (cold: read
                        by `get`/`find` of such a run, `report`, `assign`'s claims)
  board.lock            the cross-process lock held across every read-modify-write

Writes take the lock, read once, change in memory, and write once (AtomicJSONStorage: temp file,
fsync, rename). Reads take no lock: the file is only ever replaced whole, so a reader always sees
a complete board. `notify` from cron and an interactive command can therefore run together.
Opening a board that exists and is current is a read too, so a command that only reads never
takes the lock (nor imports filelock).

Rows are keyed by assignment id (TinyDB document ids are strings here, never scan-inserted).
Every write keeps at most `keep_terminal` finished rows in board.json, moving the oldest to the
archive in chunks, so the cost of `status` does not grow with history (TinyDB re-parses the whole
file on every operation). `get`/`find` still see archived rows; a row in both files (an archived
row put again) is read from board.json.
"""

from __future__ import annotations

import builtins
import copy
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tinydb import TinyDB
from tinydb.table import Document, Table

from coordssh.board.archives import ColdRuns, Compaction, RowArchive
from coordssh.board.events import EventLog
from coordssh.board.migrate import (
    ASSIGNMENTS,
    EVENTS,
    KV,
    SCHEMA_VERSION,
    WORK,
    migrate,
    new_board_data,
    schema_version,
)
from coordssh.board.storage import FILE_MODE, AtomicJSONStorage, read_json, write_json_atomic
from coordssh.board.work_records import WorkReads, WorkRecords
from coordssh.domain.models import LIVE_STATUSES, TERMINAL_STATUSES, Assignment
from coordssh.errors import NotFound, StateError, UsageError

BOARD_FILE = "board.json"
ARCHIVE_FILE = "board-archive.json"
EVENTS_FILE = "events.jsonl"
EVENTS_ARCHIVE_FILE = "events-archive.jsonl"
COLD_FILE = "runs-archive.jsonl"
LOCK_FILE = "board.lock"

KEEP_TERMINAL = 300       # finished rows kept in board.json (status shows recent history)
ARCHIVE_CHUNK = 100       # move rows only once this many are over, so the archive is rarely rewritten
LOCK_TIMEOUT_S = 30.0


class _IdTable(Table):
    document_id_class = str


class _BoardDB(TinyDB):
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

    def __init__(self, db: _BoardDB, archive: RowArchive, cold: ColdRuns, log: EventLog,
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


class Board(WorkReads, Compaction):
    """The operator's record of assignments. Open with `Board.open(state_dir)`."""

    def __init__(self, state_dir: Path, *, keep_terminal: int = KEEP_TERMINAL,
                 archive_chunk: int = ARCHIVE_CHUNK, lock_timeout: float = LOCK_TIMEOUT_S) -> None:
        self.state_dir = Path(state_dir)
        self.path = self.state_dir / BOARD_FILE
        self.archive_path = self.state_dir / ARCHIVE_FILE
        self.events_path = self.state_dir / EVENTS_FILE
        self.events_archive_path = self.state_dir / EVENTS_ARCHIVE_FILE
        self._archive = RowArchive(self.archive_path)
        self.cold_path = self.state_dir / COLD_FILE
        self._cold = ColdRuns(self.cold_path)
        self._log = EventLog(self.events_path)
        self._archive_log = EventLog(self.events_archive_path)
        self.lock_path = self.state_dir / LOCK_FILE
        self._storage = AtomicJSONStorage(self.path)
        self._db = _BoardDB(storage=lambda: self._storage)
        self._lock: Any = None   # a filelock.FileLock, made by the first write
        self._lock_timeout = lock_timeout
        self._keep, self._chunk = keep_terminal, archive_chunk
        self._tx: Tx | None = None

    @classmethod
    def open(cls, state_dir: Path, **options: Any) -> Board:
        """Create the state dir (0700) and the board if missing; migrate an older schema."""
        board = cls(state_dir, **options)
        found = board._storage.read()     # kept: the command's first read uses it
        if found is not None and schema_version(found) == SCHEMA_VERSION and \
                not found.get(EVENTS):
            return board  # nothing to write: no lock
        board.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        with board._locked():
            data = read_json(board.path)
            if data is None:
                write_json_atomic(board.path, new_board_data())
            else:
                archived = (read_json(board.archive_path) or {}).get(ASSIGNMENTS, {})
                data, changed = migrate(data, board.path, archived=archived)
                if data.get(EVENTS) is not None:
                    board._move_events(data.pop(EVENTS))
                    changed = True
                if changed:
                    write_json_atomic(board.path, data)
        return board

    # --- reads (no lock; the file is replaced whole) --------------------------------------------
    def _reader(self) -> Tx:
        return self._tx or self._new_tx()

    def _new_tx(self) -> Tx:
        return Tx(self._db, self._archive, self._cold, self._log, self._archive_log)

    def get(self, assignment_id: str) -> Assignment | None:
        return self._reader().get(assignment_id)

    def find(self, id_or_prefix: str) -> Assignment:
        prefix = id_or_prefix.strip()
        if not prefix:
            raise UsageError("an assignment id is required",
                             hint="`coordssh status` lists the assignments and their ids")
        reader = self._reader()
        exact = reader.get(prefix)
        if exact is not None:
            return exact
        matches = match_prefix(reader.ids(), prefix)
        if not matches:
            raise NotFound(f"no assignment id starts with '{prefix}'",
                           hint="`coordssh status` lists the assignments and their ids")
        if len(matches) > 1:
            shown = ", ".join(matches[:8]) + (", ..." if len(matches) > 8 else "")
            raise NotFound(f"'{prefix}' matches {len(matches)} assignments: {shown}",
                           hint="type more characters of the id")
        found = reader.get(matches[0])
        assert found is not None  # the id came from the same snapshot
        return found

    def list(self, *, machine: str | None = None, live_only: bool = False,
             include_archived: bool = False, cold: bool = True) -> builtins.list[Assignment]:
        """Assignments by creation time. Archived (old finished) rows only with include_archived;
        `cold=False` leaves out those `coordssh gc` moved to runs-archive.jsonl (finished
        over max(run_dir_max_age, 2 days) ago, nothing left to clean up)."""
        return self._reader().list(machine=machine, live_only=live_only,
                                   include_archived=include_archived, cold=cold)

    def kv_get(self, key: str, default: Any = None) -> Any:
        return self._reader().kv_get(key, default)

    # --- writes (each one locked read-modify-write) ---------------------------------------------
    def put(self, assignment: Assignment) -> None:
        with self.transaction() as tx:
            tx.put(assignment)

    def update_many(self, changes: Mapping[str, Mapping[str, Any]]) -> None:
        """Apply {id: {field: value}} in one write; an unknown id changes nothing (NotFound)."""
        with self.transaction() as tx:
            for assignment_id, fields in changes.items():
                tx.update(assignment_id, **fields)

    def kv_set(self, key: str, value: Any) -> None:
        with self.transaction() as tx:
            tx.kv_set(key, value)

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        """The exclusive lock for the block; written once at exit, not at all on an exception.

        A transaction opened inside another one joins it.
        """
        if self._tx is not None:
            yield self._tx
            return
        with self._locked():
            self._storage.begin()
            tx = self._tx = self._new_tx()
            try:
                yield tx
                tx.flush()
                tx.archive_overflow(self._keep, self._chunk)
                # the history first: a crash in between leaves an event whose board change is
                # lost (observed again, its comment deduplicated by key), never the reverse
                tx.flush_events()
            except BaseException:
                self._storage.rollback()
                raise
            else:
                self._storage.commit()
            finally:
                self._tx = None

    @contextmanager
    def _locked(self) -> Iterator[None]:
        import filelock  # only writers lock

        if self._lock is None:
            self._lock = filelock.FileLock(self.lock_path, timeout=self._lock_timeout,
                                           mode=FILE_MODE)
        try:
            self._lock.acquire()
        except filelock.Timeout:
            raise StateError(
                f"the board is locked by another coordssh process for over "
                f"{self._lock_timeout:.0f} s ({self.lock_path})",
                hint=f"wait for the other command to finish; `fuser {self.lock_path}` shows who "
                     "holds it",
            ) from None
        try:
            yield
        finally:
            self._lock.release()
