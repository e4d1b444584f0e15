"""Ending a run's process groups: INT, then TERM, then KILL, each after a grace period.

One exec does the whole escalation on the worker (no round trip per signal). A run has two
process groups: the wrapper's (`pid`: setsid or a tmux pane makes it the leader) and claude's
(`claude_pid`: run.sh starts claude under its own setsid). Each signal goes to both, so claude
never outlives a wrapper killed by SIGKILL. A group is gone when `kill -0 -PGID` fails, which
also covers children that outlive their leader.
`stop` first records `cancelled` (epoch seconds) so the outcome is known even after SIGKILL,
which leaves the wrapper no chance to write `finished_at`. A stopped run keeps its work: the
wrapper's trap commits a dirty worktree and pushes the branch once claude is gone, so KILL waits
up to POST_RUN_WAIT for a wrapper whose claude has already ended.
"""

from __future__ import annotations

from dataclasses import dataclass

from coordssh.shell.command import Command, sh_script
from coordssh.remote.probe import ZOMBIE_FN
from coordssh.shell.paths import EXPAND_HOME
from coordssh.transport.base import Transport

TICK = 0.2                       # seconds between liveness checks on the worker
STOP_SIGNALS = ("INT", "TERM", "KILL")
END_SIGNALS = ("TERM", "KILL")   # a run that lingers after its result: no turn left to close
POST_RUN_WAIT = 60.0             # before KILL: once claude is gone, the wrapper's push may finish

# dash's kill takes `-SIG -PGID` (it rejects `-s SIG` with a negative pid and `--`).
SIGNAL_SCRIPT = EXPAND_HOME + ZOMBIE_FN + r'''
d=$(expand_home "$1"); cancel_at=$2; ticks=$3; postticks=$4; shift 4
[ -d "$d" ] || { echo missing; exit 0; }
[ -n "$cancel_at" ] && [ ! -e "$d/cancelled" ] && printf '%s\n' "$cancel_at" > "$d/cancelled"
num() { v=; [ -f "$d/$1" ] && { read -r v < "$d/$1" || :; }; v=${v%%[!0-9]*}; }
num pid; groups=$v; num claude_pid; cpid=$v; groups="$groups $cpid"
case $groups in *[0-9]*) ;; *) echo nopid; exit 0;; esac
up() { [ -n "$1" ] && kill -0 "-$1" 2>/dev/null && ! zombie "$1"; }
alive() { for g in $groups; do up "$g" && return 0; done; return 1; }
last=
for sig in "$@"; do
  alive || { echo gone; exit 0; }
  if [ "$sig" = KILL ] && ! up "$cpid"; then
    # claude is gone, the wrapper is committing and pushing the work: let it finish
    i=0
    while [ "$i" -lt "$postticks" ] && alive; do sleep 0.2; i=$((i + 1)); done
    alive || { echo "ended $last"; exit 0; }
  fi
  for g in $groups; do kill -"$sig" "-$g" 2>/dev/null; done
  last=$sig
  i=0
  while [ "$i" -lt "$ticks" ] && alive; do sleep 0.2; i=$((i + 1)); done
  alive || { echo "ended $sig"; exit 0; }
done
echo alive
'''


@dataclass(frozen=True)
class SignalOutcome:
    """`state`: `ended` (a signal ended it), `gone` (nothing was running), `nopid` (never
    started), `missing` (no run dir), `alive` (survived even KILL: another user's process?)."""

    state: str
    signal: str = ""              # the signal after which the group was gone

    @property
    def stopped(self) -> bool:
        return self.state in ("ended", "gone", "nopid")


def signal_command(run_dir: str, signals: tuple[str, ...], grace: float,
                   cancel_at: float | None = None, post_run_wait: float = POST_RUN_WAIT) -> Command:
    ticks = max(1, int(round(grace / TICK)))
    post_ticks = max(0, int(round(post_run_wait / TICK)))
    stamp = "" if cancel_at is None else f"{cancel_at:.0f}"
    return sh_script(SIGNAL_SCRIPT, run_dir, stamp, str(ticks), str(post_ticks), *signals)


def parse_signal_output(out: bytes) -> SignalOutcome:
    words = out.decode("ascii", "replace").split()
    if not words:
        return SignalOutcome("alive")
    return SignalOutcome(words[0], words[1] if len(words) > 1 else "")


async def end_group(transport: Transport, run_dir: str, *, grace: float,
                    signals: tuple[str, ...] = END_SIGNALS,
                    cancel_at: float | None = None) -> SignalOutcome:
    """Send `signals` in turn to the run's process group, `grace` seconds apart, until it is gone."""
    command = signal_command(run_dir, signals, grace, cancel_at)
    result = await transport.run(command, timeout=grace * len(signals) + POST_RUN_WAIT + 30,
                                 check=True)
    return parse_signal_output(result.stdout)


async def stop_run(transport: Transport, run_dir: str, *, grace: float,
                   now: float) -> SignalOutcome:
    """`coordssh stop`: record `cancelled`, then INT, TERM, KILL."""
    return await end_group(transport, run_dir, grace=grace, signals=STOP_SIGNALS, cancel_at=now)
