"""Starting a run on a worker: claude's absolute path, then one dispatch exec (tmux | nohup).

The dispatch exec runs one constant script: create the worktree at the fetched SHA, unpack the
envelope (a tar on stdin) into a new 0700 run dir, launch `sh RUN_DIR/run.sh` detached, and wait
briefly for the wrapper to write its `pid`. Either launcher survives the connection closing:
`setsid nohup` with all three streams redirected (so the channel returns), or a tmux session
`coordssh-<id>` with `remain-on-exit on` set before the wrapper starts (so a quick death stays
visible). A prompt is never typed into a pane.
"""

from __future__ import annotations

from dataclasses import dataclass

from coordssh.errors import NotFound, RemoteCommandFailed
from coordssh.remote.claude_path import claude_path_key, resolve_claude_path
from coordssh.remote.envelope import UNPACK_ENVELOPE_FN, UNPACK_FAILED
from coordssh.remote.failures import step_failure
from coordssh.remote.worktree import CREATE_WORKTREE_FN, WORKTREE_FAILED
from coordssh.shell.command import Command, sh_script
from coordssh.shell.paths import EXPAND_HOME
from coordssh.transport.base import RunResult, Transport

RESOLVE_TIMEOUT = 60.0          # a login shell may be slow (nvm, pyenv)
DISPATCH_TIMEOUT = 120.0        # `git worktree add` checks out the whole tree

# --- claude's absolute path (resolved by remote/claude_path.py, cached like `doctor` does) -----
async def claude_path(transport: Transport, claude_command: str, board, *, refresh: bool = False,
                      remember: bool = True) -> str:
    """claude's absolute path on the worker, from the board's kv `claude_path:<machine>` or found
    afresh (and remembered). An absolute claude_command is checked once (then remembered), so
    that a missing one is refused before `assign` writes anything."""
    key = claude_path_key(transport.name)
    cached = None if refresh else board.kv_get(key)
    absolute = claude_command.startswith("/")
    if isinstance(cached, str) and cached.startswith("/") and (
            not absolute or cached == claude_command):
        return cached
    path = await resolve_claude_path(transport, claude_command, timeout=RESOLVE_TIMEOUT)
    if not path:
        raise NotFound(
            f"on {transport.name}: cannot find `{claude_command}` (not on PATH, not in a login "
            "shell's PATH, not in ~/.local/bin, ~/.npm-global/bin or ~/.nvm)",
            hint=f"install Claude Code on {transport.name}, or set claude_command for this "
                 "machine in coordinator.yml to its absolute path")
    if remember:
        board.kv_set(key, path)
    return path


# --- the dispatch exec --------------------------------------------------------------------------
CLAUDE_MISSING, TMUX_MISSING, LAUNCH_FAILED = 20, 21, 24
PID_WAIT_TENTHS = 150           # up to ~15 s for the wrapper to write its pid

LAUNCH_FNS = r'''
launch_nohup() {
  if command -v setsid >/dev/null 2>&1; then
    setsid nohup sh "$1/run.sh" </dev/null >/dev/null 2>&1 &
  else
    nohup sh "$1/run.sh" </dev/null >/dev/null 2>&1 &
  fi
}
launch_tmux() {
  # the session's name for the reaper (remote/tmux.py); then a placeholder, so remain-on-exit
  # is on before the wrapper can exit
  (umask 077 && printf '%s\n' "$2" > "$1/tmux_session") &&
  tmux new-session -d -s "$2" -c "$3" 'exec sleep 86400' </dev/null &&
    tmux set-option -w -t "=$2:" remain-on-exit on >/dev/null &&
    tmux respawn-pane -k -t "=$2:" sh "$1/run.sh" </dev/null
}
wait_pid() {
  i=0
  while [ ! -s "$1/pid" ] && [ "$i" -lt "$2" ]; do sleep 0.1 2>/dev/null || sleep 1; i=$((i + 1)); done
  [ -s "$1/pid" ] && printf 'pid=%s\n' "$(cat "$1/pid")"
  return 0
}
'''

DISPATCH_MAIN = r'''
repo=$1 wt=$2 branch=$3 sha=$4 run=$5 claude=$6 launcher=$7 session=$8 tenths=$9 free=${10}
[ -x "$claude" ] || { printf 'claude is not at %s any more\n' "$claude" >&2; exit 20; }
if [ "$launcher" = tmux ] && ! command -v tmux >/dev/null 2>&1; then
  echo 'tmux is not installed' >&2; exit 21
fi
create_worktree "$repo" "$wt" "$branch" "$sha" "$free" || exit 22
unpack_envelope "$run" || exit 23
"launch_$launcher" "$run" "$session" "$wt" || exit 24
wait_pid "$run" "$tenths"
'''

DISPATCH_SCRIPT = EXPAND_HOME + CREATE_WORKTREE_FN + UNPACK_ENVELOPE_FN + LAUNCH_FNS + DISPATCH_MAIN


@dataclass(frozen=True)
class DispatchTarget:
    """Where a run goes. Paths are absolute on the worker."""

    repo_path: str
    worktree: str
    branch: str
    base_sha: str
    run_dir: str
    claude_path: str
    launcher: str              # "tmux" | "nohup"
    session: str               # the tmux session name (unused by nohup)
    free_worktree: str = ""    # a stale clean worktree holding `branch`, removed first


def dispatch_command(target: DispatchTarget, pid_wait_tenths: int = PID_WAIT_TENTHS) -> Command:
    return sh_script(DISPATCH_SCRIPT, target.repo_path, target.worktree, target.branch,
                     target.base_sha, target.run_dir, target.claude_path, target.launcher,
                     target.session, str(pid_wait_tenths), target.free_worktree)


def launch_display(target: DispatchTarget) -> Command:
    """What the launch amounts to, for --dry-run (the real one runs inside the dispatch script)."""
    run_sh = f"{target.run_dir}/run.sh"
    if target.launcher == "tmux":
        return Command("tmux", "new-session", "-d", "-s", target.session, "-c", target.worktree,
                       "sh", run_sh)
    return Command("setsid", "nohup", "sh", run_sh)


async def dispatch(transport: Transport, target: DispatchTarget, envelope_tar: bytes) -> int | None:
    """Create the worktree, write the envelope, launch. The wrapper's pid, or None if it has not
    written one yet (the probe will see it later)."""
    result = await transport.run(dispatch_command(target), input=envelope_tar,
                                 timeout=DISPATCH_TIMEOUT)
    if result.returncode != 0:
        raise dispatch_error(transport.name, target, result)
    for line in result.text.splitlines():
        if line.startswith("pid=") and line[4:].strip().isdigit():
            return int(line[4:].strip())
    return None


def dispatch_error(machine: str, target: DispatchTarget, result: RunResult) -> RemoteCommandFailed:
    return step_failure(machine, result, {
        CLAUDE_MISSING: (f"on {machine}: no executable claude at {target.claude_path}",
                         "install Claude Code there or fix claude_command in coordinator.yml"),
        TMUX_MISSING: (f"on {machine}: the tmux launcher needs tmux, which is not installed",
                       "install tmux there, or set `launcher: nohup` for this machine"),
        WORKTREE_FAILED: (f"on {machine}: cannot create worktree {target.worktree} on branch "
                          f"{target.branch}",
                          "see git's message; `git worktree list` in the repo shows which "
                          "worktree holds the branch"),
        UNPACK_FAILED: (f"on {machine}: cannot write the run directory {target.run_dir}",
                        "check free space and permissions under the machine's run_root"),
        LAUNCH_FAILED: (f"on {machine}: the {target.launcher} launcher failed",
                        "see the message; `coordssh doctor` checks the launcher"),
    }, "dispatch")
