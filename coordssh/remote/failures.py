"""Turning a remote script's exit code into a RemoteCommandFailed with a message and a hint.

Our constant scripts exit with distinct codes per step; each module keeps a table
{code: (message, hint)} and this helper adds the stderr tail and the command.
"""

from __future__ import annotations

from collections.abc import Mapping

from coordssh.errors import RemoteCommandFailed
from coordssh.transport.base import RunResult, stderr_tail


def step_failure(machine: str, result: RunResult, steps: Mapping[int, tuple[str, str]],
                 what: str) -> RemoteCommandFailed:
    """The error for `result`: its code's (message, hint), else a generic "`what` failed"."""
    tail = stderr_tail(result.stderr)
    message, hint = steps.get(result.returncode, (
        f"on {machine}: {what} failed (exit {result.returncode})", "see the message above"))
    return RemoteCommandFailed(message + (f": {tail}" if tail else ""), hint=hint, machine=machine,
                               command=result.args, exit_status=result.returncode,
                               stderr_tail=tail)
