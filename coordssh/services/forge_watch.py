"""What the forge says about the work items' PRs and issues, recorded once: the driver's read.

`notify` calls `watch_forge` each pass, before it acts on the items (reads observe, drivers
act: `coordssh work` never asks the forge). Per repo with items not merged or abandoned, at
most two listings answer for every item, whatever their number:

  open_pulls   items with a PR (any stage) whose PR is not in it are asked once (`pr_view`):
               CLOSED -> `pr_closed` (-> abandoned); MERGED (by hand, or by GitHub's merge
               queue) -> `merge_after.finish_merge` as the merge queue does it (pr_merged)
  issue_list   (GitHub repos) items with no live run (no run stage, not merging) whose issue
               is not in the open list, and whose PR (if any) is still open, are asked once
               (`issue_view`): CLOSED -> `abandoned {reason: "issue #N closed on GitHub"}`

Each item leaves the candidates once recorded, so nothing is recorded twice and later passes
ask nothing about it. Every forge call counts against the pass's `max_forge_calls_per_pass`,
of which the watch takes at most half and never the last comment's worth (`watch_share`): the
comments after it keep the rest, so a small cap never starves them. What does not fit waits for the next pass. A listing that comes back full
(its limit reached) proves nothing about the items missing from it: they are not asked about
one by one (that would be a call per item per pass, for ever), and the pass says so. A dry run
records on its scratch board and does no merge follow-up (it says what it would do).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from coordssh.domain import stages as s
from coordssh.domain.work import Event, WorkItem
from coordssh.errors import ForgeError, ForgeNotFound
from coordssh.services import pipeline

from coordssh.services.notify_comments import CALLS_PER_POST

if TYPE_CHECKING:
    from coordssh.services.context import Context
    from coordssh.services.notify_comments import CommentBudget

PULLS_LIMIT = 200
ISSUES_LIMIT = 300
FINISH_MERGE_CALLS = 5          # delete branch, issue view/close, find + post the comment
IDLE = frozenset(s.STAGES) - s.RUNNING_STAGES - s.FINAL_STAGES - {s.MERGING}


async def watch_forge(ctx: Context, budget: CommentBudget, *,
                      dry_run: bool = False) -> list[dict[str, Any]]:
    """One line per item the forge moved ({work, forge}), and one per call left for later."""
    allowed = watch_share(budget.calls_left)
    share = type(budget)(allowed)
    try:
        return await _watch(ctx, share, dry_run)
    finally:
        budget.calls_left -= allowed - share.calls_left


def watch_share(calls: int) -> int:
    """Half the pass's forge calls, and never the last comment's worth: posting what happened
    comes first (a cap of 2, one comment, leaves the watch nothing)."""
    return max(0, min(calls // 2, calls - CALLS_PER_POST))


async def _watch(ctx: Context, budget: CommentBudget, dry_run: bool) -> list[dict[str, Any]]:
    said: list[dict[str, Any]] = []
    by_repo: dict[str, list[WorkItem]] = {}
    for item in ctx.board.list_work():
        if item.stage not in s.FINAL_STAGES and item.repo in ctx.config.repos:
            by_repo.setdefault(item.repo, []).append(item)
    for name, items in sorted(by_repo.items()):
        watch = _RepoWatch(ctx, name, budget, dry_run, said)
        try:
            still_open = await watch.pulls([i for i in items if i.pr_number is not None])
            if ctx.config.repo(name).github:
                await watch.issues([i for i in items if i.stage in IDLE and
                                    (i.pr_number is None or i.pr_number in still_open)])
        except ForgeError as err:
            said.append({"work": name, "forge": f"not read: {err.message}"})
    return said


class _RepoWatch:
    def __init__(self, ctx: Context, repo: str, budget: CommentBudget, dry_run: bool,
                 said: list[dict[str, Any]]) -> None:
        self.ctx, self.repo, self.budget, self.dry_run, self.said = ctx, repo, budget, dry_run, said
        self.forge = ctx.forge(ctx.config.repo(repo))

    def _spend(self, calls: int, what: str) -> bool:
        if self.budget.calls_left < calls:
            self.said.append({"work": self.repo, "forge": f"{what}: pipeline.max_forge_calls_"
                                                          "per_pass reached: next pass"})
            return False
        self.budget.calls_left -= calls
        return True

    async def pulls(self, items: list[WorkItem]) -> set[int]:
        """The PR numbers of `items` found open (the others are settled or left for later)."""
        if not items or not self._spend(1, "open pull requests not listed"):
            return set()
        listed = await self.forge.open_pulls(PULLS_LIMIT)
        open_now = {pr.number for pr in listed}
        if self._full(len(listed), PULLS_LIMIT, "open pull requests"):
            return open_now | {i.pr_number for i in items if i.pr_number is not None}
        for item in items:
            if item.pr_number not in open_now and self._spend(1, f"PR #{item.pr_number} of "
                                                                 f"{item.key} not read"):
                await self._settle_pr(item)
        return open_now

    async def _settle_pr(self, item: WorkItem) -> None:
        pr = await self.forge.pr_view(item.pr_number)
        if pr.state == "CLOSED":
            self._record(item, Event("pr_closed", {"number": pr.number, "url": pr.url}),
                         f"PR #{pr.number} closed without merging: abandoned")
        elif pr.state == "MERGED":
            if self.dry_run:
                self.said.append({"work": item.key, "forge": f"PR #{pr.number} merged: would "
                                                             "finish the merge"})
            elif self._spend(FINISH_MERGE_CALLS, f"the merge of PR #{pr.number} not finished"):
                from coordssh.services.merge_after import finish_merge

                self.said.append({"work": item.key, "forge": await finish_merge(self.ctx, item,
                                                                                pr)})

    async def issues(self, items: list[WorkItem]) -> None:
        if not items or not self._spend(1, "open issues not listed"):
            return
        listed = await self.forge.issue_list(state="open", limit=ISSUES_LIMIT)
        open_now = {i.number for i in listed}
        if self._full(len(listed), ISSUES_LIMIT, "open issues"):
            return
        for item in items:
            if item.issue in open_now or not self._spend(1, f"issue #{item.issue} not read"):
                continue
            try:
                issue = await self.forge.issue_view(item.issue)
            except ForgeNotFound:
                continue
            if not issue.open:
                reason = f"issue #{item.issue} closed on GitHub"
                self._record(item, Event("abandoned", {"reason": reason, "by": "notify"}),
                             f"{reason}: abandoned", allowed=lambda now: now.stage in IDLE)

    def _full(self, count: int, limit: int, what: str) -> bool:
        if count < limit:
            return False
        self.said.append({"work": self.repo, "forge": f"{limit}+ {what}: the list is cut, so an "
                                                      "item missing from it may still be open; "
                                                      "not asked one by one"})
        return True

    def _record(self, item: WorkItem, event: Event, line: str,
                allowed: Callable[[WorkItem], bool] | None = None) -> None:
        """`event` once, on the item as it is under the lock (not moved meanwhile)."""
        with self.ctx.board.transaction() as tx:
            now = tx.get_work(item.key)
            if now is None or now.stage in s.FINAL_STAGES or now.pr_number != item.pr_number \
                    or (allowed is not None and not allowed(now)):
                return
            pipeline.apply(tx, item.key, event, self.ctx.clock())
        self.said.append({"work": item.key, "forge": line})
