"""`coordssh retry ID [--machine M] [--force]`: a run that failed for infrastructure reasons goes
again, same role and branch, on ANOTHER machine that serves the repo (or the one named).

Retried: crashed, api_error, auth_failed, and a run whose machine is lost (`unknown` after
observing it again: that run is ended as crashed in the same transaction that starts the new
one). `push_failed` is pushed again (`coordssh push`: no new model run). `usage_limited` and
`budget` are refused unless --force: they must wait for the reset, not move. Once the item has
used `concurrency.max_retries` retries (the budget notify keeps to), a new model run is refused
unless --force. Anything else is refused with the way out (continue with guidance, fix, a new
assign).
"""

from __future__ import annotations

from typing import Any

from coordssh.domain import models as m
from coordssh.domain.models import Assignment
from coordssh.domain.work import WorkItem, transition
from coordssh.errors import Refused
from coordssh.services import followup, pipeline
from coordssh.services.assign import AssignResult, RunShape
from coordssh.services.context import Context

RETRIED = frozenset({m.CRASHED, m.API_ERROR, m.AUTH_FAILED, m.UNKNOWN})
MUST_WAIT = frozenset({m.USAGE_LIMITED, m.BUDGET})


async def retry(ctx: Context, which: str, *, machine: str | None = None,
                force: bool = False) -> Any:
    target = await followup.observed(ctx, followup.resolve(ctx, which))
    row = followup.ensure_latest(target, "retry")
    _ensure_retriable(row, force)
    if row.status == m.PUSH_FAILED:
        return await _push_again(ctx, row)
    item = target.item
    _ensure_budget(ctx, item, force)
    lost = row.status == m.UNKNOWN
    if row.role == "test":
        return await _test_again(ctx, item, row, machine, lost)
    followup.check_start(_after_loss(ctx, item, row) if lost else item, row.role, "retry",
                         ctx.clock())
    repo = ctx.config.repo(item.repo)
    brief = await _brief(ctx, repo, item, row)
    shape = RunShape(role=row.role, mode="retry", extra={"retries": row.id,
                                                         "playbook": brief.playbook.role})
    machines = _machines(ctx, repo, row, machine)
    before = _end_lost(ctx, row) if lost else None
    return await followup.on_some_machine(
        ctx, machines, bool(machine), f"retry run {row.id}",
        lambda mc: followup.dispatch_on_branch(ctx, item, mc, brief, shape, before=before))


def _ensure_retriable(row: Assignment, force: bool) -> None:
    if row.status in RETRIED or row.status == m.PUSH_FAILED:
        return
    if row.status in MUST_WAIT and force:
        return
    if row.status in MUST_WAIT:
        raise Refused(f"run {row.id} is {row.status} ({row.reason}): it must wait for the "
                      "reset, not move to another machine",
                      hint=f"`coordssh continue {row.id} --guidance 'go on'` after the reset, or "
                           "--force to retry it elsewhere now")
    ways = {m.STUCK: f"coordssh continue {row.id} --guidance '...'",
            m.MAX_TURNS: f"coordssh continue {row.id} --guidance '...'",
            m.FAILED: f"coordssh fix {row.id} --guidance '...'",
            m.CANCELLED: f"coordssh continue {row.id} --guidance '...'"}
    way = ways.get(row.status, f"`coordssh work {row.work_key}` says what comes next")
    state = "still runs" if row.live else f"is {row.status}"
    raise Refused(f"run {row.id} {state}: retry is for runs that failed for infrastructure "
                  "reasons (crashed, api_error, auth_failed, push_failed, a lost machine)",
                  hint=f"wait for it: coordssh wait {row.id}" if row.live else way)


def _ensure_budget(ctx: Context, item: WorkItem, force: bool) -> None:
    allowed = pipeline.policy_from_config(ctx.config).max_retries
    if item.rounds.retry >= allowed and not force:
        raise Refused(f"{item.key} has used {item.rounds.retry} of {allowed} retries "
                      "(concurrency.max_retries): retrying again is unlikely to help",
                      hint=f"look at why: coordssh work {item.key}; --force to retry anyway, "
                           "or raise concurrency.max_retries")


async def _push_again(ctx: Context, row: Assignment) -> AssignResult:
    from coordssh.services.repush import push_again

    pushed = await push_again(ctx, row.id)
    return AssignResult(pushed, "", "", "", model_source="",
                        notes=(f"pushed again: no new model run ({pushed.status})",))


def _lost_reason(row: Assignment) -> str:
    return f"machine {row.machine} lost (unknown): given up by `coordssh retry`"


def _after_loss(ctx: Context, item: WorkItem, row: Assignment) -> WorkItem:
    """The item as it will be once the lost run is ended (for the early stage check)."""
    ended = row.evolve(status=m.CRASHED, reason=_lost_reason(row))
    return transition(item, pipeline.end_event(ended), ctx.clock())


def _end_lost(ctx: Context, row: Assignment):
    def before(tx) -> None:
        current = tx.get(row.id)
        if current is None or current.status != m.UNKNOWN:
            raise Refused(f"run {row.id} is {current.status if current else 'gone'} now, no "
                          "longer lost", hint=f"look again: coordssh work {row.work_key}")
        pipeline.end_row(tx, current, ctx.clock(), status=m.CRASHED, reason=_lost_reason(row))
    return before


async def _brief(ctx: Context, repo, item: WorkItem, row: Assignment):
    """The same role's prompt again, with the same model."""
    extra = row.extra if isinstance(row.extra, dict) else {}
    issue = await followup.issue_of(ctx, repo, item, followup.first_briefing(ctx, item))
    book = followup.playbook(ctx, row.role)
    values: dict[str, Any] = {"guidance": extra.get("guidance", "")}
    if row.role == "fix":
        from coordssh.services.fix import failure_of

        values["failure"] = failure_of(item)
    else:
        values = {"briefing": followup.first_briefing(ctx, item) if repo.github else ""}
    prompt = book.render(followup.prompt_values(repo, item, issue, **values))
    model = followup.requested_model(row) or ctx.config.models.default
    return followup.make_brief(ctx, repo, issue, book, prompt, model, f"as run {row.id}")


def _machines(ctx: Context, repo, row: Assignment, named: str | None):
    if named:
        return [ctx.config.machine(named)]
    others = followup.serving(ctx, repo, exclude=row.machine)
    if not others:
        raise Refused(f"no other machine serves repo '{repo.name}' to retry run {row.id} "
                      f"(it ran on {row.machine})",
                      hint=f"name one: coordssh retry {row.id} --machine {row.machine}")
    return others


async def _test_again(ctx: Context, item: WorkItem, row: Assignment, machine: str | None,
                      lost: bool):
    from coordssh.services.test_run import dispatch_test

    if lost:
        pipeline.end_run(ctx.board, row.id, ctx.clock(), status=m.CRASHED,
                         reason=_lost_reason(row))
    named = machine or next((mc.name for mc in followup.serving(
        ctx, ctx.config.repo(item.repo), exclude=row.machine)), None)
    return await dispatch_test(ctx, item.key, machine=named)
