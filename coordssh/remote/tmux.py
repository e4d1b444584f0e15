"""tmux hygiene: a finished run's pane is captured to `pane.log`, then its session is ended.

Runs under tmux use `remain-on-exit` (a quick death stays visible), so a dead pane would stay
forever. The dispatch script records the session name in the run dir (`tmux_session`); once the
envelope is complete (`finished_at`), the run probe itself calls `reap_pane` in the same exec
(remote/probe.py), so an observation costs no extra round trip. A run that ended without
`finished_at` (killed, crashed) is reaped by `reap_panes`: one exec for all of a machine's runs.

Both are idempotent: a missing session, or no tmux at all, is fine. `pane.log` is 0600.
"""

from __future__ import annotations

from collections.abc import Sequence

from coordssh.shell.command import Command, sh_script
from coordssh.shell.paths import EXPAND_HOME
from coordssh.transport.base import Transport

SESSION_FILE = "tmux_session"     # in the run dir: the session name, written at launch
PANE_LOG = "pane.log"
PANE_LINES = 2000                 # scrollback kept in pane.log
REAP_TIMEOUT = 30.0

# $1 = run dir (absolute), $2 = session name. Always returns 0.
REAP_PANE_FN = r'''
reap_pane() {
  command -v tmux >/dev/null 2>&1 || return 0
  if (umask 077 && tmux capture-pane -p -J -S -@LINES@ -t "=$2:" > "$1/pane.log.tmp") 2>/dev/null
  then mv -f "$1/pane.log.tmp" "$1/pane.log" 2>/dev/null
  else rm -f "$1/pane.log.tmp" 2>/dev/null
  fi
  tmux kill-session -t "=$2" >/dev/null 2>&1
  return 0
}
'''.replace("@LINES@", str(PANE_LINES))

REAP_MAIN = r'''
while [ $# -ge 2 ]; do reap_pane "$(expand_home "$1")" "$2"; shift 2; done
'''


def session_name(assignment_id: str) -> str:
    """`coordssh-<id>`: deterministic, so attach, stop and the reaper agree without a lookup."""
    return f"coordssh-{assignment_id}"


def reap_command(runs: Sequence[tuple[str, str]]) -> Command:
    """One exec for (run_dir, session) pairs."""
    args = [part for run_dir, session in runs for part in (run_dir, session)]
    return sh_script(EXPAND_HOME + REAP_PANE_FN + REAP_MAIN, *args)


async def reap_panes(transport: Transport, runs: Sequence[tuple[str, str]]) -> None:
    """Capture and end the sessions of finished runs (nothing to do: no exec at all)."""
    if runs:
        await transport.run(reap_command(runs), timeout=REAP_TIMEOUT, check=True)
