"""Following a run's stream.jsonl: one streaming `tail -c +OFFSET -F` channel, never polling.

`LogFollower` keeps the byte offset just past the last COMPLETE line it handed out. A line cut
off by a dropped connection (or by a writer that died mid-line) is never yielded; after a
reconnect, `lines()` on a new transport resumes from the offset: no event lost, none twice.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from coordssh.shell.command import Command, sh_script
from coordssh.shell.paths import EXPAND_HOME, join
from coordssh.transport.base import Transport

STREAM_FILE = "stream.jsonl"

# `tail -c +N` counts from 1. `-F` follows by name and waits for the file to appear. Where tail
# has `--pid` (GNU), it ends once the wrapper has exited and the rest is read: a follower cut off
# by a dropped connection then cannot outlive the run on the worker.
FOLLOW_SCRIPT = EXPAND_HOME + r'''d=$(expand_home "$1") || exit 1
pid=; [ -f "$d/pid" ] && { read -r pid < "$d/pid" || :; }; pid=${pid%%[!0-9]*}
if [ -n "$pid" ] && tail --pid="$pid" -c 0 /dev/null >/dev/null 2>&1; then
  exec tail --pid="$pid" -c +"$2" -F -- "$d/stream.jsonl" 2>/dev/null
fi
exec tail -c +"$2" -F -- "$d/stream.jsonl" 2>/dev/null
'''
# The raw bytes from an offset to the current end, for `log` without -f.
READ_FROM_SCRIPT = EXPAND_HOME + 'f=$(expand_home "$1") && exec tail -c +"$2" -- "$f"'


def stream_path(run_dir: str) -> str:
    return join(run_dir, STREAM_FILE)


def follow_command(run_dir: str, offset: int = 0) -> Command:
    return sh_script(FOLLOW_SCRIPT, run_dir, str(int(offset) + 1))


def read_from_command(path: str, offset: int = 0) -> Command:
    return sh_script(READ_FROM_SCRIPT, path, str(int(offset) + 1))


class LogFollower:
    """Complete lines of a run's stream.jsonl, from `offset` on, across reconnects."""

    def __init__(self, run_dir: str, offset: int = 0) -> None:
        self.run_dir = run_dir
        self.path = stream_path(run_dir)
        self.offset = offset

    async def lines(self, transport: Transport) -> AsyncIterator[bytes]:
        """Yield each complete line (with its `\\n`) as it is appended; `offset` advances past it.

        Returns when the channel ends (the run's wrapper exited, or the tail was killed); raises
        the transport's error when the connection drops.
        Stopping early (break, cancel) ends the remote `tail`.
        """
        async with transport.streaming(follow_command(self.run_dir, self.offset)) as stream:
            async for line in stream:
                if not line.endswith(b"\n"):
                    return  # cut off: the next `lines()` re-reads it whole from `offset`
                self.offset += len(line)
                yield line


async def read_from(transport: Transport, path: str, offset: int = 0) -> bytes:
    """The bytes of `path` from `offset` to its current end ("" when it does not exist yet)."""
    result = await transport.run(read_from_command(path, offset), timeout=None)
    return result.stdout if result.ok else b""
