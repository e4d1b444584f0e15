"""`coordssh approve IDS|all`: dispatch chosen proposals of the saved plan through `assign`.

A proposal may be stale: at dispatch time each is checked again, in the plan's order: the issue
is not held (work item, live run, a branch on origin read now), its likely files meet no
in-flight branch, no live run approved from a plan and no proposal dispatched before it in this
call, its machine is not parked, and `assign` itself re-checks capacity from the machine and
the claim under the board lock. A refused proposal keeps its place (`pending`, with the reason)
and the others go on; unselected proposals stay for a later `approve`. Dispatches are spaced by
`concurrency.stagger_seconds`. After each dispatch `on_dispatched` is awaited: the briefing
comment hook (`post_briefing`); the briefing itself is posted by notify from the run's event.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from coordssh.domain.schedule import InFlight, conflict_reason
from coordssh.domain.next_action import clock
from coordssh.errors import CoordError, NotFound, UsageError
from coordssh.services import plan_facts as facts
from coordssh.services.assign import AssignRequest, AssignResult, assign
from coordssh.services.context import Context
from coordssh.services.plan import PLAN_KEY, saved_plan

PENDING, DISPATCHED, REFUSED, DRY = "pending", "dispatched", "refused", "would dispatch"


@dataclass(frozen=True)
class Dispatched:
    """What the briefing hook is given: the proposal and the run `assign` started."""

    proposal: dict[str, Any]
    result: AssignResult


DispatchHook = Callable[[Context, Dispatched], Awaitable[None]]


async def post_briefing(ctx: Context, dispatched: Dispatched) -> None:
    """The briefing comment of a dispatched proposal. It is posted by notify's comment step
    (services/notify_comments.py) from the run's `run_started` event, like every run's
    briefing: one code path, once per run by its marker. Nothing to do here at dispatch time;
    a caller that wants its own reaction passes `on_dispatched`."""
    return None


@dataclass(frozen=True)
class Outcome:
    id: str
    repo: str
    issue: int
    machine: str
    status: str                 # dispatched | refused | would dispatch
    reason: str = ""
    run: str = ""
    model: str = ""
    model_source: str = ""

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class ApproveResult:
    plan_id: str
    outcomes: tuple[Outcome, ...]
    pending: tuple[str, ...] = field(default_factory=tuple)   # still waiting in the plan

    def to_json(self) -> dict[str, Any]:
        return {"plan": self.plan_id, "outcomes": [o.to_json() for o in self.outcomes],
                "pending": list(self.pending)}


async def approve(ctx: Context, ids: Sequence[str], *, dry_run: bool = False,
                  on_dispatched: DispatchHook = post_briefing,
                  sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep) -> ApproveResult:
    plan = saved_plan(ctx)
    if not plan:
        raise NotFound("there is no saved plan to approve", hint="run `coordssh plan` first")
    chosen = _select(plan, ids)
    outcomes: list[Outcome] = []
    done: list[InFlight] = []
    branches: dict[str, Any] = {}
    stagger = ctx.config.concurrency.stagger_seconds

    async def pause() -> None:      # between two dispatches, not before a refusal
        if stagger and any(o.status == DISPATCHED for o in outcomes):
            await sleep(stagger)

    for proposal in chosen:
        outcome, started = await _one(ctx, proposal, done, branches, pause, dry_run=dry_run)
        outcomes.append(outcome)
        if outcome.status != REFUSED:
            done.append(InFlight(proposal["repo"], "", proposal["issue"],
                                 tuple(proposal["files"]), f"approved just before, run "
                                                           f"{outcome.run or '(dry run)'}"))
        if outcome.status == DISPATCHED:
            _record(ctx, plan["id"], proposal, outcome)
            await on_dispatched(ctx, Dispatched(proposal, started))
        elif outcome.status == REFUSED and not dry_run:
            _record(ctx, plan["id"], proposal, outcome)
    current = saved_plan(ctx) or plan
    pending = tuple(p["id"] for p in current["proposals"] if p.get("status") == PENDING)
    return ApproveResult(plan["id"], tuple(outcomes), pending)


def _select(plan: dict[str, Any], ids: Sequence[str]) -> list[dict[str, Any]]:
    proposals = plan.get("proposals") or []
    if list(ids) == ["all"]:
        return [p for p in proposals if p.get("status") == PENDING]
    by_id = {p["id"]: p for p in proposals}
    by_issue = {f"{p['repo']}#{p['issue']}": p for p in proposals}
    wanted = [i.strip() for part in ids for i in part.split(",") if i.strip()]
    unknown = [i for i in wanted if i not in by_id and i not in by_issue]
    if unknown or not wanted:
        listed = ", ".join(f"{p['id']} ({p['repo']}#{p['issue']})" for p in proposals) or "none"
        raise UsageError(f"no proposal {', '.join(unknown) or '(none given)'} in plan "
                         f"{plan.get('id')}", hint=f"proposals: {listed}; or `all`")
    chosen = [by_id.get(i) or by_issue[i] for i in dict.fromkeys(wanted)]
    return sorted(chosen, key=lambda p: int(p["id"]) if str(p["id"]).isdigit() else 0)


async def _one(ctx: Context, proposal: dict[str, Any], done: list[InFlight],
               branches: dict[str, Any], pause: Callable[[], Awaitable[None]], *,
               dry_run: bool) -> tuple[Outcome, AssignResult | None]:
    if proposal.get("status") != PENDING:
        return _outcome(proposal, REFUSED, f"already {proposal.get('status')} (run "
                                           f"{proposal.get('run', '?')})"), None
    reason = await stale_reason(ctx, proposal, done, branches)
    if reason:
        return _outcome(proposal, REFUSED, reason), None
    request = AssignRequest(machine=proposal["machine"], repo=proposal["repo"],
                            issue=int(proposal["issue"]), dry_run=dry_run,
                            briefing=str(proposal.get("briefing") or ""))
    await pause()
    try:
        result = await assign(ctx, request)
    except CoordError as err:
        return _outcome(proposal, REFUSED, err.message), None
    row = result.assignment
    return _outcome(proposal, DRY if dry_run else DISPATCHED, "", run=row.id, model=row.model,
                    model_source=result.model_source), result


async def stale_reason(ctx: Context, proposal: dict[str, Any], done: Sequence[InFlight],
                       branches: dict[str, Any]) -> str:
    """Why this proposal must not be dispatched now ("" if it may)."""
    repo, issue, machine = proposal["repo"], int(proposal["issue"]), proposal["machine"]
    if repo not in branches:
        fleet = await _branches(ctx, repo)
        branches[repo] = fleet
    fleet = branches[repo]
    if repo in fleet.unknown:
        return f"claims unknown: the branches of {repo} could not be read ({fleet.unknown[repo]})"
    held = {(h.repo, h.issue): h.what for h in facts.holders(ctx, fleet)}
    if (repo, issue) in held:
        return f"claimed by {held[(repo, issue)]}"
    parked = facts.parking(ctx, ctx.clock()).get(machine)
    if parked:
        return f"machine {machine} parked by a usage limit until {clock(parked, ctx.clock())}"
    inflight, conflicts = facts.in_flight(ctx, fleet)
    return conflict_reason(repo, issue, proposal["files"], [*inflight, *done], conflicts)


async def _branches(ctx: Context, repo_name: str) -> facts.Fleet:
    """The repo's in-flight branches read now (one exec on its reading machine)."""
    from coordssh.remote.inflight import inflight

    repo = ctx.config.repo(repo_name)
    fleet = facts.Fleet()
    reader = next(iter(facts.readers(ctx, [repo])), None)
    if reader is None:
        fleet.unknown[repo.name] = "no machine serves it"
        return fleet
    machine = ctx.config.machine(reader)
    try:
        async with await ctx.connector.connect(machine) as transport:
            fleet.repos[repo.name] = await inflight(transport, machine.repo_paths[repo.name],
                                                    repo.default_branch, tree=False)
    except CoordError as err:
        fleet.unknown[repo.name] = f"{reader}: {err.message}"
    return fleet


def _outcome(proposal: dict[str, Any], status: str, reason: str, **more: Any) -> Outcome:
    return Outcome(str(proposal["id"]), proposal["repo"], int(proposal["issue"]),
                   proposal["machine"], status, reason, **more)


def _record(ctx: Context, plan_id: str, proposal: dict[str, Any], outcome: Outcome) -> None:
    """The proposal's new state in the saved plan (if it is still the same plan), and a
    dispatched run's likely files for the next plans' conflict checks."""
    with ctx.board.transaction() as tx:
        plan = tx.kv_get(PLAN_KEY)
        if plan and plan.get("id") == plan_id:
            for p in plan["proposals"]:
                if p["id"] == proposal["id"]:
                    if outcome.status == DISPATCHED:
                        p.update(status=DISPATCHED, run=outcome.run)
                    else:
                        p["last_refusal"] = outcome.reason
            tx.kv_set(PLAN_KEY, plan)
        if outcome.status == DISPATCHED:
            live = {row.id for row in tx.list(live_only=True)}
            runs = {k: v for k, v in (tx.kv_get(facts.PLAN_RUNS_KEY, {}) or {}).items()
                    if k in live}
            runs[outcome.run] = {"repo": proposal["repo"], "issue": proposal["issue"],
                                 "files": list(proposal["files"])}
            tx.kv_set(facts.PLAN_RUNS_KEY, runs)
