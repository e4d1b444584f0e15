"""The SSH transport over asyncssh. Imported only when an ssh machine is connected.

One connection per host per command; each call opens a channel on it (sshd allows 10 at once by
default, so callers keep at most 9 in flight). Commands are rendered by the command builder and
run by the remote login shell.

Stopping a remote command: closing the channel does not stop it (without a pty nothing sends
SIGHUP), and sshd refuses "signal" requests in some set-ups (root logins: "session signalling
requires privilege separation"). So every command first reports its process group id on stdout
(sshd starts each exec in a new session, so the login shell's `$$` is the group), and a timeout
or terminate() kills that group with `kill` over a second channel. The marker line is removed
before anyone sees stdout.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncssh

from coordssh.errors import RemoteTimeout, Unreachable
from coordssh.shell.command import Command, Raw, cmd, sh_script
from coordssh.shell.paths import EXPAND_HOME
from coordssh.transport.base import DEFAULT_TIMEOUT, RunResult, Stream, Transport
from coordssh.transport.lines import timed_lines
from coordssh.transport.pty import PtySession

PGID_MARK = b"\x1ecoordssh-pgid "
PGID_PRINTF = Command("printf", "\\036coordssh-pgid %s\\n", Raw('"$$"'), Raw(";"))
KILL_TIMEOUT = 10.0
# sshd's default MaxSessions is 10 channels per connection; one stays free for `kill`
MAX_CHANNELS = 9

# Remote file helpers: the path arrives as "$1" (expanded by expand_home), data on stdin.
READ_SCRIPT = EXPAND_HOME + 'p=$(expand_home "$1") && exec cat -- "$p"'
WRITE_SCRIPT = EXPAND_HOME + r'''p=$(expand_home "$1"); mode=$2
umask 077
d=$(dirname -- "$p") && mkdir -p -- "$d" || exit 1
t="$d/.$(basename -- "$p").$$.tmp"
trap 'rm -f -- "$t"' EXIT
cat > "$t" && chmod "$mode" "$t" && mv -f -- "$t" "$p"
'''


class SSHTransport(Transport):
    def __init__(self, name: str, conn: asyncssh.SSHClientConnection, *,
                 max_channels: int = MAX_CHANNELS) -> None:
        self.name = name
        self._conn = conn
        # callers may gather many runs on one transport: queue them below sshd's MaxSessions
        self.channels = asyncio.Semaphore(max_channels)

    async def run(self, command: Command, *, input: bytes | None = None,
                  timeout: float | None = DEFAULT_TIMEOUT, check: bool = False) -> RunResult:
        async with self.channels:
            return await self._run(command, input, timeout, check)

    async def _run(self, command: Command, input: bytes | None, timeout: float | None,
                   check: bool) -> RunResult:
        process = await self._open(command)
        pgid: list[int] = []  # filled as soon as the marker arrives, for the timeout path
        try:
            if input:
                process.stdin.write(input)
            process.stdin.write_eof()  # stdin is always closed: an open pipe hangs `claude`
            out, err = await asyncio.wait_for(self._collect(process, pgid), timeout)
        except TimeoutError:
            await self._kill(process, pgid, "KILL")
            raise RemoteTimeout(
                f"on {self.name}: `{command.display()[:120]}` ran past its {timeout:g}s timeout "
                "and was killed", hint="raise the timeout or check why the command hangs",
                machine=self.name) from None
        except (asyncssh.Error, OSError) as exc:
            process.close()
            raise self._lost(exc) from exc
        except BaseException:  # cancelled: never leave the remote command running
            await asyncio.shield(self._kill(process, pgid, "KILL"))
            raise
        result = RunResult(command.display(), _returncode(process, self.name), out, err)
        return result.check(self.name) if check else result

    async def _collect(self, process: asyncssh.SSHClientProcess,
                       pgid: list[int]) -> tuple[bytes, bytes]:
        found = await read_pgid(process.stdout)
        if found is not None:
            pgid.append(found)
        return await process.communicate()

    async def _open(self, command: Command, **redirects) -> asyncssh.SSHClientProcess:
        try:
            return await self._conn.create_process(Command(PGID_PRINTF, command).render(),
                                                   encoding=None, **redirects)
        except (asyncssh.Error, OSError) as exc:
            raise self._lost(exc) from exc

    async def _kill(self, process: asyncssh.SSHClientProcess, pgid: list[int],
                    signal: str) -> None:
        """Signal the remote process group, then close the channel (idempotent, never raises)."""
        try:
            process.send_signal(signal)  # honoured by some sshd set-ups; harmless elsewhere
        except (OSError, asyncssh.Error):
            pass
        if pgid:
            try:
                # no `--`: dash's kill rejects it, and `-SIG -PGID` works in every POSIX sh
                await self._conn.run(cmd("kill", f"-{signal}", f"-{pgid[0]}").render(),
                                     stdin=asyncssh.DEVNULL, timeout=KILL_TIMEOUT)
            except (asyncssh.Error, OSError, TimeoutError):
                pass  # the group is gone already, or the connection is: nothing more to do here
        process.close()

    def _lost(self, exc: BaseException) -> Unreachable:
        return Unreachable(
            f"lost the SSH connection to {self.name}: {exc}",
            hint="check the machine and the network, then retry", machine=self.name)

    def stream(self, command: Command, *, timeout: float | None = None) -> Stream:
        return SSHStream(self, command, timeout)

    async def interactive(self, command: Command, *, term_type: str,
                          size: tuple[int, int]) -> PtySession:
        """`command` under a pseudo-terminal of `size` (columns, rows), for a person to use."""
        try:
            process = await self._conn.create_process(command.render(), term_type=term_type,
                                                      term_size=size, encoding=None)
        except (asyncssh.Error, OSError) as exc:
            raise self._lost(exc) from exc
        return PtySession(self.name, process)

    async def read_file(self, path: str) -> bytes:
        return (await self.run(sh_script(READ_SCRIPT, path), check=True)).stdout

    async def write_file(self, path: str, data: bytes, *, mode: int = 0o600) -> None:
        await self.run(sh_script(WRITE_SCRIPT, path, format(mode, "o")), input=data, check=True)

    async def close(self) -> None:
        self._conn.close()
        try:
            await self._conn.wait_closed()
        except (asyncssh.Error, OSError):
            pass

    def __repr__(self) -> str:
        return f"SSHTransport({self.name!r})"


class SSHStream(Stream):
    """stdout of a remote command, line by line as it arrives; stderr is discarded."""

    def __init__(self, transport: SSHTransport, command: Command, timeout: float | None) -> None:
        self._transport = transport
        self._command = command
        self._timeout = timeout
        self._process: asyncssh.SSHClientProcess | None = None
        self._pgid: list[int] = []
        self._started = asyncio.Lock()
        self._holds_channel = False

    async def _started_process(self) -> asyncssh.SSHClientProcess:
        async with self._started:
            if self._process is None:
                await self._transport.channels.acquire()
                self._holds_channel = True
                try:
                    self._process = await self._transport._open(
                        self._command, stdin=asyncssh.DEVNULL, stderr=asyncssh.DEVNULL)
                except BaseException:
                    self._release()
                    raise
                found = await read_pgid(self._process.stdout)
                if found is not None:
                    self._pgid.append(found)
        return self._process

    def _release(self) -> None:
        if self._holds_channel:
            self._holds_channel = False
            self._transport.channels.release()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async def readline() -> bytes:
            return await (await self._started_process()).stdout.readline()

        try:
            async for line in timed_lines(readline, self._timeout, self.terminate,
                                          self._transport.name, self._command):
                yield line
        except (asyncssh.Error, OSError) as exc:
            raise self._transport._lost(exc) from exc
        self._release()

    async def wait(self) -> int:
        process = await self._started_process()
        try:
            await process.wait_closed()
        except (asyncssh.Error, OSError) as exc:
            raise self._transport._lost(exc) from exc
        finally:
            self._release()
        return _returncode(process, self._transport.name)

    async def terminate(self) -> None:
        if self._process is not None and self._process.returncode is None:
            await self._transport._kill(self._process, self._pgid, "TERM")
            try:
                await asyncio.wait_for(self._process.wait_closed(), KILL_TIMEOUT)
            except (TimeoutError, asyncssh.Error, OSError):
                pass
        self._release()


async def read_pgid(stdout: asyncssh.SSHReader) -> int | None:
    """Consume stdout up to and including the marker line; its process group id.

    Lines before the marker are noise from the login shell's rc files, which would otherwise
    corrupt the output anyway; they are dropped.
    """
    while True:
        line = await stdout.readline()
        if not line:
            return None
        if line.startswith(PGID_MARK):
            return int(line[len(PGID_MARK):].strip() or 0) or None


def _returncode(process: asyncssh.SSHClientProcess, machine: str) -> int:
    """The exit status as a shell reports it: 128+N when the command was killed by signal N."""
    code = process.returncode  # asyncssh: -N for an exit-signal
    if code is None:
        raise Unreachable(f"lost the SSH connection to {machine} before the command exited",
                          hint="check the machine and the network, then retry", machine=machine)
    return 128 - code if code < 0 else code
