"""The ONE way to change a work item: `apply(tx, key, event)` inside the caller's transaction.

`apply` loads the item (creating it on its first `run_started`), runs the pure
`domain.work.transition`, puts the item and appends the event to the history, all in the
board transaction the caller holds, so a refusal changes nothing and two commands acting on one
item at once are serialised by the board lock (the second sees the first's stage).

The run loop feeds it through three helpers: `record_start` (assign's intent transaction; an
explicit assign of an issue whose item is merged or abandoned applies `reopened` first, in the
same transaction: a new cycle on the run's branch),
`record_end` (observe's write, stop, a failed dispatch) and `end_run` (a run made terminal by
hand, in its own transaction). Observations are facts: `record_end` never refuses; an end the
table does not allow in the item's stage is kept in the history with the refusal, the stage
unchanged.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from coordssh.domain import models as m
from coordssh.domain import stages
from coordssh.domain.policy import Policy
from coordssh.domain.work import Event, WorkItem, transition
from coordssh.errors import NotFound, TransitionRefused

if TYPE_CHECKING:
    from coordssh.board.store import Board, Tx
    from coordssh.config.schema import Config
    from coordssh.domain.models import Assignment

log = logging.getLogger(__name__)


def split_key(key: str) -> tuple[str, int]:
    repo, sep, issue = key.rpartition("#")
    if not sep or not repo or not issue.isdigit():
        raise NotFound(f"'{key}' is not a work item key",
                       hint="work items are named REPO#ISSUE, e.g. app#42")
    return repo, int(issue)


def resolve_key(board: Board, which: str) -> str:
    """REPO#ISSUE as given, or the work item of a run id (or a prefix of one)."""
    if "#" in which:
        split_key(which)
        return which
    return board.find(which).work_key


def apply(tx: Tx, key: str, event: Event, now: float) -> WorkItem:
    """Transition the item `key` by `event`, store it and its history. TransitionRefused."""
    item = tx.get_work(key)
    if item is None:
        if event.kind != "run_started":
            raise NotFound(f"no work item {key} on the board",
                           hint="`coordssh work` lists the work items; a run creates one")
        repo, issue = split_key(key)
        item = WorkItem(repo, issue, created_at=now, updated_at=now)
    moved = transition(item, event, now)
    tx.put_work(moved)
    tx.append_event(key, event, now)
    return moved


def record(tx: Tx, key: str, event: Event, now: float) -> WorkItem | None:
    """`apply` for facts that happened whatever the table says (a run ended, a stop was asked):
    a refused event goes into the history with the refusal and leaves the stage alone."""
    try:
        return apply(tx, key, event, now)
    except TransitionRefused as err:
        if tx.get_work(key) is None:
            return None
        tx.append_event(key, Event(event.kind, {**event.data, "refused": err.message},
                                   event.run), now)
        return tx.get_work(key)
    except NotFound:
        log.info("no work item %s for %s of run %s", key, event.kind, event.run)
        return None


# --- the run loop ---------------------------------------------------------------------------
def record_start(tx: Tx, row: Assignment, now: float, *, mode: str = "new",
                 rung: int | None = None, reopen: bool = False) -> Assignment:
    """Put the run's row (naming its work item) and start it on the item; TransitionRefused
    when the item's stage does not allow the run (nothing is written then). `reopen` (an
    explicit assign): an item the table lets reopen starts a new cycle on the row's branch."""
    row = row.evolve(work=row.work_key)
    if reopen:
        reopen_for(tx, row, now)
    apply(tx, row.work, Event("run_started", {
        "role": row.role, "mode": mode, "machine": row.machine, "model": row.model,
        "rung": rung, "branch": row.branch, "base_branch": row.base_branch,
        "title": row.title}, row.id), now)
    tx.put(row)
    return row


def reopen_for(tx: Tx, row: Assignment, now: float) -> WorkItem | None:
    """`reopened` for the run `row` when its item's stage allows one (merged, abandoned)."""
    item = tx.get_work(row.work_key)
    if item is None or not stages.reopens(item.stage):
        return None
    return apply(tx, row.work_key, Event("reopened", {
        "branch": row.branch, "base_branch": row.base_branch, "was_branch": item.branch,
        "was_stage": item.stage, "was_pr": item.pr_number}, row.id), now)


def record_adopted(tx: Tx, row: Assignment, now: float) -> Assignment:
    """A live run found on a machine that the board did not know (services/adopt.py): its row,
    and its start on its work item (created if the board lost it too)."""
    row = row.evolve(work=row.work_key)
    tx.put(row)
    record(tx, row.work, Event("run_started", {
        "role": row.role, "mode": "adopted", "machine": row.machine, "model": row.model,
        "branch": row.branch, "base_branch": row.base_branch, "title": row.title}, row.id), now)
    return row


def record_pushed(tx: Tx, before: Assignment, after: Assignment, now: float) -> None:
    """`coordssh push` of a run whose push had failed: the run's new status on its work item."""
    if before.status != m.PUSH_FAILED:
        return
    record(tx, after.work_key, Event("run_pushed", {
        "status": after.status, "sha": after.pushed_sha if after.status == m.DONE else "",
        "reason": after.reason}, after.id), now)


def record_end(tx: Tx, row: Assignment, now: float) -> WorkItem | None:
    """The work item's side of a run that became terminal (`row` is the terminal row)."""
    return record(tx, row.work_key, end_event(row), now)


def end_event(row: Assignment) -> Event:
    """A test run's end is its verdict; every other run's end is `run_ended`."""
    data: dict[str, Any] = {"role": row.role, "status": row.status, "reason": row.reason,
                            "machine": row.machine, "session_id": row.session_id,
                            "cost_usd": row.cost_usd or 0.0}
    if row.role == "test" and row.status in (m.DONE, m.ADVISORY, m.FAILED) and \
            row.exit_code is not None:
        result = "passed" if row.exit_code == 0 else "failed"
        return Event("test_verdict", {**data, "result": result, "sha": row.base_sha,
                                      "detail": row.extra.get("stderr_tail", "")}, row.id)
    if row.role == "review" and row.status in (m.DONE, m.ADVISORY, m.FAILED):
        verdict = review_verdict_of(row)
        if verdict is not None:
            return Event("review_verdict", {**data, **verdict}, row.id)
    data.update(sha=row.pushed_sha, resets_at=row.resets_at)
    return Event("run_ended", data, row.id)


def review_verdict_of(row: Assignment) -> dict[str, Any] | None:
    """A finished review run's verdict for the SHA it reviewed (`base_sha`), from the last json
    block of its final message; anything but a clean approval is `request_changes` (with the
    reason). None when the run left no final message: it did not do its job (`run_ended`)."""
    from coordssh.agent.verdict import parse_verdict
    from coordssh.services.pr import final_text

    text = final_text(row)
    if not text.strip():
        return None
    verdict = parse_verdict(text)
    return {"result": "approve" if verdict.approved else "request_changes",
            "sha": row.base_sha, "detail": verdict_text(verdict)}


def verdict_text(verdict: Any) -> str:
    """The review as the fix run and the PR read it: verdict, summary, findings, reason."""
    head = {"approve": "Approved", "request_changes": "Changes requested"}.get(
        verdict.verdict, "Not approved (no valid verdict)")
    lines = [head + (f": {verdict.summary}" if verdict.summary else "")]
    for f in verdict.findings:
        where = f"{f.file}:{f.line}" if f.line is not None else f.file
        lines.append(f"- [{f.severity}] {where}: {f.text}")
    if verdict.reason and verdict.verdict != "request_changes":
        lines.append(verdict.reason)     # why it is not an approval
    return "\n".join(lines)


def end_run(board: Board, run_id: str, now: float, *, status: str, reason: str,
            only_if_live: bool = True) -> Assignment | None:
    """Make a run terminal by hand (a dispatch that failed, a stop before the run started), in
    one transaction with its work item. None when it was already terminal (left alone)."""
    with board.transaction() as tx:
        row = tx.get(run_id)
        if row is None or (only_if_live and row.terminal):
            return None
        return end_row(tx, row, now, status=status, reason=reason)


def end_row(tx: Tx, row: Assignment, now: float, *, status: str, reason: str) -> Assignment:
    """`row` made terminal inside the caller's transaction, its work item told (record_end)."""
    row = row.evolve(status=status, reason=reason[:500], finished_at=now, updated_at=now)
    tx.put(row)
    record_end(tx, row, now)
    return row


# --- policy ---------------------------------------------------------------------------------
def policy_from_config(config: Config) -> Policy:
    """The seed's sections mapped onto the policy; a `pipeline:` section (issue 11) wins."""
    reviews, smoke = config.reviews, config.smoke_tests
    fields: dict[str, Any] = {
        "auto_test": smoke.auto_queue,
        "auto_review": reviews.enabled and reviews.auto_dispatch,
        "reviews": reviews.enabled,
        "auto_reassign": config.concurrency.auto_reassign,
        "max_retries": config.concurrency.max_retries,
        "escalation": tuple(config.models.escalation),
    }
    section = config.pipeline    # only the keys written win over the seed's sections
    fields.update({k: getattr(section, k) for k in section.given
                   if k in Policy.__dataclass_fields__})
    fields.update(item_soft_budget_usd=section.budgets.item_soft_usd,
                  item_hard_budget_usd=section.budgets.item_hard_usd)
    return Policy(**fields)


def rung_of(config: Config, model: str) -> int | None:
    """The escalation rung of a model (as asked, or what a user alias of a rung stands for),
    or None when it is not on the ladder."""
    ladder = Policy(escalation=tuple(config.models.escalation))
    return ladder.rung_of(model, dict(config.models.aliases))
