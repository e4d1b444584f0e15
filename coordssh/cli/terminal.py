"""The operator's terminal for `coordssh attach`: raw mode (restored on every exit), keystrokes
read without blocking the event loop, output written through, window size changes passed on.

The session itself is services/attach.py's; a local tmux run is attached by exec'ing tmux.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from coordssh.services.attach import AttachPlan, attach_remote
from coordssh.services.context import Context

DEFAULT_SIZE = (80, 24)


def attach_in_terminal(ctx: Context, plan: AttachPlan) -> int:
    """Attach to the plan's session; the exit status (0 once detached)."""
    assert plan.command is not None
    if plan.local:
        argv = plan.command.argv()
        os.execvp(argv[0], argv)
    terminal = RawTerminal()
    with terminal.raw():
        return asyncio.run(terminal.serve(attach_remote(ctx, plan, terminal)))


class RawTerminal:
    def __init__(self, stdin: int = 0, stdout: int = 1) -> None:
        self.stdin, self.stdout = stdin, stdout
        self.term_type = os.environ.get("TERM") or "xterm-256color"
        self._keys: asyncio.Queue[bytes] | None = None
        self._resize: Callable[[int, int], None] | None = None

    def size(self) -> tuple[int, int]:
        for fd in (self.stdout, self.stdin):
            try:
                columns, rows = os.get_terminal_size(fd)
                return columns, rows
            except OSError:
                continue
        return DEFAULT_SIZE

    @contextmanager
    def raw(self) -> Iterator[None]:
        """Raw mode on a tty stdin (keys go through as typed, C-c and C-b included)."""
        if not os.isatty(self.stdin):
            yield
            return
        import termios
        import tty

        saved = termios.tcgetattr(self.stdin)
        tty.setraw(self.stdin, termios.TCSANOW)
        try:
            yield
        finally:
            termios.tcsetattr(self.stdin, termios.TCSADRAIN, saved)

    async def serve(self, session):
        """Run `session` (a coroutine using this terminal), then stop watching the terminal."""
        loop = asyncio.get_running_loop()
        self._keys = asyncio.Queue()
        loop.add_reader(self.stdin, self._readable)
        loop.add_signal_handler(signal.SIGWINCH, self._resized)
        try:
            return await session
        finally:
            loop.remove_reader(self.stdin)
            loop.remove_signal_handler(signal.SIGWINCH)

    async def read(self) -> bytes:
        assert self._keys is not None
        return await self._keys.get()

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self.stdout, view):]

    def on_resize(self, callback: Callable[[int, int], None]) -> None:
        self._resize = callback

    def _readable(self) -> None:
        assert self._keys is not None
        try:
            data = os.read(self.stdin, 65536)
        except OSError:
            data = b""
        if not data:  # end of input: stop watching stdin, the session goes on
            asyncio.get_running_loop().remove_reader(self.stdin)
        self._keys.put_nowait(data)

    def _resized(self) -> None:
        if self._resize is not None:
            self._resize(*self.size())
