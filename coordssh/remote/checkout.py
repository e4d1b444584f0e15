"""Where a run's worktree starts: a new branch at the fresh base, or an existing branch continued.

Pure: decided from the origin facts (remote/worktree.py), before anything is written, so every
refusal leaves nothing behind. An existing branch of the issue (an earlier run's, pushed or
only on the worker) is continued from its newest head: origin's, or the worker's own when it is
ahead (unpushed commits are never lost). A branch with no commits of its own (or merged) moves
forward to the fresh base. A stale clean worktree under `worktree_root` that holds the branch
is freed; a dirty one, a live run's, or one outside `worktree_root` is refused with the way out.
The dispatch script (CREATE_WORKTREE_FN) moves the branch only forward, whatever happens between.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from coordssh.errors import Refused
from coordssh.remote.worktree import OriginFacts


@dataclass(frozen=True)
class Checkout:
    branch: str
    start_sha: str              # the worktree's HEAD at start (the run's base_sha)
    continued: bool             # an existing branch of the issue
    free: str = ""              # a stale clean worktree to remove first ("" for none)

    @property
    def note(self) -> str:
        if not self.continued:
            return ""
        freed = f"; freeing the earlier worktree {self.free}" if self.free else ""
        return f"continuing branch {self.branch} at {self.start_sha[:12]}{freed}"


def checkout_for(facts: OriginFacts, branch: str, *, machine: str, worktree_root: str,
                 live_worktrees: Collection[str] = ()) -> Checkout:
    """How to check out `branch` for a new run (Refused when that would lose or take work)."""
    start = _start_sha(facts, branch, machine)
    if start is None:
        return Checkout(branch, facts.base_sha, continued=False)
    return Checkout(branch, start, continued=True,
                    free=_stale_worktree(facts, branch, machine, worktree_root, live_worktrees))


def _start_sha(facts: OriginFacts, branch: str, machine: str) -> str | None:
    remote, local = facts.origin(branch), facts.local_branch(branch)
    if remote is None and local is None:
        return None
    if local is not None and local.relation == "diverged":
        raise Refused(
            f"on {machine}: branch {branch} has diverged from origin's (worker {local.sha[:12]}, "
            f"origin {remote.sha[:12] if remote else '?'}): each has commits the other lacks",
            hint=f"merge them by hand in the worker's clone and push {branch}; coordssh never "
                 "drops either side's commits")
    if local is not None and (remote is None or local.relation == "ahead"):
        return facts.base_sha if local.in_base else local.sha
    assert remote is not None
    in_base = remote.merged is True and (local is None or local.in_base)
    return facts.base_sha if in_base else remote.sha


def _stale_worktree(facts: OriginFacts, branch: str, machine: str, worktree_root: str,
                    live_worktrees: Collection[str]) -> str:
    holder = facts.holder(branch)
    if holder is None:
        return ""
    where = f"on {machine}: branch {branch} is checked out in {holder.path}"
    if holder.path in live_worktrees:
        raise Refused(f"{where}, the worktree of a live run",
                      hint="wait for that run or `coordssh stop` it, then assign again")
    if holder.state == "dirty":
        raise Refused(
            f"{where}, which has uncommitted changes (an earlier run's work)",
            hint=f"commit them there (`git -C {holder.path} add -A && git -C {holder.path} "
                 "commit`) or move them aside, then assign again; coordssh never discards work")
    root = worktree_root.rstrip("/") + "/"
    if not holder.path.startswith(root):
        raise Refused(f"{where}, outside coordssh's worktree_root {worktree_root}",
                      hint=f"check out another branch there, or `git worktree remove "
                           f"{holder.path}`, then assign again")
    return holder.path
