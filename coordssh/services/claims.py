"""Who holds an issue, which branch it owns, and whether a machine has room: `assign`'s rules.

An issue is claimed by LIVE work on the board for the same repo and issue. Runs of it that
ended are not claims: their branch (on origin, or only on the worker) is the issue's branch,
and the next run continues on it (`issue_branch`; remote/checkout.py checks it out). A branch
whose every change is in the base is no claim either: merged by ancestry, or by patch (`git
cherry`: a squash or rebase merge leaves the branch's commits out of the base). Nor is a branch
its work item retired (`work_cycle.retired_branches`: the item's once merged or abandoned, and
every earlier cycle's): no run continues it, whatever git shows, and an abandoned one keeps its
commits untouched. One merged by patch (or retired) cannot move forward to the base (its push
would not be a fast-forward, or would drop work), so the next run takes a new branch name
(`issue-N-slug-2`), and that assign starts a new cycle of the item. A machine
is full when its live runs (reconciled from the machine, runs the board did not know included)
reach `max_workers`. Every refusal names its holder and the way out.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace

from coordssh.config.schema import Machine, Repo
from coordssh.domain.models import Assignment
from coordssh.domain.work import WorkItem
from coordssh.domain.work_cycle import retired_branches
from coordssh.errors import Refused
from coordssh.remote.worktree import OriginFacts, RemoteBranch


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
    merge = ", merge or delete the branch" if branches else ""
    raise Refused(
        f"{repo}#{issue} is already claimed by " + "; ".join(held),
        hint=f"wait for that work (`coordssh wait ID`), `coordssh stop` it{merge}, or pass "
             "--force to assign it anyway")


def branch_for(rows: Iterable[Assignment], item: WorkItem | None, repo: str, issue: int,
               facts: OriginFacts, new_name: str) -> str:
    """The branch a new implement run of `repo#issue` works on: the issue's own (its item's,
    an earlier run's), else a new one; the item's retired branches are never continued."""
    facts = retired(facts, retired_branches(item))
    return issue_branch(rows, repo, issue, facts, new_name) or new_name


def issue_branch(rows: Iterable[Assignment], repo: str, issue: int, facts: OriginFacts,
                 new_name: str) -> str | None:
    """The branch `repo#issue` already owns, or None for a new branch `new_name`.

    The first board run's branch that still exists (on origin or the worker) wins; then
    `new_name` if it exists; then the one branch of the issue with commits of its own. Several
    such branches and no board row to choose: Refused, naming them.
    """
    existing = set(facts.existing())
    for row in sorted(rows, key=lambda r: r.created_at or 0.0):
        if row.repo == repo and row.issue == issue and row.branch in existing and \
                not facts.squashed(row.branch):
            return row.branch
    if new_name in existing:
        return new_name if not facts.squashed(new_name) else _next_name(new_name, facts)
    unmerged = facts.unmerged()
    if len(unmerged) > 1:
        raise Refused(
            f"{repo}#{issue} has several branches and no run on the board says which is its "
            f"own: {', '.join(unmerged)}",
            hint="merge the work into one of them and delete the others, or assign with the "
                 "--title whose branch name (issue-N-<slug of the title>) is the one to continue")
    return unmerged[0] if unmerged else None


def _next_name(name: str, facts: OriginFacts) -> str:
    """`name-2`, `name-3`, ...: the first that is not merged by patch (or does not exist)."""
    n = 2
    while f"{name}-{n}" in facts.existing() and facts.squashed(f"{name}-{n}"):
        n += 1
    return f"{name}-{n}"


def retired(facts: OriginFacts, names: Sequence[str]) -> OriginFacts:
    """The facts with the `names` branches done (their work item's PR merged, or the item
    abandoned): like a squash merge, they claim nothing and cannot be moved to the base."""
    if not names:
        return facts
    remote = tuple(replace(b, merged=True, squashed=True) if b.name in names else b
                   for b in facts.branches)
    local = tuple(replace(b, in_base=True, squashed=True) if b.name in names else b
                  for b in facts.local)
    return replace(facts, branches=remote, local=local)


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
