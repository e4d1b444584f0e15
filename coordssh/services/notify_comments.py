"""The comments that follow work events, posted once each (LESSONS 16-17).

Events are read from the board's history after a cursor (`notify.events_seq` in the kv table).
An event that deserves a comment gets a dedupe key and a hidden marker; the key is recorded on
the board (`comment:<key>`) ONLY after the notifier said `posted` or `already`.

The first pass (no cursor yet: notify has never run on this board) starts the cursor at the end
of the events log (`start_cursor`): what happened before notify ran is not posted (an operator
who used coordssh by hand for weeks does not want dozens of comments about old history), and
the pass reports how many comments that was, on which items, and why.

A comment not posted now stays owed; the cursor holds before the first one, the next pass tries
it again and skips those after it that were recorded meanwhile. Why one waits:
  failed     gh refused this comment (the issue gone, locked...): after MAX_ATTEMPTS failed
             passes it is given up (recorded `gave_up`, reported), so it cannot hold the rest
  deferred   gh itself is failing (rate limit, no network, no token): the rest of the pass's
             comments wait, and the attempt does not count towards giving up; or the per-pass
             cap on forge calls is spent; or an earlier comment on the same item is waiting
             (an issue's comments keep their order)
The end of a cycle without a merge (`pr_closed`, `abandoned`) is commented on once per cycle:
both kinds share the key `cycle_end:<work>:-:-:c<cycle>` (the cycle counted from the `reopened`
events before it), so an `abandoned` after a `pr_closed` of the same cycle (the PR reopened, then
given up) adds nothing to the issue, and the next cycle's end has its own comment.
The texts are in notify_texts.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from coordssh.domain.work import WorkItem
from coordssh.domain.work_cycle import cycle_of
from coordssh.services.notify_lock import checkpoint
from coordssh.services.notifier import ALREADY, FAILED, POSTED, marker, notifier_for
from coordssh.services.notify_texts import WRITERS

if TYPE_CHECKING:
    from coordssh.services.context import Context

CURSOR = "notify.events_seq"
LEDGER = "comment:"
FAILURES = "comment_failures:"
CALLS_PER_POST = 2
MAX_ATTEMPTS = 20
DEFERRED, GAVE_UP = "deferred", "gave_up"
CYCLE_ENDS = frozenset({"pr_closed", "abandoned"})      # one comment per cycle for both


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


def start_cursor(ctx: Context) -> dict[str, Any] | None:
    """On the first pass (no cursor yet), the cursor at the end of the events log, read and set
    in one board transaction; what it passed over (None on every later pass)."""
    soft_cap = ctx.config.pipeline.budgets.item_soft_usd
    with ctx.board.transaction() as tx:
        if tx.kv_get(CURSOR) is not None:
            return None
        events = tx.events()
        end = max((e["seq"] for e in events), default=0)
        reopens = _reopens(events)
        owed = [c for c in (comment_for(e, soft_cap, tx.get_work(e["work"]),
                                        _cycle(reopens.get(e["work"], []), e["seq"]))
                            for e in events)
                if c is not None and tx.kv_get(LEDGER + c.dedupe_key) is None]
        tx.kv_set(CURSOR, end)
    items = sorted({c.work for c in owed})
    return {"cursor": end, "not_posted": len(owed), "work_items": items,
            "why": f"first notify pass: the comment cursor starts at the end of the events "
                   f"log (event {end}); {_count(len(owed), 'comment')} owed by events "
                   f"recorded before it (on {_count(len(items), 'work item')}) not posted: "
                   f"history from before notify ran. `coordssh work REPO#ISSUE --history` "
                   f"shows them"}


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def pending_comments(ctx: Context) -> tuple[list[Comment], int]:
    """The comments still owed after the cursor, and the last event seq seen. None without a
    cursor: only `start_cursor` decides where the first pass starts (never all of history)."""
    if ctx.board.kv_get(CURSOR) is None:
        return [], 0
    cursor = int(ctx.board.kv_get(CURSOR, 0) or 0)
    found, last = [], cursor
    reopens: dict[str, list[int]] = {}      # read for the items with a cycle end only
    for event in ctx.board.events_since(cursor):
        last = max(last, event["seq"])
        cycle = None
        if event["kind"] in CYCLE_ENDS:
            work = event["work"]
            if work not in reopens:
                reopens[work] = _reopens(ctx.board.events(work)).get(work, [])
            cycle = _cycle(reopens[work], event["seq"])
        comment = comment_for(event, ctx.config.pipeline.budgets.item_soft_usd,
                              ctx.board.get_work(event["work"]), cycle)
        if comment is not None:
            found.append(comment)
    return found, last


async def post_pending(ctx: Context, budget: CommentBudget, *, dry_run: bool = False
                       ) -> list[dict[str, Any]]:
    """Post what is owed; one result per comment ({key, work, kind, state, detail})."""
    comments, last = pending_comments(ctx)
    results, hold = [], None
    halted = ""                       # gh itself fails: the rest waits for the next pass
    waiting: dict[str, str] = {}      # work item -> its earlier comment that waits
    for comment in comments:
        why = halted or waiting.get(comment.work)
        state, detail, gh_down = (DEFERRED, why, False) if why else \
            await _one(ctx, comment, budget, dry_run)
        results.append({"key": comment.dedupe_key, "work": comment.work, "kind": comment.kind,
                        "state": state, "detail": detail})
        if state in (FAILED, DEFERRED):
            hold = comment.seq - 1 if hold is None else hold
            waiting.setdefault(comment.work, f"after the {comment.kind} comment on "
                                             f"{comment.work}, which waits: kept in order")
        if gh_down:
            halted = f"gh is failing ({detail}): next pass"
    if not dry_run:
        new = last if hold is None else hold
        if new != int(ctx.board.kv_get(CURSOR, 0) or 0):
            ctx.board.kv_set(CURSOR, new)
    return results


async def _one(ctx: Context, comment: Comment, budget: CommentBudget,
               dry_run: bool) -> tuple[str, str, bool]:
    """(state, detail, whether gh itself is failing)."""
    if ctx.board.kv_get(LEDGER + comment.dedupe_key) is not None:
        return "recorded", "posted before", False
    item = ctx.board.get_work(comment.work)
    if item is None or item.repo not in ctx.config.repos:
        return "skipped", f"repo of {comment.work} is not in the config", False
    if dry_run:
        return "would_post", comment.body.splitlines()[0], False
    if budget.calls_left < CALLS_PER_POST:
        return DEFERRED, "pipeline.max_forge_calls_per_pass reached: next pass", False
    notifier = notifier_for(ctx, ctx.config.repo(item.repo))
    result = await notifier.post(item, comment.kind, comment.body, comment.dedupe_key,
                                 comment.marker)
    budget.calls_left -= max(result.calls, 1)
    checkpoint("posted")      # between the post and its record: the marker saves us
    if result.state in (POSTED, ALREADY):
        ctx.board.kv_set(LEDGER + comment.dedupe_key,
                         {"state": result.state, "detail": result.detail, "at": ctx.clock()})
    elif result.state == FAILED and result.transient:
        return DEFERRED, result.detail, True
    elif result.state == FAILED:
        return *_failed(ctx, comment, result.detail), False
    return result.state, result.detail, False


def _failed(ctx: Context, comment: Comment, detail: str) -> tuple[str, str]:
    """Retried next pass; after MAX_ATTEMPTS passes in a row it is given up (recorded as such,
    so one comment GitHub always refuses, e.g. on a deleted issue, cannot hold the rest)."""
    tries = int(ctx.board.kv_get(FAILURES + comment.dedupe_key, 0) or 0) + 1
    if tries < MAX_ATTEMPTS:
        ctx.board.kv_set(FAILURES + comment.dedupe_key, tries)
        return FAILED, detail
    ctx.board.kv_set(LEDGER + comment.dedupe_key,
                     {"state": GAVE_UP, "detail": detail, "at": ctx.clock()})
    return GAVE_UP, f"failed {tries} times, given up: {detail}"


# --- what each event says ---------------------------------------------------------------------
def comment_for(event: dict[str, Any], soft_cap: float | None,
                item: WorkItem | None, cycle: int | None = None) -> Comment | None:
    """`cycle`: the cycle the event belongs to (for a cycle end; None: the item's current)."""
    kind, data, run = event["kind"], event.get("data") or {}, event.get("run") or ""
    if data.get("refused"):
        return None
    writer = WRITERS.get(kind)
    if writer is None:
        return None
    if kind in CYCLE_ENDS:
        cycle = cycle or (cycle_of(item) if item is not None else 1)
        data = {**data, "work": event["work"], "branch": _branch(item, cycle)}
    body = writer(data, run, item, soft_cap)
    if not body:
        return None
    if kind in CYCLE_ENDS:
        return Comment(event["seq"], event["work"], kind, body,
                       f"cycle_end:{event['work']}:-:-:c{cycle}",
                       marker(f"cycle_end:c{cycle}", event["work"]))
    sha = data.get("sha") or ""
    extra = f":{int(event['at'])}" if kind in ("parked", "unparked", "machine_stale",
                                                  "machine_back") else ""
    key = f"{kind}:{event['work']}:{run or '-'}:{sha[:12] or '-'}{extra}"
    return Comment(event["seq"], event["work"], kind, body, key,
                   marker(kind + extra, event["work"], run, sha))


def _reopens(events: list[dict[str, Any]]) -> dict[str, list[int]]:
    """The seqs of each item's `reopened` events (each starts a new cycle)."""
    found: dict[str, list[int]] = {}
    for event in events:
        if event["kind"] == "reopened" and not (event.get("data") or {}).get("refused"):
            found.setdefault(event["work"], []).append(event["seq"])
    return found


def _cycle(reopens: list[int], seq: int) -> int:
    return 1 + sum(1 for at in reopens if at < seq)


def _branch(item: WorkItem | None, cycle: int) -> str:
    """The branch of `cycle` (the item may be on a later cycle by now)."""
    if item is None:
        return ""
    if cycle == cycle_of(item):
        return item.branch
    earlier = item.earlier[cycle - 1] if 0 < cycle <= len(item.earlier) else {}
    return str(earlier.get("branch") or "")
