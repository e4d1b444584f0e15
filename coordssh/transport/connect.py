"""The Connector: one transport per machine per command, opened concurrently behind a semaphore.

    connector = Connector(max_connections=config.concurrency.max_connections)
    async with await connector.connect(machine) as transport: ...
    results = await connector.fan_out(machines, probe)   # {name: value | RemoteError}

asyncssh is imported only when an ssh machine is connected (it costs ~130 ms of start-up).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

from coordssh.config.schema import Machine
from coordssh.errors import ConnectTimeout, RemoteError
from coordssh.transport.base import Transport

T = TypeVar("T")
PerMachine = Callable[[Machine, Transport], Awaitable[T]]


class Connector:
    def __init__(self, *, max_connections: int = 48) -> None:
        self.max_connections = max_connections
        self._semaphores: dict[asyncio.AbstractEventLoop, asyncio.Semaphore] = {}
        self._known_hosts = None  # a KnownHostsCache once an ssh machine is connected

    def _setup(self) -> asyncio.Semaphore:
        """The set-up semaphore of the running loop (a CLI may call asyncio.run more than once
        with one Connector, and a semaphore cannot cross loops)."""
        loop = asyncio.get_running_loop()
        if loop not in self._semaphores:
            self._semaphores = {loop: asyncio.Semaphore(self.max_connections)}
        return self._semaphores[loop]

    async def connect(self, machine: Machine, *, keepalive: bool = False) -> Transport:
        """Open a transport to `machine`. `keepalive` only for long-lived uses (follow, live)."""
        if machine.connection == "local":
            from coordssh.transport.local import LocalTransport

            return LocalTransport(machine.name)
        from coordssh.transport.ssh_connect import KnownHostsCache, open_ssh

        if self._known_hosts is None:  # each known_hosts file parsed once per command
            self._known_hosts = KnownHostsCache()
        async with self._setup():  # bounds connection set-up, not the life of the connection
            return await open_ssh(machine, keepalive=keepalive, known_hosts=self._known_hosts)

    async def fan_out(self, machines: Iterable[Machine],
                      fn: PerMachine[T]) -> dict[str, T | RemoteError]:
        """Run `fn(machine, transport)` on every machine at once; failures come back as values.

        One host's failure never hides the others: its RemoteError is its result (a
        TransportError: unreachable; RemoteCommandFailed: reached, a command failed). Connecting
        is bounded by the machine's connect_timeout; `fn` bounds its own calls.
        """
        machines = list(machines)
        results = await asyncio.gather(*(self._one(m, fn) for m in machines))
        return {m.name: result for m, result in zip(machines, results)}

    async def _one(self, machine: Machine, fn: PerMachine[T]) -> T | RemoteError:
        try:
            transport = await asyncio.wait_for(self.connect(machine),
                                               _connect_budget(machine))
        except RemoteError as err:
            return err
        except TimeoutError:
            return ConnectTimeout(
                f"connecting to {machine.name} ({machine.host}) took longer than "
                f"{_connect_budget(machine):g}s",
                hint="check the machine, or raise connect_timeout", machine=machine.name)
        try:
            return await fn(machine, transport)
        except RemoteError as err:
            return err
        finally:
            await transport.close()


def _connect_budget(machine: Machine) -> float:
    """asyncssh enforces connect_timeout itself; this outer bound also covers the queue wait
    behind the semaphore and a connect that never honours it."""
    return machine.connect_timeout * 3 + 5
