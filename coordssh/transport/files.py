"""File reads and atomic writes on the operator's machine (the local transport's file half).

Blocking functions: the local transport runs them in a thread.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from coordssh.errors import RemoteCommandFailed
from coordssh.shell.paths import expand_with


def expand_local(path: str) -> Path:
    """`~/x` against this process's HOME (as the worker's shell would), else the path as is."""
    return Path(expand_with(path, os.path.expanduser("~")))


def read_local(machine: str, path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise RemoteCommandFailed(
            f"on {machine}: cannot read {path}: {exc.strerror}",
            hint="check that the path exists on that machine", machine=machine,
            command=f"read {path}", exit_status=1, stderr_tail=str(exc)) from exc


def write_local(machine: str, path: Path, data: bytes, mode: int = 0o600) -> None:
    try:
        atomic_write(path, data, mode)
    except OSError as exc:
        raise RemoteCommandFailed(
            f"on {machine}: cannot write {path}: {exc.strerror}",
            hint="check the permissions and free space on that machine", machine=machine,
            command=f"write {path}", exit_status=1, stderr_tail=str(exc)) from exc


def make_private_dirs(path: Path) -> None:
    """mkdir -p where every directory created here gets 0700 (makedirs' mode skips parents)."""
    missing = []
    while not path.exists():
        missing.append(path)
        path = path.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=0o700)
        except FileExistsError:
            continue
        os.chmod(directory, 0o700)  # the umask may have narrowed the mode further; never widened


def atomic_write(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write `data` to a temp file beside `path`, fsync, chmod, then rename over `path`.

    Missing parents are created with mode 0700 (run directories must be private).
    """
    make_private_dirs(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
