"""The local transport: asyncio subprocesses on the operator's machine (`connection: local`).

A command without Raw parts is exec'd directly; otherwise it runs as `sh -c RENDERED`, exactly
the string an SSH server would hand to the login shell. Every child starts in its own session
(process group), so a timeout or terminate() ends the whole tree it started, not only `sh`.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator

from coordssh.errors import RemoteTimeout
from coordssh.shell.command import Command
from coordssh.transport.base import DEFAULT_TIMEOUT, RunResult, Stream, Transport
from coordssh.transport.files import expand_local, read_local, write_local
from coordssh.transport.lines import timed_lines

LINE_LIMIT = 64 * 1024 * 1024   # one stream-json line can be large (tool results)
KILL_GRACE = 5.0                # seconds between SIGTERM and SIGKILL on terminate()


class LocalTransport(Transport):
    def __init__(self, name: str, env: dict[str, str] | None = None) -> None:
        self.name = name
        self._env = {**os.environ, **env} if env else None

    async def run(self, command: Command, *, input: bytes | None = None,
                  timeout: float | None = DEFAULT_TIMEOUT, check: bool = False) -> RunResult:
        try:
            proc = await self._spawn(command, stdin=asyncio.subprocess.PIPE,
                                     stdout=asyncio.subprocess.PIPE)
        except OSError as exc:  # the program is missing: report it like a shell would
            return self._finish(command, RunResult(command.display(), 127, b"",
                                                   f"{exc}\n".encode()), check)
        try:
            out, err = await asyncio.wait_for(proc.communicate(input or b""), timeout)
        except TimeoutError:
            await _kill_group(proc)
            raise RemoteTimeout(
                f"on {self.name}: `{command.display()[:120]}` ran past its {timeout:g}s timeout "
                "and was killed", hint="raise the timeout or check why the command hangs",
                machine=self.name) from None
        except BaseException:  # cancelled: never leave the child running
            await _kill_group(proc)
            raise
        # killed by signal N: asyncio says -N, a shell (and so an SSH server) says 128+N
        code = 128 - proc.returncode if proc.returncode < 0 else proc.returncode
        return self._finish(command, RunResult(command.display(), code, out, err), check)

    def _finish(self, command: Command, result: RunResult, check: bool) -> RunResult:
        return result.check(self.name) if check else result

    def stream(self, command: Command, *, timeout: float | None = None) -> Stream:
        return LocalStream(self, command, timeout)

    async def _spawn(self, command: Command, **pipes) -> asyncio.subprocess.Process:
        argv = command.argv() or ["sh", "-c", command.render()]
        return await asyncio.create_subprocess_exec(
            *argv, stderr=pipes.pop("stderr", asyncio.subprocess.PIPE), env=self._env,
            start_new_session=True, limit=LINE_LIMIT, **pipes)

    async def read_file(self, path: str) -> bytes:
        return await asyncio.to_thread(read_local, self.name, expand_local(path))

    async def write_file(self, path: str, data: bytes, *, mode: int = 0o600) -> None:
        await asyncio.to_thread(write_local, self.name, expand_local(path), data, mode)

    async def close(self) -> None:
        return None

    def __repr__(self) -> str:
        return f"LocalTransport({self.name!r})"


class LocalStream(Stream):
    """stdout of a local child, line by line; stderr is discarded (a follower only wants data)."""

    def __init__(self, transport: LocalTransport, command: Command, timeout: float | None) -> None:
        self._transport = transport
        self._command = command
        self._timeout = timeout
        self._proc: asyncio.subprocess.Process | None = None
        self._started = asyncio.Lock()

    async def _process(self) -> asyncio.subprocess.Process:
        async with self._started:
            if self._proc is None:
                self._proc = await self._transport._spawn(
                    self._command, stdin=asyncio.subprocess.DEVNULL,
                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
        return self._proc

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async def readline() -> bytes:
            return await (await self._process()).stdout.readline()

        async for line in timed_lines(readline, self._timeout, self.terminate,
                                      self._transport.name, self._command):
            yield line

    async def wait(self) -> int:
        code = await (await self._process()).wait()
        return 128 - code if code < 0 else code

    async def terminate(self) -> None:
        if self._proc is not None:
            await _kill_group(self._proc)


async def _kill_group(proc: asyncio.subprocess.Process) -> None:
    """SIGTERM the child's process group, then SIGKILL what is left of it, and reap the child.

    The group outlives its leader (`sh` may exit before its children), hence the final SIGKILL
    even when the leader went quietly.
    """
    if proc.returncode is None:
        _signal_group(proc.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), KILL_GRACE)
        except TimeoutError:
            pass
    _signal_group(proc.pid, signal.SIGKILL)
    await proc.wait()


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass
