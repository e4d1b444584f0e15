"""An interactive session on a worker: one command under a pseudo-terminal, over the SSH
connection every other command uses (same ~/.ssh/config, keys and host-key check).

`SSHTransport.interactive()` opens one. Bytes in, bytes out (the terminal's output and errors
arrive together, as on any terminal), the window size can change while it runs, and `wait()`
gives the exit status as a shell reports it.
"""

from __future__ import annotations

import asyncssh

from coordssh.errors import Unreachable


class PtySession:
    def __init__(self, name: str, process: asyncssh.SSHClientProcess) -> None:
        self.name = name
        self._process = process

    async def read(self) -> bytes:
        """The next output; b"" once the command has ended."""
        try:
            return await self._process.stdout.read(65536)
        except (asyncssh.Error, OSError) as exc:
            raise _lost(self.name, exc) from exc

    def write(self, data: bytes) -> None:
        try:
            self._process.stdin.write(data)
        except (asyncssh.Error, OSError, BrokenPipeError):
            pass  # the command is ending; read() reports the end

    def resize(self, columns: int, rows: int) -> None:
        try:
            self._process.change_terminal_size(columns, rows)
        except (asyncssh.Error, OSError):
            pass

    async def wait(self) -> int:
        try:
            await self._process.wait_closed()
        except (asyncssh.Error, OSError) as exc:
            raise _lost(self.name, exc) from exc
        code = self._process.returncode  # -N for an exit signal
        if code is None:
            raise _lost(self.name, "the session ended without an exit status")
        return 128 - code if code < 0 else code

    def close(self) -> None:
        self._process.close()


def _lost(name: str, exc: object) -> Unreachable:
    return Unreachable(f"lost the SSH connection to {name}: {exc}",
                       hint="check the machine and the network, then attach again", machine=name)
