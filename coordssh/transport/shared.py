"""A Connector that lends one already open transport instead of opening new ones.

Services open their own connection (`async with await ctx.connector.connect(m) as t`). A caller
that already holds a connection to the machine (`doctor --dispatch` inside the doctor's fan-out)
gives them a SharedConnector: every `connect` returns a borrowed view of the same transport,
whose `close` does nothing; the owner closes the real one. One connection per machine.
"""

from __future__ import annotations

from collections.abc import Iterable

from coordssh.config.schema import Machine
from coordssh.errors import RemoteError, TransportError
from coordssh.shell.command import Command
from coordssh.transport.base import DEFAULT_TIMEOUT, RunResult, Stream, Transport
from coordssh.transport.connect import PerMachine, T


class Borrowed(Transport):
    """`transport` with a no-op close."""

    def __init__(self, transport: Transport) -> None:
        self.inner = transport
        self.name = transport.name

    async def run(self, command: Command, *, input: bytes | None = None,
                  timeout: float | None = DEFAULT_TIMEOUT, check: bool = False) -> RunResult:
        return await self.inner.run(command, input=input, timeout=timeout, check=check)

    def stream(self, command: Command, *, timeout: float | None = None) -> Stream:
        return self.inner.stream(command, timeout=timeout)

    async def read_file(self, path: str) -> bytes:
        return await self.inner.read_file(path)

    async def write_file(self, path: str, data: bytes, *, mode: int = 0o600) -> None:
        await self.inner.write_file(path, data, mode=mode)

    async def close(self) -> None:
        return None


class SharedConnector:
    """Connector-shaped: `connect` and `fan_out` over the one transport of `transport.name`."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    async def connect(self, machine: Machine, *, keepalive: bool = False) -> Transport:
        if machine.name != self.transport.name:
            raise TransportError(f"no shared connection to {machine.name}",
                                 hint="this command only reaches " + self.transport.name,
                                 machine=machine.name)
        return Borrowed(self.transport)

    async def fan_out(self, machines: Iterable[Machine],
                      fn: PerMachine[T]) -> dict[str, T | RemoteError]:
        results: dict[str, T | RemoteError] = {}
        for machine in machines:
            try:
                results[machine.name] = await fn(machine, await self.connect(machine))
            except RemoteError as err:
                results[machine.name] = err
        return results
