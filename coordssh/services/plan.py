"""`coordssh plan`: the deterministic scheduler (domain/schedule.py) over real facts.

Gathering, all at once: ONE `gh issue list` per GitHub repo (IssueSource.candidates), every
machine read once (plan_facts.read_fleet: live runs, in-flight branches), the board (claims,
busy upstream repos, parking, today's spend). Then the scheduler; then each proposal is
confirmed with `gh issue view` (the list may lag, contract §2.1): an issue closed or relabelled
since is scheduled again with what GitHub says now, so only proposals are ever confirmed.
The plan is saved on the board (kv `plan`) with ids for `approve`; a new plan replaces it.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from coordssh.config.schema import Config, Repo
from coordssh.domain.schedule import (Budget, Candidate, Intake, PlanInput, RepoFacts, Routing,
                                      Schedule, Skip, schedule)
from coordssh.errors import CoordError
from coordssh.services import plan_facts as facts
from coordssh.services.context import Context
from coordssh.services.plan_source import IssueSource

PLAN_KEY = "plan"


@dataclass(frozen=True)
class PlanResult:
    id: str
    created_at: float
    schedule: Schedule
    notes: tuple[str, ...] = ()
    brain: dict[str, Any] | None = None
    gh_calls: tuple[str, ...] = field(default_factory=tuple)
    bodies: dict[tuple[str, int], str] = field(default_factory=dict)   # the proposals' issues

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "created_at": self.created_at, **self.schedule.to_json(),
                "notes": list(self.notes), "brain": self.brain}


async def make_plan(ctx: Context, source: IssueSource, *, repos: Sequence[str] | None = None,
                    save: bool = True) -> PlanResult:
    chosen = [ctx.config.repo(name) for name in repos] if repos else list(ctx.config.repos.values())
    notes = [f"repo {r.name} has no `github:`: plan reads GitHub issues only"
             for r in chosen if not r.github]
    listed = [r for r in chosen if r.github]
    now = ctx.clock()
    upstream = {u for r in chosen for u in r.depends_on if u in ctx.config.repos}
    read = [*chosen, *(ctx.config.repos[u] for u in sorted(upstream - {r.name for r in chosen}))]
    lists, fleet = await asyncio.gather(_candidates(source, listed, ctx.config.intake.limit),
                                        facts.read_fleet(ctx, read, now))
    candidates: list[Candidate] = []
    for repo, found in zip(listed, lists):
        if isinstance(found, CoordError):
            notes.append(f"repo {repo.name}: {found.message}")
        else:
            candidates += found
    data = plan_input(ctx, candidates, fleet, now)
    result, closed, data = await _confirmed(source, ctx.config, data)
    proposed = {(p.repo, p.issue) for p in result.proposals}
    plan = PlanResult(_plan_id(), now, replace(result, skipped=result.skipped + closed),
                      tuple(notes), gh_calls=tuple(getattr(source, "calls", ())),
                      bodies={(c.repo, c.number): c.body for c in data.candidates
                              if (c.repo, c.number) in proposed})
    if save:
        save_plan(ctx, plan)
    return plan


async def _candidates(source: IssueSource, repos: Sequence[Repo], limit: int) -> list[Any]:
    async def one(repo: Repo) -> Any:
        try:
            return await source.candidates(repo, limit)
        except CoordError as err:      # one repo's failure never hides the others
            return err

    return list(await asyncio.gather(*(one(r) for r in repos)))


def plan_input(ctx: Context, candidates: Sequence[Candidate], fleet: facts.Fleet,
               now: float) -> PlanInput:
    config = ctx.config
    inflight, conflicts = facts.in_flight(ctx, fleet)
    busy = facts.busy_repos(ctx, fleet)
    repos = {name: RepoFacts(name, repo.depends_on, busy.get(name, ""),
                             fleet.repos[name].tree if name in fleet.repos else None,
                             fleet.unknown.get(name, ""))
             for name, repo in config.repos.items()}
    return PlanInput(tuple(candidates), tuple(fleet.machines), repos,
                     tuple(facts.holders(ctx, fleet)),
                     tuple(inflight), tuple(conflicts), intake_of(config), routing_of(config),
                     Budget(config.intake.day_budget_usd, facts.day_spend(ctx, now)), now)


def intake_of(config: Config) -> Intake:
    i = config.intake
    return Intake(i.take_labels, i.skip_labels, i.priority_labels, dict(i.label_capabilities))


def routing_of(config: Config) -> Routing:
    """models.labels, else the implement playbook's model, else models.default (as assign)."""
    from coordssh.agent.playbook import load_playbook

    playbook_model = load_playbook("implement", config.playbooks_dir).model
    default, source = ((playbook_model, "playbook") if playbook_model
                       else (config.models.default, "models.default"))
    return Routing(dict(config.models.labels), default, source,
                   tuple(config.smoke_tests.capability_rules))


async def _confirmed(source: IssueSource, config: Config,
                     data: PlanInput) -> tuple[Schedule, tuple[Skip, ...], PlanInput]:
    """Schedule, confirm the new proposals with `gh issue view`, schedule again while GitHub
    says something else than the list did; an issue closed since is left out with that said."""
    seen: dict[tuple[str, int], Candidate | None] = {}
    closed: list[Skip] = []
    while True:
        result = schedule(data)
        todo = [p for p in result.proposals if (p.repo, p.issue) not in seen]
        if not todo:
            return result, tuple(closed), data
        answers = await asyncio.gather(*(source.confirm(config.repo(p.repo), p.issue)
                                         for p in todo), return_exceptions=True)
        changed = False
        for p, answer in zip(todo, answers):
            if isinstance(answer, BaseException):
                if not isinstance(answer, CoordError):
                    raise answer
                answer = None
                closed.append(Skip(p.repo, p.issue, "could not be confirmed with gh issue view",
                                   p.title))
            elif answer is None:
                closed.append(Skip(p.repo, p.issue, "closed since it was listed", p.title))
            seen[(p.repo, p.issue)] = answer
            changed |= answer is None or answer != _listed(data, p.repo, p.issue)
        if changed:
            data = replace(data, candidates=tuple(
                seen.get((c.repo, c.number), c) for c in data.candidates
                if seen.get((c.repo, c.number), c) is not None))


def _listed(data: PlanInput, repo: str, number: int) -> Candidate | None:
    return next((c for c in data.candidates if c.repo == repo and c.number == number), None)


def _plan_id() -> str:
    return secrets.token_hex(3)


def save_plan(ctx: Context, plan: PlanResult) -> None:
    record = plan.to_json()
    for proposal in record["proposals"]:
        proposal["status"] = "pending"
    ctx.board.kv_set(PLAN_KEY, record)


def saved_plan(ctx: Context) -> dict[str, Any] | None:
    return ctx.board.kv_get(PLAN_KEY)
