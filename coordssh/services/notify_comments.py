"""The comments that follow work events, posted once each (LESSONS 16-17).

Events are read from the board's history after a cursor (`notify.events_seq` in the kv table).
An event that deserves a comment gets a dedupe key and a hidden marker; the key is recorded on
the board (`comment:<key>`) ONLY after the notifier said `posted` or `already`. A failed post
(or one left for the next pass by the per-pass cap on forge calls) holds the cursor there: the
next pass tries it again, and skips those after it that were recorded meanwhile. After
MAX_ATTEMPTS failed passes a comment is given up (recorded `gave_up`, reported).

Comments: the briefing when a run starts, completion, failure with the reason, stuck (with the
exact `coordssh continue ID --guidance ...`), usage-limited (with the reset time), the test and
review verdicts, parked (a budget cap, with the reason), merged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from coordssh.domain import stages as s
from coordssh.domain.next_action import clock
from coordssh.domain.work import WorkItem
from coordssh.services.notify_lock import checkpoint
from coordssh.services.notifier import ALREADY, FAILED, POSTED, marker, notifier_for

if TYPE_CHECKING:
    from coordssh.services.context import Context

CURSOR = "notify.events_seq"
LEDGER = "comment:"
FAILURES = "comment_failures:"
CALLS_PER_POST = 2
MAX_ATTEMPTS = 20


@dataclass(frozen=True)
class Comment:
    seq: int
    work: str
    kind: str
    body: str
    dedupe_key: str
    marker: str


@dataclass
class CommentBudget:
    calls_left: int


def pending_comments(ctx: Context) -> tuple[list[Comment], int]:
    """The comments still owed after the cursor, and the last event seq seen."""
    cursor = int(ctx.board.kv_get(CURSOR, 0) or 0)
    found, last = [], cursor
    for event in ctx.board.events_since(cursor):
        last = max(last, event["seq"])
        comment = comment_for(event, ctx.config.pipeline.budgets.item_soft_usd,
                              ctx.board.get_work(event["work"]))
        if comment is not None:
            found.append(comment)
    return found, last


async def post_pending(ctx: Context, budget: CommentBudget, *, dry_run: bool = False
                       ) -> list[dict[str, Any]]:
    """Post what is owed; one result per comment ({key, work, kind, state, detail})."""
    comments, last = pending_comments(ctx)
    results, hold = [], None
    for comment in comments:
        state, detail = await _one(ctx, comment, budget, dry_run)
        results.append({"key": comment.dedupe_key, "work": comment.work, "kind": comment.kind,
                        "state": state, "detail": detail})
        if state in (FAILED, "deferred") and hold is None:
            hold = comment.seq - 1
    if not dry_run:
        new = last if hold is None else hold
        if new != int(ctx.board.kv_get(CURSOR, 0) or 0):
            ctx.board.kv_set(CURSOR, new)
    return results


async def _one(ctx: Context, comment: Comment, budget: CommentBudget,
               dry_run: bool) -> tuple[str, str]:
    if ctx.board.kv_get(LEDGER + comment.dedupe_key) is not None:
        return "recorded", "posted before"
    item = ctx.board.get_work(comment.work)
    if item is None or item.repo not in ctx.config.repos:
        return "skipped", f"repo of {comment.work} is not in the config"
    if dry_run:
        return "would_post", comment.body.splitlines()[0]
    if budget.calls_left < CALLS_PER_POST:
        return "deferred", "pipeline.max_forge_calls_per_pass reached: next pass"
    notifier = notifier_for(ctx, ctx.config.repo(item.repo))
    result = await notifier.post(item, comment.kind, comment.body, comment.dedupe_key,
                                 comment.marker)
    budget.calls_left -= max(result.calls, 1)
    checkpoint("posted")      # between the post and its record: the marker saves us
    if result.state in (POSTED, ALREADY):
        ctx.board.kv_set(LEDGER + comment.dedupe_key,
                         {"state": result.state, "detail": result.detail, "at": ctx.clock()})
    elif result.state == FAILED:
        return _failed(ctx, comment, result.detail)
    return result.state, result.detail


def _failed(ctx: Context, comment: Comment, detail: str) -> tuple[str, str]:
    """Retried next pass; after MAX_ATTEMPTS passes in a row it is given up (recorded as such,
    so one comment GitHub always refuses, e.g. on a deleted issue, cannot hold the rest)."""
    tries = int(ctx.board.kv_get(FAILURES + comment.dedupe_key, 0) or 0) + 1
    if tries < MAX_ATTEMPTS:
        ctx.board.kv_set(FAILURES + comment.dedupe_key, tries)
        return FAILED, detail
    ctx.board.kv_set(LEDGER + comment.dedupe_key,
                     {"state": "gave_up", "detail": detail, "at": ctx.clock()})
    return "gave_up", f"failed {tries} times, given up: {detail}"


# --- what each event says ---------------------------------------------------------------------
def comment_for(event: dict[str, Any], soft_cap: float | None,
                item: WorkItem | None) -> Comment | None:
    kind, data, run = event["kind"], event.get("data") or {}, event.get("run") or ""
    if data.get("refused"):
        return None
    writer = _WRITERS.get(kind)
    if writer is None:
        return None
    body = writer(data, run, item, soft_cap)
    if not body:
        return None
    sha = data.get("sha") or ""
    extra = f":{int(event['at'])}" if kind in ("parked", "unparked", "machine_stale",
                                                  "machine_back") else ""
    key = f"{kind}:{event['work']}:{run or '-'}:{sha[:12] or '-'}{extra}"
    return Comment(event["seq"], event["work"], kind, body, key,
                   marker(kind + extra, event["work"], run, sha))


def _started(data, run, item, soft_cap) -> str:
    role, mode = data.get("role", "implement"), data.get("mode", "new")
    model = data.get("model") or ("no model" if role == "test" else "default model")
    lines = [f"**coordssh**: {role} run `{run}` started on `{data.get('machine', '?')}` "
             f"({model}; {mode})."]
    if data.get("branch"):
        lines.append(f"Branch: `{data['branch']}` from `{data.get('base_branch', 'main')}`.")
    if item is not None and soft_cap is not None and item.spend_usd >= soft_cap and \
            role == "fix":
        lines.append(f"Soft budget reached (${item.spend_usd:.2f} of ${soft_cap:.2f}, "
                     "pipeline.budgets.item_soft_usd): this run is one rung down the model "
                     "ladder.")
    lines.append(f"Follow it: `coordssh watch {run}`.")
    return "\n".join(lines)


def _ended(data, run, item, soft_cap) -> str:
    status, reason = data.get("status", ""), data.get("reason", "")
    role = data.get("role", "implement")
    cost = f" Cost: ${float(data.get('cost_usd') or 0):.2f}."
    if status == "done":
        sha = (data.get("sha") or "")[:7]
        return f"**coordssh**: {role} run `{run}` is done; pushed `{sha}`.{cost}"
    if status == "advisory":
        return f"**coordssh**: {role} run `{run}` finished without commits: {reason}.{cost}"
    if status in s.GUIDANCE_STATUSES:
        return (f"**coordssh**: {role} run `{run}` is stuck ({status}): {reason}\n"
                f"Continue it with guidance: `coordssh continue {run} --guidance '...'`")
    if status == "usage_limited":
        resets = data.get("resets_at")
        when = clock(resets, resets - 1) if resets else "an unknown time"
        return (f"**coordssh**: {role} run `{run}` hit the Claude usage limit; the machine's "
                f"account is parked until {when}. It continues by itself after the reset.")
    if status == "cancelled":
        return f"**coordssh**: {role} run `{run}` was stopped by the operator."
    return f"**coordssh**: {role} run `{run}` failed ({status}): {reason}{cost}"


def _test(data, run, item, soft_cap) -> str:
    sha = (data.get("sha") or "")[:7]
    if data.get("result") == "passed":
        return f"**coordssh**: tests passed at `{sha}` (run `{run or 'by hand'}`)."
    detail = str(data.get("detail") or "").strip()[-1500:]
    tail = f"\n\n```\n{detail}\n```" if detail else ""
    return f"**coordssh**: tests failed at `{sha}` (run `{run or 'by hand'}`).{tail}"


def _review(data, run, item, soft_cap) -> str:
    said = "approved" if data.get("result") == "approve" else "changes requested"
    detail = str(data.get("detail") or "").strip()[:2000]
    return f"**coordssh**: review at `{(data.get('sha') or '')[:7]}`: {said}.\n\n{detail}".strip()


_WRITERS: dict[str, Callable[..., str]] = {
    "run_started": _started,
    "run_ended": _ended,
    "test_verdict": _test,
    "review_verdict": _review,
    "pr_merged": lambda data, run, item, cap: "**coordssh**: merged."
                                              + (f" PR #{item.pr_number}." if item and
                                                 item.pr_number else ""),
    "machine_stale": lambda data, run, item, cap: (
        f"**coordssh**: machine `{data.get('machine')}` has been unreachable since "
        f"{clock(data.get('since') or 0, (data.get('since') or 0) - 1)}; run `{run}` is unknown: "
        "it is neither killed nor started again until the machine answers."),
    "machine_back": lambda data, run, item, cap: (
        f"**coordssh**: machine `{data.get('machine')}` answers again; run `{run}` is "
        "observed again."),
    "parked": lambda data, run, item, cap: (f"**coordssh**: parked: {data.get('reason', '')}"
                                            if data.get("until") is None else ""),
}
