"""One Transport interface; `local.py` (asyncio subprocesses) and `ssh.py` (asyncssh) implement it.

Nothing above this package asks which implementation it holds. Both are checked by one contract
suite (tests/test_transport_contract.py) run against each.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from coordssh.errors import RemoteCommandFailed
from coordssh.shell.command import Command

DEFAULT_TIMEOUT = 30.0


@dataclass(frozen=True)
class RunResult:
    """Shaped like subprocess.CompletedProcess. `args` is the display form (secrets masked)."""

    args: str
    returncode: int
    stdout: bytes
    stderr: bytes

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def text(self) -> str:
        return self.stdout.decode("utf-8", "replace")

    @property
    def stderr_text(self) -> str:
        return self.stderr.decode("utf-8", "replace")

    def check(self, machine: str | None = None) -> RunResult:
        if self.returncode != 0:
            tail = stderr_tail(self.stderr)
            raise RemoteCommandFailed(
                f"{'on ' + machine + ': ' if machine else ''}`{_short(self.args)}` exited "
                f"{self.returncode}" + (f": {tail}" if tail else ""),
                hint="see the command's stderr above",
                machine=machine,
                command=self.args,
                exit_status=self.returncode,
                stderr_tail=tail,
            )
        return self


def stderr_tail(stderr: bytes, lines: int = 5, limit: int = 800) -> str:
    text = stderr.decode("utf-8", "replace").strip()
    tail = "\n".join(text.splitlines()[-lines:])
    return tail[-limit:]


def _short(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


class Stream(abc.ABC):
    """A running command whose stdout is read line by line (complete lines, `\\n` kept)."""

    @abc.abstractmethod
    def __aiter__(self) -> AsyncIterator[bytes]: ...

    @abc.abstractmethod
    async def wait(self) -> int:
        """Wait for exit and return the exit status."""

    @abc.abstractmethod
    async def terminate(self) -> None:
        """Stop the command (idempotent)."""


class Transport(abc.ABC):
    """A connection to one machine. Use as an async context manager, or call `close()`."""

    name: str  # the machine's name in coordinator.yml

    @abc.abstractmethod
    async def run(self, command: Command, *, input: bytes | None = None,
                  timeout: float | None = DEFAULT_TIMEOUT, check: bool = False) -> RunResult:
        """Run `command` (rendered by the command builder), optionally feeding `input` on stdin.

        stdin is always closed (empty when `input` is None). On timeout the command is killed and
        RemoteTimeout is raised. With `check=True` a non-zero exit raises RemoteCommandFailed.
        """

    @abc.abstractmethod
    def stream(self, command: Command, *, timeout: float | None = None) -> Stream:
        """Start `command` and yield its stdout line by line as it arrives (no polling)."""

    @abc.abstractmethod
    async def read_file(self, path: str) -> bytes:
        """The bytes of `path` (absolute, or `~/...`). Missing file -> RemoteCommandFailed."""

    @abc.abstractmethod
    async def write_file(self, path: str, data: bytes, *, mode: int = 0o600) -> None:
        """Write atomically (temp file in the same directory, then rename); parents created 0700."""

    @abc.abstractmethod
    async def close(self) -> None: ...

    async def __aenter__(self) -> Transport:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @asynccontextmanager
    async def streaming(self, command: Command, *, timeout: float | None = None):
        stream = self.stream(command, timeout=timeout)
        try:
            yield stream
        finally:
            await stream.terminate()
