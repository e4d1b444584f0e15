"""A scratch repository on a worker, for `doctor --dispatch`: never the user's repos or origins.

`<run_root>/.doctor-<token>/` (0700) holds `origin.git` (bare, branch main) and `clone/` (one
commit, pushed), made in one exec; the test run's worktrees and envelope go beside them. The
leading dot keeps it out of the run probe's listing. `inspect_scratch` reads what the run left on
the scratch origin and in its envelope; `remove_scratch` ends the run's tmux session and
removes the directory (only a `.doctor-*` directory: the one guarded delete).
"""

from __future__ import annotations

from dataclasses import dataclass

from coordssh.errors import RemoteCommandFailed
from coordssh.remote.failures import step_failure
from coordssh.shell.command import sh_script
from coordssh.shell.paths import EXPAND_HOME
from coordssh.transport.base import Transport

PREFIX = ".doctor-"
SCRATCH_TIMEOUT = 60.0
NO_GIT, NO_DIR, GIT_FAILED = 30, 31, 32

CREATE_SCRIPT = EXPAND_HOME + r'''
export GIT_TERMINAL_PROMPT=0
root=$(expand_home "$1"); d=$root/$2; who=$3; subject=$4; readme=$5
command -v git >/dev/null 2>&1 || { echo 'git: command not found' >&2; exit 30; }
(umask 077 && mkdir -p "$d") && [ ! -e "$d/origin.git" ] || exit 31
cd "$d" || exit 31
{
  git init -q --bare origin.git &&
  git --git-dir=origin.git symbolic-ref HEAD refs/heads/main &&
  git init -q clone && cd clone &&
  git symbolic-ref HEAD refs/heads/main &&
  git config user.name "$who" && git config user.email coordssh@localhost.invalid &&
  git config commit.gpgsign false &&
  printf '%s' "$readme" > README.md &&
  git add README.md && git commit -q -m "$subject" &&
  git remote add origin "$d/origin.git" &&
  git push -q origin HEAD:refs/heads/main
} >&2 || exit 32
printf 'dir=%s\n' "$d"
'''

INSPECT_SCRIPT = EXPAND_HOME + r'''
d=$(expand_home "$1"); branch=$2; run=$(expand_home "$3")
sha=$(git --git-dir="$d/origin.git" rev-parse -q --verify "refs/heads/$branch^{commit}" 2>/dev/null)
printf 'origin_sha\t%s\n' "$sha"
[ -n "$sha" ] && printf 'subject\t%s\n' "$(git --git-dir="$d/origin.git" log -1 --format=%s "$sha")"
for f in exit_code pushed_sha; do
  v=; [ -f "$run/$f" ] && { read -r v < "$run/$f" || :; }; printf '%s\t%s\n' "$f" "$v"
done
tail -n 5 "$run/push.log" 2>/dev/null | sed 's/^/push_log\t/'
exit 0
'''

REMOVE_SCRIPT = EXPAND_HOME + r'''
d=$(expand_home "$1"); session=$2
case ${d##*/} in .doctor-?*) ;; *) echo "not a doctor scratch directory: $d" >&2; exit 2;; esac
if [ -n "$session" ] && command -v tmux >/dev/null 2>&1; then
  tmux kill-session -t "=$session" >/dev/null 2>&1
fi
rm -rf "$d" && [ ! -e "$d" ]
'''


@dataclass(frozen=True)
class ScratchFacts:
    origin_sha: str = ""          # the run's branch on the scratch origin ("" when absent)
    subject: str = ""             # that commit's subject
    exit_code: str = ""           # from the envelope
    pushed_sha: str = ""
    push_log: str = ""            # the last lines of push.log


DOCTOR_README = "# coordssh doctor\n\nScratch repository of `coordssh doctor --dispatch`.\n"


async def create_scratch(transport: Transport, run_root: str, name: str, *,
                         who: str = "coordssh doctor",
                         subject: str = "coordssh doctor: scratch repository",
                         readme: str = DOCTOR_README) -> str:
    """Make `<run_root>/<name>` (new or empty) with origin.git (bare, branch main) and clone/
    (one commit `subject`, pushed); its absolute path on the worker. `coordssh demo` uses it too."""
    result = await transport.run(sh_script(CREATE_SCRIPT, run_root, name, who, subject, readme),
                                 timeout=SCRATCH_TIMEOUT)
    path = next((line[4:] for line in result.text.splitlines() if line.startswith("dir=")), "")
    if result.returncode != 0 or not path:
        where = transport.name
        raise step_failure(where, result, {
            NO_GIT: (f"on {where}: git is not installed", f"install git on {where}"),
            NO_DIR: (f"on {where}: cannot create a scratch directory under run_root {run_root}",
                     f"fix its permissions on {where}, or set run_root to a directory the "
                     "SSH user can write"),
            GIT_FAILED: (f"on {where}: git cannot make a scratch repository under {run_root}",
                         "see git's message (a global hook or config may refuse commits)"),
        }, "making the scratch repository")
    return path


async def inspect_scratch(transport: Transport, scratch: str, branch: str,
                          run_dir: str) -> ScratchFacts:
    result = await transport.run(sh_script(INSPECT_SCRIPT, scratch, branch, run_dir),
                                 timeout=SCRATCH_TIMEOUT, check=True)
    return parse_inspect(result.text)


def parse_inspect(text: str) -> ScratchFacts:
    values: dict[str, str] = {}
    push_log: list[str] = []
    for line in text.splitlines():
        key, _, value = line.partition("\t")
        if key == "push_log":
            push_log.append(value)
        elif key in ("origin_sha", "subject", "exit_code", "pushed_sha"):
            values[key] = value.strip()
    return ScratchFacts(**values, push_log="\n".join(push_log))


async def remove_scratch(transport: Transport, scratch: str, session: str = "") -> None:
    result = await transport.run(sh_script(REMOVE_SCRIPT, scratch, session),
                                 timeout=SCRATCH_TIMEOUT)
    if result.returncode != 0:
        raise RemoteCommandFailed(
            f"on {transport.name}: could not remove the scratch directory {scratch}: "
            f"{result.stderr_text.strip()[-300:]}",
            hint=f"remove it by hand on {transport.name} (rm -rf {scratch})",
            machine=transport.name, command="remove scratch", exit_status=result.returncode)
