"""A test run on a worker: the repo's commands as a plain process (no model, no tokens).

It uses the run envelope and wrapper of every run (remote/envelope.py) with an empty branch,
which makes the wrapper skip its post-run steps: a test run never commits or pushes. Its
worktree is a throwaway one, detached at the SHA under test. Two execs on one connection:
`prepare` (fetch the branch and the base, check the SHA, print $HOME and the files the branch
changed, for `smoke_tests.capability_rules`) and the dispatch (worktree, envelope, launch).
The program writes all of its output to stderr.log, whose tail the probe reads; that tail is
kept with the verdict. Its exit code is the verdict (`outcome_of`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from coordssh.domain import models as m
from coordssh.errors import RemoteCommandFailed
from coordssh.remote.envelope import UNPACK_ENVELOPE_FN
from coordssh.remote.failures import step_failure
from coordssh.remote.launcher import LAUNCH_FNS, PID_WAIT_TENTHS
from coordssh.shell.command import Command, sh_script
from coordssh.shell.paths import EXPAND_HOME
from coordssh.transport.base import Transport

PREPARE_TIMEOUT = 300.0
DISPATCH_TIMEOUT = 120.0
NO_REPO, NO_FETCH, NO_COMMIT = 10, 11, 12
TMUX_MISSING, WORKTREE_FAILED, UNPACK_FAILED, LAUNCH_FAILED = 21, 22, 23, 24

PREPARE_SCRIPT = EXPAND_HOME + r'''r=$(expand_home "$1") base=$2 branch=$3 sha=$4
{ cd "$r" 2>/dev/null && git rev-parse --git-dir >/dev/null 2>&1; } ||
  { printf 'no git repository at %s\n' "$r" >&2; exit 10; }
LC_ALL=C git fetch --quiet origin "+refs/heads/$branch:refs/remotes/origin/$branch" \
  "+refs/heads/$base:refs/remotes/origin/$base" </dev/null || exit 11
git cat-file -e "$sha^{commit}" 2>/dev/null ||
  { printf 'commit %s is not in the fetched history of %s\n' "$sha" "$branch" >&2; exit 12; }
printf 'home=%s\n' "$HOME"
git diff --name-only "refs/remotes/origin/$base...$sha" -- </dev/null | sed 's/^/file /'
'''

DISPATCH_MAIN = r'''
repo=$1 wt=$2 sha=$3 run=$4 launcher=$5 session=$6 tenths=$7
if [ "$launcher" = tmux ] && ! command -v tmux >/dev/null 2>&1; then
  echo 'tmux is not installed' >&2; exit 21
fi
cd "$repo" || exit 22
if [ -e "$wt" ]; then printf 'worktree path %s already exists\n' "$wt" >&2; exit 22; fi
mkdir -p "${wt%/*}" && git worktree add --quiet --detach "$wt" "$sha" </dev/null || exit 22
unpack_envelope "$run" || exit 23
"launch_$launcher" "$run" "$session" "$wt" || exit 24
wait_pid "$run" "$tenths"
'''
DISPATCH_SCRIPT = UNPACK_ENVELOPE_FN + LAUNCH_FNS + DISPATCH_MAIN

# each command in turn, echoed, all output on stderr (the probe's tail); the first failure ends it
PROGRAM = 'exec 1>&2; for c in "$@"; do printf "+ %s\\n" "$c"; sh -c "$c" || exit $?; done'


def program_of(commands: Iterable[str]) -> Command:
    return Command("sh", "-c", PROGRAM, "coordssh-test", *commands)


@dataclass(frozen=True)
class Prepared:
    home: str
    changed: tuple[str, ...]


async def prepare(transport: Transport, repo_path: str, base: str, branch: str,
                  sha: str) -> Prepared:
    result = await transport.run(sh_script(PREPARE_SCRIPT, repo_path, base, branch, sha),
                                 timeout=PREPARE_TIMEOUT)
    if result.returncode != 0:
        raise step_failure(transport.name, result, {
            NO_REPO: (f"on {transport.name}: {repo_path} is not a git repository",
                      "fix repo_paths for this machine in coordinator.yml"),
            NO_FETCH: (f"on {transport.name}: cannot fetch {branch} and {base} from origin",
                       "check that the branch is on origin and the worker can reach it"),
            NO_COMMIT: (f"on {transport.name}: {sha[:12]} is not on origin's {branch}",
                        "the branch moved or was rewritten; `coordssh work` shows its head"),
        }, "preparing the test")
    home, changed = "", []
    for line in result.text.splitlines():
        if line.startswith("home="):
            home = line[5:]
        elif line.startswith("file "):
            changed.append(line[5:])
    if not home:
        raise RemoteCommandFailed(f"on {transport.name}: preparing the test printed no $HOME",
                                  hint="run `coordssh doctor` on this machine",
                                  machine=transport.name, command=result.args)
    return Prepared(home, tuple(changed))


async def dispatch(transport: Transport, *, repo_path: str, worktree: str, sha: str,
                   run_dir: str, launcher: str, session: str, envelope_tar: bytes) -> int | None:
    command = sh_script(DISPATCH_SCRIPT, repo_path, worktree, sha, run_dir, launcher, session,
                        str(PID_WAIT_TENTHS))
    result = await transport.run(command, input=envelope_tar, timeout=DISPATCH_TIMEOUT)
    if result.returncode != 0:
        name = transport.name
        raise step_failure(name, result, {
            TMUX_MISSING: (f"on {name}: the tmux launcher needs tmux, which is not installed",
                           "install tmux there, or set `launcher: nohup` for this machine"),
            WORKTREE_FAILED: (f"on {name}: cannot create the test worktree {worktree} at "
                              f"{sha[:12]}", "see git's message"),
            UNPACK_FAILED: (f"on {name}: cannot write the run directory {run_dir}",
                            "check free space and permissions under the machine's run_root"),
            LAUNCH_FAILED: (f"on {name}: the {launcher} launcher failed",
                            "`coordssh doctor` checks the launcher"),
        }, "the test dispatch")
    for line in result.text.splitlines():
        if line.startswith("pid=") and line[4:].strip().isdigit():
            return int(line[4:].strip())
    return None


def required_capabilities(rules: Iterable[Mapping], changed: Iterable[str]) -> set[str]:
    """smoke_tests.capability_rules ({files: [prefix...], requires: [cap...]}) on the changes."""
    files = list(changed)
    needed: set[str] = set()
    for rule in rules:
        prefixes = [str(p) for p in rule.get("files", ())]
        if any(f.startswith(p) for f in files for p in prefixes):
            needed.update(str(c) for c in rule.get("requires", ()))
    return needed


def outcome_of(*, exit_code: int | None, cancelled: bool, timed_out: bool):
    """A finished test run's status: its exit code decides (0 passed, else failed)."""
    from coordssh.agent.outcome import Outcome

    if cancelled:
        return Outcome(m.CANCELLED, "cancelled by the operator")
    if exit_code is None:
        return Outcome(m.CRASHED, "the test run ended without an exit code")
    if timed_out:
        return Outcome(m.FAILED, f"tests timed out (smoke_tests.timeout_seconds; exit "
                                 f"{exit_code})")
    if exit_code == 0:
        return Outcome(m.DONE, "tests passed")
    return Outcome(m.FAILED, f"tests failed (exit {exit_code})")
