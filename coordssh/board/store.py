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
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from coordssh.board.archives import ColdRuns, Compaction, RowArchive
from coordssh.board.events import EventLog
from coordssh.board.migrate import (
    ASSIGNMENTS,
    EVENTS,
    SCHEMA_VERSION,
    migrate,
    new_board_data,
    schema_version,
)
from coordssh.board.storage import FILE_MODE, AtomicJSONStorage, read_json, write_json_atomic
from coordssh.board.tx import BoardDB, Tx, match_prefix
from coordssh.board.work_records import WorkReads
from coordssh.domain.models import Assignment
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
        self._db = BoardDB(storage=lambda: self._storage)
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
