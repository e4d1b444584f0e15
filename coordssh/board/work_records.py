"""The board's work items (`work_items`, keyed "repo#issue") and their history (events.jsonl).

`WorkRecords` is mixed into the board's transaction (`Tx`); `WorkReads` into `Board` for the
lock-free reads. The only writer is `services/pipeline.py` (`apply`), inside a transaction:
an item is put and its event appended in the same write.
"""

from __future__ import annotations

import builtins
from typing import Any

from tinydb.table import Document, Table

from coordssh.board.events import EventLog, merged
from coordssh.board.migrate import ARCHIVED_SEQ, EVENT_SEQ
from coordssh.domain.work import Event, WorkItem


class WorkRecords:
    """Needs `_work`, the event logs and `kv_get`/`kv_set` from the class it is mixed into."""

    _work: Table
    _log: EventLog
    _archive_log: EventLog
    _new_events: list[dict[str, Any]]
    _seq: int | None
    kv_get: Any
    kv_set: Any

    def get_work(self, key: str) -> WorkItem | None:
        doc = self._work.get(doc_id=key)
        return WorkItem.from_dict(doc) if doc is not None else None

    def put_work(self, item: WorkItem) -> None:
        self._work.upsert(Document(item.to_dict(), doc_id=item.key))

    def list_work(self) -> builtins.list[WorkItem]:
        items = [WorkItem.from_dict(doc) for doc in self._work.all()]
        return sorted(items, key=lambda item: (item.created_at, item.key))

    def append_event(self, key: str, event: Event, at: float) -> int:
        """Append to the history (written to events.jsonl when the transaction commits); the
        event's sequence number (strictly increasing, past any line already in the file)."""
        if self._seq is None:
            self._seq = max(int(self.kv_get(EVENT_SEQ, 0)), self._log.last_seq())
        self._seq += 1
        self._new_events.append({"seq": self._seq, "work": key, "at": at, "kind": event.kind,
                                 "run": event.run, "data": dict(event.data)})
        self.kv_set(EVENT_SEQ, self._seq)
        return self._seq

    def flush_events(self) -> None:
        """Append this transaction's events to the log (the board lock is held)."""
        new, self._new_events = self._new_events, []
        self._log.append(new)

    def events(self, key: str | None = None, *,
               archived: bool = True) -> builtins.list[dict[str, Any]]:
        """The history of `key` (every item's when None), oldest first; with `archived`, what
        `coordssh gc` moved to events-archive.jsonl too."""
        def of(log: EventLog) -> builtins.list[dict[str, Any]]:
            return log.read() if key is None else log.of(key)

        sources = [of(self._log), [e for e in self._new_events if key in (None, e["work"])]]
        if archived:
            sources.insert(0, of(self._archive_log))
        return merged(*sources)

    def events_since(self, seq: int) -> builtins.list[dict[str, Any]]:
        """The events after `seq`, oldest first: the end of events.jsonl (and the archive only
        when a compaction moved events past `seq` there)."""
        sources = [self._log.since(seq), [e for e in self._new_events if e["seq"] > seq]]
        if int(self.kv_get(ARCHIVED_SEQ, 0) or 0) > seq:
            sources.append(e for e in self._archive_log.read() if e["seq"] > seq)
        return merged(*sources)

    def recent_events(self, count: int) -> builtins.list[dict[str, Any]]:
        """The last `count` events of events.jsonl, oldest first."""
        return merged(self._log.tail(count), self._new_events)[-count:]


class WorkReads:
    """Reads without the lock (the board file is only ever replaced whole, the history only
    appended to)."""

    _reader: Any   # the Board's: the open transaction, or a fresh snapshot

    def get_work(self, key: str) -> WorkItem | None:
        return self._reader().get_work(key)

    def list_work(self) -> builtins.list[WorkItem]:
        return self._reader().list_work()

    def events(self, key: str | None = None, *,
               archived: bool = True) -> builtins.list[dict[str, Any]]:
        return self._reader().events(key, archived=archived)

    def events_since(self, seq: int) -> builtins.list[dict[str, Any]]:
        return self._reader().events_since(seq)

    def recent_events(self, count: int) -> builtins.list[dict[str, Any]]:
        return self._reader().recent_events(count)
