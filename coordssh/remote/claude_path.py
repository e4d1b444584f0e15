"""Find `claude` on a worker: non-interactive SSH has a thin PATH (LESSONS 8).

A configured absolute path (or `~/...`) is taken as is. A bare name is looked up with
`command -v`, then in the user's login shell (which reads the profile that puts ~/.local/bin or
nvm on PATH), then in the places the installers use. The result is cached on the board under
`claude_path_key(machine)` by `coordssh doctor`; launching code reads the cache and falls back
to `resolve_claude_path` when it is empty.
"""

from __future__ import annotations

from coordssh.shell.command import sh_script
from coordssh.shell.paths import EXPAND_HOME
from coordssh.transport.base import Transport

# Sets claude_path ('' when not found) and claude_via (configured|path|login-shell|known-location).
# Needs EXPAND_HOME. The login shell's profile may print noise: only a line starting with / counts.
RESOLVE_CLAUDE = r'''
resolve_claude() {
  claude_path=; claude_via=
  c=$(expand_home "$1")
  case $c in /*) claude_path=$c; claude_via=configured; return 0;; esac
  p=$(command -v "$c" 2>/dev/null)
  case $p in /*) claude_path=$p; claude_via=path; return 0;; esac
  p=$("${SHELL:-/bin/sh}" -l -c 'command -v "$1"' coordssh "$c" </dev/null 2>/dev/null | grep '^/' | tail -n 1)
  case $p in /*) claude_path=$p; claude_via=login-shell; return 0;; esac
  [ "$c" = claude ] || return 0
  for p in "$HOME/.local/bin/claude" "$HOME/.npm-global/bin/claude" \
           "$HOME"/.nvm/versions/node/*/bin/claude /usr/local/bin/claude; do
    if [ -x "$p" ] && [ ! -d "$p" ]; then claude_path=$p; claude_via=known-location; return 0; fi
  done
}
'''

RESOLVE_ONLY_SCRIPT = EXPAND_HOME + RESOLVE_CLAUDE + r'''
resolve_claude "$1"
[ -n "$claude_path" ] && [ -x "$claude_path" ] && printf '%s\n' "$claude_path"
'''


def claude_path_key(machine: str) -> str:
    """The board kv key of the resolved absolute path of `claude` on `machine`."""
    return f"claude_path:{machine}"


async def resolve_claude_path(transport: Transport, claude_command: str,
                              timeout: float = 30.0) -> str | None:
    """The absolute path of an executable `claude` on the transport's machine, or None."""
    result = await transport.run(sh_script(RESOLVE_ONLY_SCRIPT, claude_command), timeout=timeout)
    lines = result.text.splitlines()
    return lines[-1] if result.ok and lines and lines[-1].startswith("/") else None
