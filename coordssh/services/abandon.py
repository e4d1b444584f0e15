"""`coordssh abandon KEY [--reason T] [--close-pr]`: give up on a work item.

KEY is REPO#ISSUE or a run id (or prefix) of the item. The item's live run is observed first;
while a run of the item is still live nothing is written (`coordssh stop ID` first). Then
`abandoned {reason}` goes through `pipeline.apply`, the one way to change an item. Nothing of
the worker's output is touched (LESSONS 14): the branch and its commits stay on origin and in
the worktrees, and `coordssh assign MACHINE REPO ISSUE` starts a new cycle on a new branch.

`--close-pr` closes the item's open PR through the forge (`pr_close`: `gh pr close`, or the
plain-git forge's record), after one marker comment on it (`post_once`: a rerun finds the
marker and posts nothing). Idempotent: an item abandoned already is not recorded again, and a
rerun with `--close-pr` finishes what a failed close left (one comment, one close in all). A
merged PR is refused before anything is written.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from coordssh.domain import stages as s
from coordssh.domain.models import Assignment
from coordssh.domain.work import Event, WorkItem
from coordssh.errors import ForgeError, Refused
from coordssh.forge.marker import marker, post_once
from coordssh.forge.types import PullRequest
from coordssh.services import followup, pipeline
from coordssh.services.context import Context

DEFAULT_REASON = "given up by the operator (coordssh abandon)"


@dataclass(frozen=True)
class Abandoned:
    item: WorkItem
    already: bool                      # it was abandoned before this command
    pr: PullRequest | None = None      # the PR as the forge saw it (--close-pr)
    closed_now: bool = False           # this command closed it
    comment: str = ""                  # posted | already | "" (none)
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def again(self) -> str:
        return f"coordssh assign MACHINE {self.item.repo} {self.item.issue}"

    def to_json(self) -> dict[str, Any]:
        item, pr = self.item, self.pr
        return {"work": item.key, "stage": item.stage, "reason": item.abandoned_reason,
                "already": self.already, "branch": item.branch, "head_sha": item.head_sha,
                "pr": None if pr is None else {"number": pr.number, "url": pr.url,
                                               "state": pr.state, "closed_now": self.closed_now,
                                               "comment": self.comment or None},
                "notes": list(self.notes), "again": self.again}


async def abandon(ctx: Context, which: str, *, reason: str = "",
                  close_pr: bool = False) -> Abandoned:
    item = await _observed(ctx, followup.resolve(ctx, which).item)
    key = item.key
    refuse_live(ctx.board.get, item)
    if item.stage == s.MERGED:
        raise Refused(f"{key} is merged: there is nothing to abandon",
                      hint=f"`coordssh assign MACHINE {item.repo} {item.issue}` starts it again")
    pr = await _pr(ctx, item) if close_pr else None
    already = item.stage == s.ABANDONED
    if not already:
        with ctx.board.transaction() as tx:
            current = tx.get_work(key)
            assert current is not None
            refuse_live(tx.get, current)      # as it is under the lock
            item = pipeline.apply(tx, key, Event("abandoned", {
                "reason": reason.strip() or DEFAULT_REASON, "by": "operator"}), ctx.clock())
    if pr is None:
        notes = ("no PR to close",) if close_pr else ()
        return Abandoned(item, already, notes=notes)
    return await _close(ctx, item, already, pr)


async def _observed(ctx: Context, item: WorkItem) -> WorkItem:
    """The item after observing the machines of its live runs (a run that ended since the last
    command has its end applied first; an unreachable machine leaves its run live)."""
    machines = sorted({row.machine for row in live_runs(ctx.board.get, item)
                       if row.machine in ctx.config.machines})
    if not machines:
        return item
    from coordssh.services.observe import observe

    await observe(ctx, machines)
    return ctx.board.get_work(item.key) or item


def live_runs(get: Callable[[str], Assignment | None], item: WorkItem) -> list[Assignment]:
    return [row for row in (get(run) for run in item.runs) if row is not None and row.live]


def refuse_live(get: Callable[[str], Assignment | None], item: WorkItem) -> None:
    """Refused while a run of the item is live (its end would still move the item)."""
    live = live_runs(get, item)
    if not live:
        return
    row = live[-1]
    raise Refused(f"{item.key} has a live {row.role} run {row.id} on {row.machine} "
                  f"({row.status}): nothing was abandoned",
                  hint=f"`coordssh stop {row.id}` first (its work is kept), then abandon it")


async def _pr(ctx: Context, item: WorkItem) -> PullRequest | None:
    """The item's PR as the forge sees it; a merged one refuses before anything is written."""
    if item.pr_number is None:
        return None
    pr = await ctx.forge(ctx.config.repo(item.repo)).pr_view(item.pr_number)
    if pr.state == "MERGED":
        raise Refused(f"PR #{pr.number} of {item.key} is merged: nothing was abandoned",
                      hint="`coordssh merge` records the merge on the work item")
    return pr


async def _close(ctx: Context, item: WorkItem, already: bool, pr: PullRequest) -> Abandoned:
    if not pr.open:
        return Abandoned(item, already, pr, notes=(f"PR #{pr.number} was already closed",))
    forge = ctx.forge(ctx.config.repo(item.repo))
    body = (f"**coordssh**: {item.key} is abandoned: {item.abandoned_reason}.\n"
            f"This PR is closed without merging; branch `{item.branch}` keeps its commits. "
            f"`coordssh assign MACHINE {item.repo} {item.issue}` starts the issue again on a "
            "new branch.")
    mark = marker("abandoned", item.key, None, (pr.head_sha or item.head_sha or "-")[:12])
    try:
        _, posted = await post_once(forge, pr.number, body, mark, pr=True)
        await forge.pr_close(pr.number)
    except ForgeError as err:
        raise ForgeError(f"{item.key} is abandoned, but PR #{pr.number} was not closed: "
                         f"{err.message}",
                         hint=f"run `coordssh abandon {item.key} --close-pr` again "
                              f"({err.hint or 'it finishes what is missing'})") from err
    closed = await forge.pr_view(pr.number)
    return Abandoned(item, already, closed, closed_now=True,
                     comment="posted" if posted else "already")
