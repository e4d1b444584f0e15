"""`coordssh demo`, the pipeline half: the notify pass (the one cron runs) until both merge.

`drive` calls `notify.notify_pass` over and over, as cron would every minute but without the
wait, and after each pass yields what it did and each work item's new stages. The stages are
read back from the item's history (`events`) through the domain's own `transition`, so a pass
that moved an item twice (a run's end observed, then the next run started) shows both moves.
It stops when every item is merged or cannot go on by itself (`blocked`: a failed test with
auto_fix off, a human's decision), when the demo's time is up, or after a few passes in a row
in which nothing moved and nothing ran.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from coordssh.domain import stages as s
from coordssh.domain.models import Assignment
from coordssh.domain.next_action import next_action
from coordssh.domain.work import Event, WorkItem, transition
from coordssh.errors import TransitionRefused
from coordssh.services.context import Context
from coordssh.services.notify import PassReport, notify_pass
from coordssh.services.notify_actions import default_registry
from coordssh.services.pipeline import policy_from_config, split_key

IDLE_PASSES = 3      # passes in a row with no move and no live run: nothing more will happen


@dataclass(frozen=True)
class StageChange:
    work: str
    stage: str           # the stage the item moved to
    event: str           # the event that moved it (its kind)


@dataclass(frozen=True)
class PassDone:
    number: int
    did: tuple[str, ...]         # "demo#1 open_pr: PR #3 ..." (what the pass performed)
    skipped: tuple[str, ...]     # actions it could not or would not perform, with the reason
    errors: tuple[str, ...]      # steps of the pass that failed
    changes: tuple[StageChange, ...]
    rows: tuple[Assignment, ...]  # the items' runs, as observed by the pass
    items: tuple[WorkItem, ...]


@dataclass(frozen=True)
class Drive:
    """How the loop ended: `blocked` says, per item that is not merged, why it stopped."""

    items: tuple[WorkItem, ...]
    blocked: dict[str, str]
    passes: int
    timed_out: bool = False


async def drive(ctx: Context, keys: Sequence[str], *, deadline: float,
                poll_s: float) -> AsyncIterator[PassDone | Drive]:
    loop = asyncio.get_running_loop()
    shown = {key: 0 for key in keys}
    number = idle = 0
    last_skip: dict[str, str] = {}     # item -> why notify last left it alone
    while True:
        number += 1
        report = await notify_pass(ctx)
        last_skip.update((d["work"], f"{d['action']}: {d['skipped']}") for d in report.skipped)
        changes = tuple(c for key in keys for c in _new_changes(ctx, key, shown))
        rows = tuple(a for a in ctx.board.list() if a.work_key in keys)
        items = tuple(i for i in (ctx.board.get_work(k) for k in keys) if i is not None)
        yield PassDone(number, *_summary(report), changes, rows, items)
        idle = 0 if changes or any(a.live for a in rows) else idle + 1
        blocked = {i.key: why for i in items if (why := blocked_reason(ctx, i))}
        done = len(items) == len(keys) and all(i.stage == s.MERGED or i.key in blocked
                                               for i in items)
        late = loop.time() >= deadline
        if done or late or idle >= IDLE_PASSES:
            if not done:
                blocked = {i.key: blocked.get(i.key) or _still(i, late, last_skip.get(i.key))
                           for i in items if i.stage != s.MERGED}
            yield Drive(items, blocked, number, timed_out=late and not done)
            return
        if not (report.did or changes):   # after a move, the next step may be ready at once
            await asyncio.sleep(poll_s)


def blocked_reason(ctx: Context, item: WorkItem) -> str:
    """Why `item` will not move by itself ("" when it will, or is merged)."""
    if item.stage == s.MERGED:
        return ""
    action = next_action(item, policy_from_config(ctx.config), ctx.clock())
    if action.kind == "wait" or (action.auto and default_registry().lookup(action)):
        return ""
    why = action.reason + (f"; by hand: {action.command}" if action.command else "")
    test = item.verdict("test")
    if item.stage == s.TEST_FAILED and test is not None and test.detail.strip():
        why += "\ntest output (tail):\n" + "\n".join(test.detail.strip().splitlines()[-8:])
    return why


def _still(item: WorkItem, late: bool, skipped: str | None) -> str:
    why = (f"still {item.stage} when the demo's time ran out" if late else
           f"stayed {item.stage}: {IDLE_PASSES} notify passes in a row changed nothing")
    return why + (f" (notify: {skipped})" if skipped else "")


def _summary(report: PassReport) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    did = tuple(f"{d['work']} {d['action']}{'.' + d['role'] if d.get('role') else ''}: "
                f"{d.get('done', '')}" for d in report.did)
    skipped = tuple(f"{d['work']} {d['action']}: {d['skipped']}" for d in report.skipped)
    did = tuple(f"review posted: {e['review']}" for e in report.events if "review" in e) + did
    errors = tuple(f"{e['step']}: {e['error']}" for e in report.errors)
    if report.busy is not None:
        errors += (f"another notify pass holds the lock ({report.busy.to_json()})",)
    return did, skipped, errors


def _new_changes(ctx: Context, key: str, shown: dict[str, int]) -> list[StageChange]:
    trail = stage_trail(key, ctx.board.events(key))
    item = ctx.board.get_work(key)
    if item is not None and (not trail or trail[-1].stage != item.stage):
        trail.append(StageChange(key, item.stage, "board"))   # never show a stage it is not in
    new, shown[key] = trail[shown[key]:], len(trail)
    return new


def stage_trail(key: str, events: Sequence[dict]) -> list[StageChange]:
    """Each stage `key` moved to, in order: its history replayed through `transition`."""
    repo, issue = split_key(key)
    item, trail = WorkItem(repo, issue), []
    for doc in events:
        data = doc.get("data") or {}
        if "refused" in data:
            continue
        try:
            moved = transition(item, Event(doc["kind"], data, doc.get("run", "")), doc["at"])
        except TransitionRefused:      # history-only entries (migrated, machine_stale, ...)
            continue
        if moved.stage != item.stage:
            trail.append(StageChange(key, moved.stage, doc["kind"]))
        item = moved
    return trail
