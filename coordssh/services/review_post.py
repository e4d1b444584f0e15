"""Posting a review run's verdict on its pull request, once: `settle_review(ctx, item)`.

Called by whatever observes the end of a review run: `coordssh review --wait`, `coordssh
work`, the notify driver. The verdict is already on the board (pipeline.end_event turned the
run's end into `review_verdict` for the SHA it reviewed); this posts it with `pr_review
approve|request_changes`, and when the forge refuses a review from the PR's own author
(SelfReviewRefused) posts the same text as a PR comment. Every post carries the marker
`event=review work=KEY run=RUN sha=SHA`; the forge is looked up for it first (reviews, then
comments), so a rerun, a second coordinator or a lost board never posts it twice. The run's
row remembers how it was posted (`extra["review_posted"]`) so later calls ask the forge nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from coordssh.domain.work import Verdict, WorkItem
from coordssh.errors import ForgeError, SelfReviewRefused
from coordssh.forge.marker import marker, post_once, with_marker
from coordssh.services.context import Context

POSTED = "review_posted"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Settled:
    work: str
    run: str
    pr: int
    result: str                   # approve | request_changes
    sha: str
    how: str                      # review | comment
    posted: bool                  # False: it was on the PR already

    def to_json(self) -> dict[str, Any]:
        return dict(vars(self))


def review_marker(item: WorkItem, verdict: Verdict) -> str:
    return marker("review", item.key, verdict.run, verdict.sha[:12])


def review_body(item: WorkItem, verdict: Verdict) -> str:
    head = (f"**coordssh review** of {verdict.sha[:7]} (run {verdict.run}): "
            f"{'approve' if verdict.result == 'approve' else 'request changes'}")
    return with_marker(f"{head}\n\n{verdict.detail}".rstrip(), review_marker(item, verdict))


def pending_verdict(ctx: Context, item: WorkItem) -> Verdict | None:
    """The head's review verdict from a review run, if it is not posted yet (by the board)."""
    verdict = item.verdict("review")
    if verdict is None or not verdict.run or item.pr_number is None:
        return None
    row = ctx.board.get(verdict.run)
    if row is None or row.role != "review" or row.extra.get(POSTED):
        return None
    return verdict


async def settle_review(ctx: Context, item: WorkItem) -> Settled | None:
    """Post the head's review verdict on the PR unless it is there already; None when the item
    has no review verdict of a run to post."""
    verdict = pending_verdict(ctx, item)
    if verdict is None or item.pr_number is None:
        return None
    forge = ctx.forge(ctx.config.repo(item.repo))
    mark, body = review_marker(item, verdict), review_body(item, verdict)
    how, posted = await _post(forge, item.pr_number, verdict.result, body, mark)
    with ctx.board.transaction() as tx:
        row = tx.get(verdict.run)
        if row is not None:
            tx.update(row.id, extra={**row.extra, POSTED: how}, updated_at=ctx.clock())
    return Settled(item.key, verdict.run, item.pr_number, verdict.result, verdict.sha, how,
                   posted)


async def _post(forge: Any, number: int, result: str, body: str, mark: str) -> tuple[str, bool]:
    if await forge.find_review(number, mark) is not None:
        return "review", False
    if await forge.find_comment(number, mark, pr=True) is not None:
        return "comment", False
    try:
        await forge.pr_review(number, result, body)
        return "review", True
    except SelfReviewRefused:   # the PR's author may not review it: the same text as a comment
        _, posted = await post_once(forge, number, body, mark, pr=True)
        return "comment", posted


async def settle_reviews(ctx: Context, items: Iterable[WorkItem],
                         failed: list[tuple[str, str]] | None = None) -> list[Settled]:
    """`settle_review` for every item with a review verdict not posted yet (by the board). A
    forge that fails now is asked again next time: the verdict is on the board already; each
    such item and the error are appended to `failed` (notify reports them)."""
    done = []
    for item in items:
        if pending_verdict(ctx, item) is None:
            continue
        try:
            settled = await settle_review(ctx, item)
        except ForgeError as err:
            log.warning("review of %s not posted yet: %s", item.key, err.message)
            if failed is not None:
                failed.append((item.key, err.message))
            continue
        if settled is not None:
            done.append(settled)
    return done


@dataclass(frozen=True)
class ReviewOutcome:
    run: Any                      # the review run's terminal row
    item: WorkItem
    settled: Settled | None

    def to_json(self) -> dict[str, Any]:
        verdict = self.item.verdict("review")
        return {"run": self.run.id, "status": self.run.status, "reason": self.run.reason,
                "work": self.item.key, "stage": self.item.stage,
                "verdict": None if verdict is None else {
                    "result": verdict.result, "sha": verdict.sha, "detail": verdict.detail},
                "posted": None if self.settled is None else self.settled.to_json()}


async def wait_review(ctx: Context, run_id: str, *, timeout: float | None = None) -> ReviewOutcome:
    """Follow a review run to its end, then post its verdict (`--wait`)."""
    from coordssh.services.watch import watch_run

    row = await watch_run(ctx, run_id, timeout=timeout)
    item = ctx.board.get_work(row.work_key)
    settled = await settle_review(ctx, item) if item is not None else None
    return ReviewOutcome(row, ctx.board.get_work(row.work_key) or item, settled)
