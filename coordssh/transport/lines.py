"""Reading a stream's stdout line by line under one overall deadline (shared by both transports)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

from coordssh.errors import RemoteTimeout
from coordssh.shell.command import Command


async def timed_lines(readline: Callable[[], Awaitable[bytes]], timeout: float | None,
                      expired: Callable[[], Awaitable[None]], machine: str,
                      command: Command) -> AsyncIterator[bytes]:
    """Yield lines from `readline()` until EOF; past `timeout` seconds in all, await `expired()`
    (which stops the command) and raise RemoteTimeout.

    A last line without "\\n" is incomplete: the writer was cut off mid-line.
    """
    loop = asyncio.get_running_loop()
    deadline = None if timeout is None else loop.time() + timeout
    while True:
        left = None if deadline is None else max(0.0, deadline - loop.time())
        try:
            line = await asyncio.wait_for(readline(), left)
        except TimeoutError:
            await expired()
            raise RemoteTimeout(f"on {machine}: stream `{command.display()[:120]}` ran past its "
                                f"{timeout:g}s timeout and was stopped", machine=machine) from None
        if not line:
            return
        yield line
