"""THE guarded removal on a worker (LESSONS 14): one exec per machine, nothing outside the roots.

`remove_under_roots(transport, roots, entries)` is the only way coordssh deletes a worktree or
a run directory. The script resolves every root and every path (`cd ... && pwd -P`: symlinks
resolved) and refuses:
  - a path that is itself a symlink, or that resolves outside its root (or IS the root),
  - a dirty worktree of a branch whose rescue commit cannot be pushed,
  - a dirty detached worktree of a run that was not a test (nothing to push it to).
A dirty worktree with a branch gets a rescue commit pushed to `origin <branch>` first ("coordssh
rescue: uncommitted work left in the worktree of run ID (gc)"). A test worktree is build output
only: removed as it is. After a worktree goes, `git worktree prune` runs in its repo.
Output: one line per entry, `ID removed [SHA]` | `ID gone` | `ID refused WHY`, then
`du worktrees_kb N` and `du runs_kb N` (disk use, reported by gc, notify and status --json).
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from dataclasses import dataclass

from coordssh.errors import Refused
from coordssh.shell.command import Command, sh_script
from coordssh.shell.paths import EXPAND_HOME
from coordssh.transport.base import Transport

KINDS = ("worktree", "testtree", "rundir")

GC_SCRIPT = EXPAND_HOME + r'''
resolve() { [ -d "$1" ] && (cd "$1" 2>/dev/null && pwd -P); }
wroot=$(resolve "$(expand_home "$1")"); rroot=$(resolve "$(expand_home "$2")"); shift 2
[ -n "$GIT_AUTHOR_NAME" ] || git config --global user.email >/dev/null 2>&1 || {
  export GIT_AUTHOR_NAME=coordssh GIT_AUTHOR_EMAIL=coordssh@localhost
  export GIT_COMMITTER_NAME=coordssh GIT_COMMITTER_EMAIL=coordssh@localhost; }
while [ $# -ge 5 ]; do
  kind=$1 p=$(expand_home "$2") repo=$(expand_home "$3") branch=$4 id=$5; shift 5
  if [ "$kind" = rundir ]; then root=$rroot; else root=$wroot; fi
  if [ -L "$p" ]; then echo "$id refused symlink"; continue; fi
  [ -e "$p" ] || { echo "$id gone"; continue; }
  real=$(resolve "$p") || { echo "$id refused not-a-directory"; continue; }
  case $real in "$root"/?*) [ -n "$root" ] || { echo "$id refused no-root"; continue; };;
    *) echo "$id refused outside"; continue;; esac
  rescued=
  if [ "$kind" = worktree ] && [ -n "$(git -C "$real" status --porcelain 2>/dev/null)" ]; then
    [ "$branch" != - ] || { echo "$id refused dirty-detached"; continue; }
    { git -C "$real" add -A && git -C "$real" commit -q --no-verify \
        -m "coordssh rescue: uncommitted work left in the worktree of run $id (gc)" &&
      git -C "$real" push -q origin "HEAD:refs/heads/$branch" </dev/null; } >/dev/null 2>&1 ||
      { echo "$id refused rescue-failed"; continue; }
    rescued=$(git -C "$real" rev-parse HEAD)
  fi
  rm -rf -- "$real" && echo "$id removed $rescued" || echo "$id refused rm-failed"
  [ "$repo" = - ] || git -C "$repo" worktree prune >/dev/null 2>&1 || :
done
[ -n "$wroot" ] && echo "du worktrees_kb $(du -sk "$wroot" 2>/dev/null | cut -f1)"
[ -n "$rroot" ] && echo "du runs_kb $(du -sk "$rroot" 2>/dev/null | cut -f1)"
:
'''


@dataclass(frozen=True)
class Removal:
    run_id: str
    kind: str                 # worktree | testtree | rundir
    path: str
    repo_path: str = ""       # the repo whose worktrees are pruned after
    branch: str = ""          # where a rescue commit is pushed ("" : detached)


@dataclass(frozen=True)
class GcResult:
    results: dict[str, str]          # "ID kind" -> removed [sha] | gone | refused WHY
    disk_kb: dict[str, int]          # worktrees_kb, runs_kb


def under_root(root: str, path: str) -> bool:
    """The operator-side half of the guard (the script checks the resolved paths again). A
    `~/` root is matched against the path's tail (the worker's home is the worker's)."""
    if ".." in path.split("/") or not path.startswith(("/", "~/")):
        return False
    root, path = posixpath.normpath(root), posixpath.normpath(path)
    if root.startswith("~/") and path.startswith("/"):
        return ("/" + root[2:].rstrip("/") + "/") in path
    return path.startswith(root.rstrip("/") + "/")


def gc_command(worktree_root: str, run_root: str, entries: Sequence[Removal]) -> Command:
    args = [part for e in entries
            for part in (e.kind, e.path, e.repo_path or "-", e.branch or "-", e.run_id)]
    return sh_script(GC_SCRIPT, worktree_root, run_root, *args)


def parse_gc(out: bytes, entries: Sequence[Removal]) -> GcResult:
    kinds = {}
    for e in entries:
        kinds.setdefault(e.run_id, []).append(e.kind)
    results: dict[str, str] = {}
    disk: dict[str, int] = {}
    for line in out.decode("utf-8", "replace").splitlines():
        first, _, rest = line.strip().partition(" ")
        if first == "du":
            label, _, size = rest.partition(" ")
            if size.strip().isdigit():
                disk[label] = int(size)
        elif first in kinds and kinds[first]:
            results[f"{first} {kinds[first].pop(0)}"] = rest.strip()
    return GcResult(results, disk)


async def remove_under_roots(transport: Transport, worktree_root: str, run_root: str,
                             entries: Sequence[Removal]) -> GcResult:
    """Remove `entries` (each only under its root) in one exec; measure both roots."""
    for e in entries:
        root = run_root if e.kind == "rundir" else worktree_root
        if e.kind not in KINDS or not under_root(root, e.path):
            raise Refused(f"refusing to remove {e.path} on {transport.name}: not under {root}",
                          hint="coordssh only removes what is under a machine's worktree_root "
                               "or run_root")
    result = await transport.run(gc_command(worktree_root, run_root, entries), timeout=600,
                                 check=True)
    return parse_gc(result.stdout, entries)
