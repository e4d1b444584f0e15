"""Run one operator-side program (gh, git) from an argv: no shell, stdin fed or closed, a timeout.

The result is a transport RunResult (shaped like subprocess.CompletedProcess).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Mapping
from pathlib import Path

from coordssh.errors import CoordError, ForgeError, ForgeUnreachable
from coordssh.shell.command import Command
from coordssh.transport.base import RunResult


async def run_program(command: Command, *, input: bytes | None = None,
                      env: Mapping[str, str] | None = None, cwd: Path | str | None = None,
                      timeout: float = 60.0,
                      missing: Callable[[], CoordError] | None = None) -> RunResult:
    """Run `command` (which must have no Raw part) and return its status and output.

    A missing executable raises `missing()` (or a ForgeError naming it); running past `timeout`
    kills the program and raises ForgeError.
    """
    argv = command.argv()
    if argv is None:
        raise TypeError("run_program runs an argv; this command needs a shell")
    stdin = asyncio.subprocess.PIPE if input is not None else asyncio.subprocess.DEVNULL
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=stdin, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            env=dict(env) if env is not None else None, cwd=cwd)
    except (FileNotFoundError, PermissionError) as exc:
        raise (missing() if missing else ForgeError(
            f"`{argv[0]}` could not be started: {exc.strerror}",
            f"install {os.path.basename(argv[0])} or fix its path")) from exc
    try:
        out, err = await asyncio.wait_for(proc.communicate(input), timeout)
    except BaseException as exc:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        if isinstance(exc, TimeoutError):
            raise ForgeUnreachable(f"`{command.display()[:100]}` ran past {timeout:g}s and was "
                                   "killed", "check the network, or run the command by hand"
                                   ) from None
        raise
    return RunResult(command.display(), proc.returncode, out, err)
