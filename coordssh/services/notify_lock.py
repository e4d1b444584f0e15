"""The driver's lock: ONE `notify` pass at a time (LESSONS 16), never blocking.

`<state_dir>/notify.lock`, an exclusive `flock` taken with LOCK_NB. The holder writes
{pid, host, since} into the file once it holds it, so a second `notify` (cron starting one while
a long pass runs) exits 0 at once, naming who holds it and since when. The kernel drops the
lock when the holder dies, even by SIGKILL: a crashed pass never blocks the next one. It is
separate from the board lock, which stays per transaction (interactive commands keep working
during a pass).
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LOCK_FILE = "notify.lock"


@dataclass(frozen=True)
class Holder:
    pid: int | None
    host: str
    since: float | None

    def to_json(self) -> dict[str, Any]:
        return {"pid": self.pid, "host": self.host, "since": self.since}


class PassLock:
    def __init__(self, state_dir: Path) -> None:
        self.path = Path(state_dir) / LOCK_FILE
        self._fd: int | None = None

    def acquire(self, now: float) -> Holder | None:
        """Take the lock: None when taken, else who holds it (the caller exits 0)."""
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return self.holder()
        me = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": now})
        os.ftruncate(fd, 0)
        os.pwrite(fd, me.encode(), 0)
        self._fd = fd
        return None

    def holder(self) -> Holder:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8") or "{}")
        except (OSError, ValueError):
            data = {}
        return Holder(data.get("pid"), data.get("host", "?"), data.get("since"))

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        os.ftruncate(fd, 0)
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def checkpoint(name: str) -> None:
    """Stop here when COORDSSH_NOTIFY_PAUSE names this checkpoint (the crash tests kill the pass
    there with SIGKILL; COORDSSH_NOTIFY_PAUSE_FILE gets the pid once it waits)."""
    if os.environ.get("COORDSSH_NOTIFY_PAUSE") != name:
        return
    flag = os.environ.get("COORDSSH_NOTIFY_PAUSE_FILE")
    if flag:
        with open(flag, "w", encoding="utf-8") as fh:
            fh.write(str(os.getpid()))
    while True:
        time.sleep(1)
