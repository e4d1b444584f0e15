"""`coordssh log` and `coordssh attach`: the raw stream, and the way into a run's tmux session.

`attach_plan` says what attaching means for a run: `tmux attach-session` (built with the command
builder) on the operator's machine for a local run, the same command on the worker for a remote
one, or, for a nohup run (no session), following its log. A remote run is attached with
`attach_remote`: an interactive session under a pseudo-terminal over the connection every
other command uses (the same ~/.ssh/config, keys and host-key check), bridged to a `Terminal`
the CLI provides (the local terminal in raw mode).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from coordssh.domain.models import Assignment
from coordssh.remote.follow import read_from, stream_path
from coordssh.remote.tmux import session_name
from coordssh.services.context import Context
from coordssh.shell.command import Command, cmd


@dataclass(frozen=True)
class AttachPlan:
    assignment: Assignment
    command: Command | None           # None: no tmux session; follow the log instead
    local: bool = False               # run `command` here, not on the worker

    @property
    def follow_log(self) -> bool:
        return self.command is None


class Terminal(Protocol):
    """The operator's terminal, as `attach_remote` uses it."""

    term_type: str

    def size(self) -> tuple[int, int]: ...                    # (columns, rows)

    async def read(self) -> bytes: ...                        # keystrokes; b"" at end of input

    def write(self, data: bytes) -> None: ...

    def on_resize(self, callback: Callable[[int, int], None]) -> None: ...


async def read_log(ctx: Context, id_or_prefix: str) -> bytes:
    """The run's whole stream.jsonl as it is now."""
    row = ctx.board.find(id_or_prefix)
    transport = await ctx.connector.connect(ctx.config.machine(row.machine))
    async with transport:
        return await read_from(transport, stream_path(row.run_dir), 0)


def attach_plan(ctx: Context, id_or_prefix: str) -> AttachPlan:
    row = ctx.board.find(id_or_prefix)
    if row.launcher != "tmux":
        return AttachPlan(row, None)
    machine = ctx.config.machine(row.machine)
    attach = cmd("tmux", "attach-session", "-t", f"={session_name(row.id)}")
    return AttachPlan(row, attach, local=machine.connection == "local")


async def attach_remote(ctx: Context, plan: AttachPlan, terminal: Terminal) -> int:
    """Run the plan's command on the worker under a pty bridged to `terminal`; its exit status
    (tmux attach: 0 once detached)."""
    assert plan.command is not None and not plan.local
    machine = ctx.config.machine(plan.assignment.machine)
    async with await ctx.connector.connect(machine, keepalive=True) as transport:
        session = await transport.interactive(plan.command, term_type=terminal.term_type,
                                              size=terminal.size())
        terminal.on_resize(session.resize)
        keys = asyncio.create_task(_copy_keys(terminal, session))
        try:
            while output := await session.read():
                terminal.write(output)
            return await session.wait()
        finally:
            keys.cancel()
            session.close()


async def _copy_keys(terminal: Terminal, session) -> None:
    while data := await terminal.read():
        session.write(data)
