"""Housekeeping on one worker in ONE exec: end what an observation found overdue, reap panes.

Observing never acts (services/observe.py reports); `services/housekeeping.py` hands the
observed chores of a machine to this script, which does them all at once:

    linger   a run whose claude lingers past `result_grace_s` after its result line: claude's
             group is ended (TERM, then KILL), so the wrapper still rescues and pushes its work
    overdue  a run past `max_runtime_s`: `timed_out` is written (as the wrapper would), then
             both groups are ended
    orphans  the wrapper is gone but a process of its groups lives on: both groups are ended
    reap     a finished tmux run's dead pane: captured to pane.log, the session ended

The ends run in parallel on the worker, each escalating TERM -> KILL after `grace`. Output: one
line per run, `ID STATE [SIGNAL]` (ended|gone|alive|reaped), parsed by `parse_chores`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from coordssh.remote.probe import ZOMBIE_FN
from coordssh.remote.tmux import REAP_PANE_FN
from coordssh.shell.command import Command, sh_script
from coordssh.shell.paths import EXPAND_HOME
from coordssh.transport.base import Transport

TICK = 0.2
KINDS = ("linger", "overdue", "orphans", "reap")

CHORES_SCRIPT = EXPAND_HOME + ZOMBIE_FN + REAP_PANE_FN + r'''
ticks=$1; shift
num() { v=; [ -f "$1" ] && { read -r v < "$1" || :; }; v=${v%%[!0-9]*}; }
end_run() {
  id=$1 d=$2 kind=$3
  [ -d "$d" ] || { echo "$id gone"; return; }
  [ "$kind" = overdue ] && [ ! -e "$d/timed_out" ] && (umask 077 && date +%s > "$d/timed_out")
  num "$d/claude_pid"; c=$v; num "$d/pid"; w=$v
  if [ "$kind" = linger ] && [ -n "$c" ]; then groups=$c; else groups="$w $c"; fi
  alive() { for g in $groups; do kill -0 "-$g" 2>/dev/null && ! zombie "$g" && return 0; done; return 1; }
  for sig in TERM KILL; do
    alive || { echo "$id gone"; return; }
    for g in $groups; do kill -"$sig" "-$g" 2>/dev/null; done
    i=0
    while [ "$i" -lt "$ticks" ] && alive; do sleep 0.2; i=$((i + 1)); done
    alive || { echo "$id ended $sig"; return; }
  done
  echo "$id alive"
}
while [ $# -ge 4 ]; do
  id=$1 d=$(expand_home "$2") kind=$3 session=$4; shift 4
  case $kind in
    reap) reap_pane "$d" "$session"; echo "$id reaped";;
    *) end_run "$id" "$d" "$kind" &;;
  esac
done
wait
'''


@dataclass(frozen=True)
class Chore:
    run_id: str
    run_dir: str
    kind: str                 # one of KINDS
    session: str = ""         # the tmux session (reap only)


def chores_command(chores: Sequence[Chore], grace: float) -> Command:
    ticks = max(1, int(round(grace / TICK)))
    args = [part for c in chores for part in (c.run_id, c.run_dir, c.kind, c.session or "-")]
    return sh_script(CHORES_SCRIPT, str(ticks), *args)


def parse_chores(out: bytes) -> dict[str, str]:
    """{run id: what happened} from the script's lines (`ended TERM`, `gone`, `reaped`, ...;
    a run with two chores gets both, joined by ", ")."""
    done: dict[str, str] = {}
    for line in out.decode("utf-8", "replace").splitlines():
        run_id, _, what = line.strip().partition(" ")
        if run_id and what:
            done[run_id] = f"{done[run_id]}, {what}" if run_id in done else what
    return done


async def do_chores(transport: Transport, chores: Sequence[Chore], *, grace: float) -> dict[str, str]:
    """All of a machine's chores in one exec (none: no exec at all)."""
    if not chores:
        return {}
    result = await transport.run(chores_command(chores, grace), timeout=2 * grace + 30,
                                 check=True)
    return parse_chores(result.stdout)
