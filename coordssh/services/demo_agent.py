"""Which agent `coordssh demo` runs: the real `claude` (installed and logged in) or the replay agent.

`auto` never spends money by surprise and never fails for want of a login: it picks `claude` only
when `claude auth status` exits 0, and otherwise the replay agent; either way it says why.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass

from coordssh.agent.replay import REPLAY_LABEL
from coordssh.errors import ForgeError, UsageError
from coordssh.forge.process import run_program
from coordssh.shell.command import cmd

AGENTS = ("auto", "claude", "replay")
AUTH_TIMEOUT_S = 20.0
CLAUDE_LABEL = "claude: Claude Code itself (runs on your Claude plan or API key)"


@dataclass(frozen=True)
class AgentChoice:
    name: str            # "claude" | "replay"
    label: str           # what it is, for the operator
    reason: str          # why it was chosen
    claude_path: str = ""


async def choose_agent(requested: str, *, claude: str = "claude",
                       env: Mapping[str, str] | None = None) -> AgentChoice:
    if requested not in AGENTS:
        raise UsageError(f"unknown agent '{requested}'", f"use one of: {', '.join(AGENTS)}")
    if requested == "replay":
        return AgentChoice("replay", REPLAY_LABEL, "asked for with --agent replay")
    environ = dict(os.environ if env is None else env)
    path = shutil.which(claude, path=environ.get("PATH"))
    logged_in, detail = await _logged_in(path, environ) if path else (False, f"not installed (no `{claude}` on PATH)")
    if logged_in:
        why = "asked for with --agent claude" if requested == "claude" else \
            f"`{path}` is installed and logged in (`claude auth status` exit 0)"
        return AgentChoice("claude", CLAUDE_LABEL, why, path)
    if requested == "claude":
        raise UsageError(f"--agent claude: claude is {detail}",
                         "install Claude Code and run `claude auth login`, or use --agent replay")
    return AgentChoice("replay", REPLAY_LABEL, f"claude is {detail}")


async def _logged_in(path: str, env: dict[str, str]) -> tuple[bool, str]:
    env.pop("CLAUDECODE", None)  # a nested-session guard would refuse
    try:
        result = await run_program(cmd(path, "auth", "status"), env=env, timeout=AUTH_TIMEOUT_S)
    except ForgeError as err:
        return False, f"not answering ({err.message})"
    if result.returncode == 0:
        return True, "logged in"
    return False, f"installed but not logged in (`claude auth status` exited {result.returncode})"
