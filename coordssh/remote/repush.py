"""Pushing a finished run's branch again (`coordssh push ID`): one exec that re-runs only the
wrapper's post-run steps (`COORDSSH_PUSH_ONLY=1 sh run.sh`: rescue commit, push) and reports:

    state=pushed|failed|nothing|running|missing sha=SHA
    <push.log's tail>

The wrapper records `pushed_sha` or `push_failed` again, as after the run. A run whose wrapper
still lives is left alone (it pushes when it ends).
"""

from __future__ import annotations

from dataclasses import dataclass

from coordssh.remote.probe import PUSH_LOG_CAP, ZOMBIE_FN
from coordssh.shell.command import Command, sh_script
from coordssh.shell.paths import EXPAND_HOME
from coordssh.transport.base import Transport

PUSH_TIMEOUT = 300.0

REPUSH_SCRIPT = EXPAND_HOME + ZOMBIE_FN + r'''
d=$(expand_home "$1"); cap=$2
[ -f "$d/run.sh" ] || { echo 'state=missing sha='; exit 0; }
pid=; [ -f "$d/pid" ] && { read -r pid < "$d/pid" || :; pid=${pid%%[!0-9]*}; }
if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && ! zombie "$pid"; then
  echo 'state=running sha='; exit 0
fi
COORDSSH_PUSH_ONLY=1 sh "$d/run.sh" </dev/null >/dev/null 2>>"$d/push.log"
sha=; [ -f "$d/pushed_sha" ] && { read -r sha < "$d/pushed_sha" || :; }
sha=${sha%%[!0-9a-f]*}
if [ -e "$d/push_failed" ]; then state=failed; elif [ -n "$sha" ]; then state=pushed; else state=nothing; fi
printf 'state=%s sha=%s\n' "$state" "$sha"
tail -c "$cap" "$d/push.log" 2>/dev/null
exit 0
'''


@dataclass(frozen=True)
class PushAgain:
    state: str               # pushed | failed | nothing | running | missing
    sha: str = ""
    log: str = ""            # push.log's tail (git's output)


def repush_command(run_dir: str) -> Command:
    return sh_script(REPUSH_SCRIPT, run_dir, str(PUSH_LOG_CAP))


def parse_repush(out: bytes) -> PushAgain:
    head, _, log = out.decode("utf-8", "replace").partition("\n")
    fields = dict(word.partition("=")[::2] for word in head.split())
    return PushAgain(fields.get("state") or "missing", fields.get("sha", ""), log)


async def push_again(transport: Transport, run_dir: str) -> PushAgain:
    result = await transport.run(repush_command(run_dir), timeout=PUSH_TIMEOUT, check=True)
    return parse_repush(result.stdout)
