"""The doctor's probe: every per-machine check in one lean sh script, one round trip.

Positional parameters: claude_command, worktree_root, run_root, then name/path pairs
of the machine's repos. Output: one tab-separated record per line, `end` last:

    home    /home/u
    git     git version 2.39.2            (empty when git is missing)
    ident   Name <email>                  git's committer identity (empty: commits fail)
    tmux    tmux 3.3a                     (empty when tmux is missing)
    claude  STATE VIA PATH VERSION        STATE: ok | missing | not_executable | broken
    root    worktree|run STATE PATH       STATE: ok | created | not_writable | cannot_create
    disk    AVAIL_KB                      free space on the worktree root's filesystem
    used    WORKTREES_KB RUNS_KB          disk used by the worktree root and the run root (du)
    repo    NAME STATE PATH DETAIL        STATE: ok | missing | not_git | no_origin;
                                          DETAIL: origin's URL, or git's complaint
    end

Missing roots are created 0700 (umask 077). `parse_probe` is pure.
"""

from __future__ import annotations

import re
import statistics
import time
from dataclasses import dataclass, field

from coordssh.config.schema import Machine
from coordssh.errors import RemoteCommandFailed
from coordssh.remote.claude_path import RESOLVE_CLAUDE
from coordssh.shell.command import Command, cmd, sh_script
from coordssh.shell.paths import EXPAND_HOME
from coordssh.transport.base import Transport, stderr_tail

PROBE_TIMEOUT = 90.0      # a login shell and `claude --version` (node) can be slow on a busy host
SHELL_SAMPLES = 5

PROBE_SCRIPT = EXPAND_HOME + RESOLVE_CLAUDE + r'''
nl='
'
say() { printf '%s' "$1"; shift; for f in "$@"; do printf '\t%s' "${f%%"$nl"*}"; done; printf '\n'; }
limited() { if command -v timeout >/dev/null 2>&1; then timeout 30 "$@"; else "$@"; fi; }
check_root() {
  r=$2; st=ok
  if [ ! -d "$r" ]; then
    if (umask 077 && mkdir -p -- "$r") 2>/dev/null; then st=created; else say root "$1" cannot_create "$r"; return 0; fi
  fi
  t="$r/.coordssh-doctor.$$"
  if (: > "$t") 2>/dev/null; then rm -f -- "$t"; else st=not_writable; fi
  say root "$1" "$st" "$r"
}
claude=$1; wt=$(expand_home "$2"); rr=$(expand_home "$3"); shift 3
say home "$HOME"
say git "$(git --version 2>/dev/null)"
say ident "$(cd / && git var GIT_COMMITTER_IDENT 2>/dev/null | sed 's/ [0-9]* [-+][0-9]*$//')"
say tmux "$(tmux -V 2>/dev/null)"
resolve_claude "$claude"; v=
if [ -z "$claude_path" ] || [ ! -e "$claude_path" ]; then st=missing
elif [ -d "$claude_path" ] || [ ! -x "$claude_path" ]; then st=not_executable
elif v=$(limited "$claude_path" --version </dev/null 2>&1); then st=ok
else st=broken; fi
say claude "$st" "$claude_via" "$claude_path" "$v"
check_root worktree "$wt"
check_root run "$rr"
say disk "$(df -Pk -- "$wt" 2>/dev/null | awk 'NR==2 {print $4}')"
say used "$(limited du -sk -- "$wt" 2>/dev/null | cut -f1)" "$(limited du -sk -- "$rr" 2>/dev/null | cut -f1)"
while [ $# -ge 2 ]; do
  name=$1; p=$(expand_home "$2"); shift 2
  if [ ! -d "$p" ]; then say repo "$name" missing "$p" ""
  elif ! err=$(git -C "$p" rev-parse --git-dir 2>&1 >/dev/null); then say repo "$name" not_git "$p" "$err"
  elif url=$(git -C "$p" remote get-url origin 2>/dev/null); then say repo "$name" ok "$p" "$url"
  else say repo "$name" no_origin "$p" ""; fi
done
say end
'''

_USERINFO = re.compile(r"(//)[^/@\s]+@")  # https://user:token@host/ -> https://***@host/


@dataclass(frozen=True)
class RepoFacts:
    name: str
    state: str            # ok | missing | not_git | no_origin
    path: str             # as the worker expanded it
    detail: str = ""      # origin's URL (credentials masked), or git's complaint


@dataclass(frozen=True)
class RootFacts:
    kind: str             # worktree | run
    state: str            # ok | created | not_writable | cannot_create
    path: str


@dataclass(frozen=True)
class ProbeFacts:
    home: str = ""
    git: str | None = None
    git_identity: str = ""  # empty: git cannot commit as this user (no user.email, no guess)
    tmux: str | None = None
    claude_state: str = "missing"
    claude_via: str = ""
    claude_path: str = ""
    claude_version: str = ""
    roots: dict[str, RootFacts] = field(default_factory=dict)
    disk_free_kb: int | None = None
    used_kb: tuple[int | None, int | None] = (None, None)   # worktree root, run root
    repos: dict[str, RepoFacts] = field(default_factory=dict)
    complete: bool = False  # the `end` line arrived


def build_probe(machine: Machine) -> Command:
    pairs = [part for name, path in machine.repo_paths.items() for part in (name, path)]
    return sh_script(PROBE_SCRIPT, machine.claude_command, machine.worktree_root,
                     machine.run_root, *pairs)


def mask_url(url: str) -> str:
    return _USERINFO.sub(r"\1***@", url) if "://" in url else url


def _version(line: str, prefix: str) -> str | None:
    line = line.strip()
    if not line:
        return None
    return line[len(prefix):].strip() if line.startswith(prefix) else line


def parse_probe(text: str) -> ProbeFacts:
    values: dict = {"roots": {}, "repos": {}}
    for line in text.splitlines():
        key, *f = line.split("\t")
        f += [""] * 4
        if key == "home":
            values["home"] = f[0]
        elif key == "git":
            values["git"] = _version(f[0], "git version")
        elif key == "ident":
            values["git_identity"] = f[0].strip()
        elif key == "tmux":
            values["tmux"] = _version(f[0], "tmux")
        elif key == "claude":
            values.update(claude_state=f[0] or "missing", claude_via=f[1], claude_path=f[2],
                          claude_version=f[3].strip())
        elif key == "root":
            values["roots"][f[0]] = RootFacts(f[0], f[1], f[2])
        elif key == "disk":
            values["disk_free_kb"] = int(f[0]) if f[0].isdigit() else None
        elif key == "used":
            values["used_kb"] = tuple(int(v) if v.strip().isdigit() else None for v in f[:2])
        elif key == "repo":
            detail = mask_url(f[3]) if f[1] == "ok" else f[3]
            values["repos"][f[0]] = RepoFacts(f[0], f[1], f[2], detail)
        elif key == "end":
            values["complete"] = True
    return ProbeFacts(**values)


async def run_probe(transport: Transport, machine: Machine,
                    timeout: float = PROBE_TIMEOUT) -> ProbeFacts:
    result = await transport.run(build_probe(machine), timeout=timeout)
    facts = parse_probe(result.text)
    if not facts.complete:
        tail = stderr_tail(result.stderr)
        raise RemoteCommandFailed(
            f"the doctor probe on {machine.name} stopped early (exit {result.returncode})"
            + (f": {tail}" if tail else ""),
            hint="check that /bin/sh works for the SSH user on that machine",
            machine=machine.name, command=result.args, exit_status=result.returncode,
            stderr_tail=tail)
    return facts


async def shell_cost(transport: Transport, samples: int = SHELL_SAMPLES) -> float:
    """Median seconds of a bare `true` exec: what the remote shell's startup adds to every call."""
    timings = []
    for _ in range(samples):
        start = time.perf_counter()
        await transport.run(cmd("true"), timeout=30.0)
        timings.append(time.perf_counter() - start)
    return statistics.median(timings)
