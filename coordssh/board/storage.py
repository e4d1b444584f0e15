"""A TinyDB Storage that never leaves a torn file, and can batch a transaction into one write.

TinyDB's own JSONStorage rewrites the file in place: a reader (or a crash) mid-write sees half
a file. Here every write goes to a temp file in the same directory, is fsynced, and replaces the
old file with `os.replace`; the directory is fsynced so the rename itself survives a crash. A
reader therefore always sees a complete file and needs no lock.

TinyDB reads the whole file before every operation and writes it after every change. Inside a
transaction (`begin` ... `commit`/`rollback`) the storage parses the file once, serves every
read from that copy, and writes once at commit. Locking across processes is the Board's job.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from tinydb.storages import Storage

from coordssh.board.shape import check_shape, corrupt_hint
from coordssh.errors import StateError

FILE_MODE = 0o600


def read_json(path: Path) -> dict[str, Any] | None:
    """The parsed file, or None when it does not exist or is empty."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except FileNotFoundError:
        return None
    if not raw.strip():
        return None
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise StateError(f"{path} is not valid JSON ({exc})", hint=corrupt_hint(path)) from exc
    if not isinstance(data, dict):
        raise StateError(f"{path} does not hold a JSON object", hint=corrupt_hint(path))
    check_shape(data, path)
    return data


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Replace `path` with `data` as JSON: temp file, fsync, rename, fsync the directory."""
    write_bytes_atomic(path, json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode())


def write_bytes_atomic(path: Path, raw: bytes) -> None:
    """Replace `path` with `raw`: temp file, fsync, rename, fsync the directory."""
    directory = path.parent
    # mkstemp creates the file 0600, which is the mode we want for every state file.
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        _unlink_quietly(tmp)
        raise
    _fsync_dir(directory)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


Stamp = tuple[int, int, int, int]


def file_stamp(path: Path) -> Stamp | None:
    """What changes whenever the file is replaced (or appended to); None when it is missing."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


class AtomicJSONStorage(Storage):
    """TinyDB storage over one JSON file, written atomically; buffered while in a transaction.

    Outside a transaction a parsed copy is kept with the file's stamp (inode, size, mtime,
    ctime): every writer replaces the file whole, so while the stamp is the same the copy is the
    file, and a command that reads the board many times parses it once. Readers get TinyDB's
    documents (copies of the rows); nested values are shared and are never changed in place.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._buffer: dict[str, Any] | None = None
        self._dirty = False
        self._snapshot: tuple[Stamp | None, dict[str, Any] | None] | None = None

    # --- the TinyDB Storage interface -----------------------------------------------------------
    def read(self) -> dict[str, Any] | None:
        if self._buffer is not None:
            return self._buffer
        stamp = file_stamp(self.path)
        if self._snapshot is not None and stamp is not None and self._snapshot[0] == stamp:
            return self._snapshot[1]
        data = read_json(self.path)
        # read again if the file was replaced while it was read: the stamp must be the data's
        self._snapshot = (stamp, data) if file_stamp(self.path) == stamp else None
        return data

    def write(self, data: dict[str, Any]) -> None:
        if self._buffer is not None:
            self._buffer = data
            self._dirty = True
        else:
            self._snapshot = None
            write_json_atomic(self.path, data)

    def close(self) -> None:
        self._buffer = None
        self._dirty = False

    # --- transactions (the caller holds the cross-process lock) ---------------------------------
    @property
    def in_transaction(self) -> bool:
        return self._buffer is not None

    def begin(self) -> None:
        self._buffer = read_json(self.path) or {}
        self._dirty = False

    def commit(self) -> None:
        """Write the buffered data once, if anything changed, and leave the transaction."""
        data, dirty = self._buffer, self._dirty
        self.close()
        if dirty and data is not None:
            self._snapshot = None
            write_json_atomic(self.path, data)
            # still under the caller's lock: nobody else can have replaced it since
            self._snapshot = (file_stamp(self.path), data)

    def rollback(self) -> None:
        self.close()
