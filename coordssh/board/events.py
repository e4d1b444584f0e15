"""The board's history: append-only JSON lines, one event a line, outside board.json.

  events.jsonl          the hot history: appended under the board lock, in seq order
  events-archive.jsonl  the history of finished work items moved out by `coordssh gc`
                        (services/gc.compact); read only by `work --history`, `report`, and
                        a notify cursor that fell behind a compaction

An event is {seq, work, at, kind, run, data}; `seq` is strictly increasing in events.jsonl (the
next one is `kv["events.seq"]` + 1). Appends are whole lines written with one `write` and
fsynced; a crash can leave a torn last line, which readers skip and the next append ends with a
newline first. Compaction rewrites events.jsonl whole (temp file, rename) after appending the
moved events to the archive, so a crash in between leaves an event in both files: readers keep
one per seq. A line in the middle that is not an event is a corrupt history: refused with the
file named (`shape.check_event`).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Container, Iterable, Mapping
from pathlib import Path
from typing import Any

from coordssh.board.shape import check_event
from coordssh.board.storage import FILE_MODE, file_stamp, write_bytes_atomic

BLOCK = 64 * 1024
_WORK = re.compile(rb'"work":("(?:[^"\\]|\\.)*")')


def _line(event: Mapping[str, Any]) -> bytes:
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


class EventLog:
    """One JSON-lines file of events (or, with `check=shape.check_row_line`, of run rows)."""

    def __init__(self, path: Path, check: Callable[..., dict[str, Any]] = check_event) -> None:
        self.path = Path(path)
        self._check = check
        self._kept: tuple[Any, list[dict[str, Any]]] | None = None

    # --- reads (no lock: lines are only ever appended whole, the file replaced whole) ---------
    def read(self) -> list[dict[str, Any]]:
        """Every event in the file, in file order (parsed again only when the file changed:
        `work --history` of every item reads it once). Not to be changed in place."""
        stamp = file_stamp(self.path)
        if stamp is None:
            return []
        if self._kept is not None and self._kept[0] == stamp:
            return self._kept[1]
        found = self._parse(self.path.read_bytes(), at_start=True)
        self._kept = (stamp, found) if file_stamp(self.path) == stamp else None
        return found

    def of(self, key: str) -> list[dict[str, Any]]:
        """The events of the item `key`: from the parsed file when it is kept, else only the
        lines that name the item are parsed (`"work":KEY` as our writer writes it)."""
        stamp = file_stamp(self.path)
        if stamp is None:
            return []
        if self._kept is not None and self._kept[0] == stamp:
            return [e for e in self._kept[1] if e["work"] == key]
        needle = b'"work":' + json.dumps(key, ensure_ascii=False).encode()
        lines = self.path.read_bytes().split(b"\n")[:-1]     # the last: empty or torn
        return [e for e in (self._check(line, self.path, n + 1)
                            for n, line in enumerate(lines) if needle in line)
                if e["work"] == key]

    def count_of(self, keys: Container[str]) -> int:
        """About how many events of the items `keys` the file holds, without parsing it (at
        least as many: a `"work":` inside an event's data counts too)."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return 0
        return sum(1 for found in _WORK.finditer(raw) if json.loads(found.group(1)) in keys)

    def since(self, seq: int) -> list[dict[str, Any]]:
        """The events after `seq` (the file must be in seq order: events.jsonl is), read from
        the end backwards: a cursor near the end costs the new lines, not the whole history."""
        def enough(buf: bytes) -> bool:
            first = buf.find(b"\n")
            if first < 0 or first + 1 >= len(buf):
                return False
            head = self._seq_of(buf[first + 1:buf.find(b"\n", first + 1) + 1 or None])
            return head is not None and head <= seq

        buf, at_start = self._read_back(enough)
        return [event for event in self._parse(buf, at_start=at_start) if event["seq"] > seq]

    def last_seq(self) -> int:
        """The seq of the last complete event (0: none); what an append must go past."""
        tail = self.tail(1)
        return tail[-1]["seq"] if tail else 0

    def tail(self, count: int) -> list[dict[str, Any]]:
        """The last `count` events of the file, oldest first."""
        buf, at_start = self._read_back(lambda buf: buf.count(b"\n") > count + 1)
        return self._parse(buf, at_start=at_start)[-count:] if count else []

    def _read_back(self, enough: Callable[[bytes], bool]) -> tuple[bytes, bool]:
        """The end of the file, read a block at a time backwards until `enough` of it; and
        whether that is the whole file."""
        try:
            fh = open(self.path, "rb")
        except FileNotFoundError:
            return b"", True
        with fh:
            pos, buf = fh.seek(0, os.SEEK_END), b""
            while pos > 0 and not enough(buf):
                step = min(BLOCK, pos)
                pos -= step
                fh.seek(pos)
                buf = fh.read(step) + buf
        return buf, pos == 0

    def _parse(self, raw: bytes, *, at_start: bool) -> list[dict[str, Any]]:
        lines = raw.split(b"\n")
        if not at_start:
            lines = lines[1:]             # the first piece may be the end of an earlier line
        if lines:
            lines.pop()                   # after the last newline: empty, or a torn line
        found = []
        for number, line in enumerate(lines):
            if line.strip():
                found.append(self._check(line, self.path, number + 1 if at_start else None))
        return found

    @staticmethod
    def _seq_of(line: bytes) -> int | None:
        try:
            seq = json.loads(line).get("seq")
        except (ValueError, AttributeError):
            return None
        return seq if isinstance(seq, int) else None

    # --- writes (the caller holds the board lock) ----------------------------------------------
    def append(self, events: Iterable[Mapping[str, Any]]) -> None:
        """Append whole lines in one write and fsync (a torn last line is ended first)."""
        data = b"".join(_line(event) for event in events)
        if not data:
            return
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, FILE_MODE)
        try:
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                os.ftruncate(fd, _complete_size(fd, size))   # a torn line: never half an event
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)

    def rewrite(self, events: Iterable[Mapping[str, Any]]) -> None:
        """Replace the file with `events` (temp file, fsync, rename)."""
        write_bytes_atomic(self.path, b"".join(_line(event) for event in events))


def _complete_size(fd: int, size: int) -> int:
    """The length of the file up to and including its last newline."""
    pos = size
    while pos > 0:
        step = min(BLOCK, pos)
        pos -= step
        at = os.pread(fd, step, pos).rfind(b"\n")
        if at >= 0:
            return pos + at + 1
    return 0


def merged(*sources: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The events of every source, one per seq, in seq order (a crash mid-compaction can leave
    an event in both files)."""
    by_seq: dict[int, dict[str, Any]] = {}
    for source in sources:
        for event in source:
            by_seq.setdefault(event["seq"], dict(event))
    return [by_seq[seq] for seq in sorted(by_seq)]
