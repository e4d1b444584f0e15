"""Who holds an issue, and whether a machine has room: the refusals of `assign`.

An issue is claimed by live work on the board for the same repo and issue, or by an
`issue-<N>-*` branch on origin that is not merged into the default branch (LESSONS 18). A
machine is full when its live runs (reconciled from the machine, not guessed from the board)
reach `max_workers`. Every refusal names its holder and the way out.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from coordssh.config.schema import Machine, Repo
from coordssh.domain.models import Assignment
from coordssh.errors import Refused
from coordssh.remote.worktree import RemoteBranch


def board_holders(rows: Iterable[Assignment], repo: str, issue: int,
                  *, exclude: str | None = None) -> list[Assignment]:
    """Live assignments for `repo#issue` (any role)."""
    return [row for row in rows
            if row.live and row.repo == repo and row.issue == issue and row.id != exclude]


def ensure_unclaimed(repo: str, issue: int, holders: Sequence[Assignment],
                     branches: Sequence[RemoteBranch], *, force: bool) -> None:
    """Refused naming the holder(s) unless `force`."""
    if force or (not holders and not branches):
        return
    held = [f"assignment {row.id} on {row.machine} ({row.status}, branch {row.branch})"
            for row in holders]
    held += [f"branch {b.name} on origin ({_merge_note(b)})" for b in branches]
    raise Refused(
        f"{repo}#{issue} is already claimed by " + "; ".join(held),
        hint="wait for that work, `coordssh stop` it, merge or delete the branch, or pass "
             "--force to assign it anyway")


def _merge_note(branch: RemoteBranch) -> str:
    if branch.merged is None:
        return f"at {branch.sha[:10]}, merge state unknown without a fetch"
    return f"at {branch.sha[:10]}, not merged"


def ensure_serves(machine: Machine, repo: Repo) -> str:
    """The repo's path on `machine`, or Refused listing what the machine serves."""
    path = machine.repo_paths.get(repo.name)
    if repo.name in machine.repos and path:
        return path
    served = ", ".join(machine.repos) or "(none)"
    raise Refused(
        f"machine {machine.name} does not serve repo '{repo.name}' (it serves: {served})",
        hint=f"pick a machine that serves it, or add '{repo.name}' to repo_paths of "
             f"{machine.name} in coordinator.yml")


def ensure_capacity(machine: Machine, live_ids: Sequence[str]) -> None:
    if len(live_ids) < machine.max_workers:
        return
    raise Refused(
        f"machine {machine.name} is at capacity ({len(live_ids)}/{machine.max_workers} running: "
        f"ids {', '.join(live_ids)})",
        hint="wait for a run to finish (`coordssh wait ID`), stop one, pick another machine, or "
             "raise max_workers for it")
