"""The board's work items (`work_items`, keyed "repo#issue") and their history (`events`).

`WorkRecords` is mixed into the board's transaction (`Tx`); `WorkReads` into `Board` for the
lock-free reads. The only writer is `services/pipeline.py` (`apply`), inside a transaction:
an item is put and its event appended in the same write.
"""

from __future__ import annotations

import builtins
from typing import Any

from tinydb.table import Document, Table

from coordssh.board.migrate import EVENT_SEQ, event_doc_id
from coordssh.domain.work import Event, WorkItem


class WorkRecords:
    """Needs `_work` and `_events` tables and `kv_get`/`kv_set` from the class it is mixed into."""

    _work: Table
    _events: Table
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
        """Append to the history; the event's sequence number (strictly increasing)."""
        seq = int(self.kv_get(EVENT_SEQ, 0)) + 1
        self._events.insert(Document({"seq": seq, "work": key, "at": at, "kind": event.kind,
                                      "run": event.run, "data": dict(event.data)},
                                     doc_id=event_doc_id(seq)))
        self.kv_set(EVENT_SEQ, seq)
        return seq

    def events(self, key: str | None = None) -> builtins.list[dict[str, Any]]:
        """The history of `key` (every item's when None), oldest first."""
        found = [dict(doc) for doc in self._events.all() if key is None or doc["work"] == key]
        return sorted(found, key=lambda doc: doc["seq"])


class WorkReads:
    """Reads without the lock (the board file is only ever replaced whole)."""

    _reader: Any   # the Board's: the open transaction, or a fresh snapshot

    def get_work(self, key: str) -> WorkItem | None:
        return self._reader().get_work(key)

    def list_work(self) -> builtins.list[WorkItem]:
        return self._reader().list_work()

    def events(self, key: str | None = None) -> builtins.list[dict[str, Any]]:
        return self._reader().events(key)
