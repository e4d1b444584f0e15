"""The facts a plan stands on, read from the machines and the board (never from a prompt).

`read_fleet`: every machine ONCE, all at once, one connection each: its live runs reconciled
(observe, adopted run dirs included: capacity counts them) and, on the first machine (by name)
serving each repo, the repo's in-flight branches (remote/inflight.py: files changed, merge-tree
conflicts, the base's tree). The observations are written in one board transaction.
`board_facts`: what the board says: work items and live runs holding issues, repos busy for
their dependents, usage-limit parking per machine, today's spend. A branch its work item
retired (abandoned, or an earlier cycle's) holds nothing, as in `assign`.
"""

from __future__ import annotations

import calendar
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from coordssh.config.schema import Machine, Repo
from coordssh.domain import models as m
from coordssh.domain import stages as s
from coordssh.domain.work_cycle import retired_branches
from coordssh.domain.schedule import Holder, InFlight, MachineSlots, PredictedConflict
from coordssh.errors import RemoteError
from coordssh.remote.inflight import InFlightFacts, inflight
from coordssh.services import slots
from coordssh.services.context import Context
from coordssh.services.observe import MachineObservation, observe_machine, write_changes

PLAN_RUNS_KEY = "plan_runs"      # board kv: {run id: {repo, issue, files}} of approved proposals


@dataclass
class Fleet:
    machines: list[MachineSlots] = field(default_factory=list)
    repos: dict[str, InFlightFacts] = field(default_factory=dict)
    unknown: dict[str, str] = field(default_factory=dict)   # repo -> why its branches are unknown


def readers(ctx: Context, repos: Iterable[Repo]) -> dict[str, list[Repo]]:
    """machine name -> the repos whose branches it reads (the first serving machine by name)."""
    chosen: dict[str, list[Repo]] = {}
    for repo in repos:
        serving = sorted(mc.name for mc in ctx.config.machines.values()
                         if repo.name in mc.repos and mc.repo_paths.get(repo.name))
        if serving:
            chosen.setdefault(serving[0], []).append(repo)
    return chosen


async def read_fleet(ctx: Context, repos: Sequence[Repo], now: float) -> Fleet:
    plan = readers(ctx, repos)
    machines = list(ctx.config.machines.values())

    async def one(machine: Machine, transport: Any) -> tuple[MachineObservation, dict]:
        seen = await observe_machine(ctx, machine, transport, write=False)
        facts: dict[str, InFlightFacts | RemoteError] = {}
        for repo in plan.get(machine.name, ()):
            try:
                facts[repo.name] = await inflight(transport, machine.repo_paths[repo.name],
                                                  repo.default_branch)
            except RemoteError as err:
                facts[repo.name] = err
        return seen, facts

    results = await ctx.connector.fan_out(machines, one)
    write_changes(ctx, [r[0] for r in results.values() if not isinstance(r, RemoteError)])
    parked = parking(ctx, now)
    fleet = Fleet()
    for machine in machines:
        result = results[machine.name]
        fleet.machines.append(_slots(machine, result, parked.get(machine.name),
                                     slots.capacity(ctx.board, machine)))
        if isinstance(result, RemoteError):
            for repo in plan.get(machine.name, ()):
                fleet.unknown[repo.name] = f"{machine.name} unreachable: {result.message}"
            continue
        for name, facts in result[1].items():
            if isinstance(facts, RemoteError):
                fleet.unknown[name] = facts.message
            else:
                fleet.repos[name] = facts
    return fleet      # a repo no machine serves is in neither: "no machine serves repo R"


def _slots(machine: Machine, result: Any, parked: float | None, size: int) -> MachineSlots:
    """`size`: max_workers, or fewer claude config slots (services/slots.capacity)."""
    common = dict(capabilities=machine.capabilities, repos=machine.repos, parked_until=parked)
    if isinstance(result, RemoteError):
        return MachineSlots(machine.name, size, 0, reachable=False,
                            error=result.message, **common)
    seen: MachineObservation = result[0]
    running = sum(1 for row in seen.assignments if row.live)
    if seen.error:   # reached, but the probe failed: its runs are unknown, count every slot
        return MachineSlots(machine.name, size, size, reachable=False, error=seen.error, **common)
    return MachineSlots(machine.name, size, running, **common)


def parking(ctx: Context, now: float) -> dict[str, float]:
    """machine -> until when a usage limit parks it (its newest usage-limited run's reset);
    machines sharing an `account` (when the config has that key) park together."""
    until: dict[str, float] = {}
    for row in ctx.board.list():
        if row.status == m.USAGE_LIMITED and row.resets_at and row.resets_at > now:
            until[row.machine] = max(until.get(row.machine, 0.0), row.resets_at)
    accounts: dict[str, float] = {}
    for mc in ctx.config.machines.values():
        account = getattr(mc, "account", None)
        if account and mc.name in until:
            accounts[account] = max(accounts.get(account, 0.0), until[mc.name])
    for mc in ctx.config.machines.values():
        account = getattr(mc, "account", None)
        if account in accounts:
            until[mc.name] = max(until.get(mc.name, 0.0), accounts[account])
    return until


def day_spend(ctx: Context, now: float) -> float:
    """What the runs started today (UTC) cost, as their result lines reported it."""
    day = time.gmtime(now)
    midnight = calendar.timegm((day.tm_year, day.tm_mon, day.tm_mday, 0, 0, 0))
    # runs-archive.jsonl holds only runs finished days ago (services/gc.COLD_MIN_AGE_S)
    return sum(row.cost_usd or 0.0 for row in ctx.board.list(include_archived=True, cold=False)
               if (row.created_at or 0.0) >= midnight)


def holders(ctx: Context, fleet: Fleet) -> list[Holder]:
    """Work items not merged or abandoned, live runs, and unmerged issue branches on origin."""
    found = [Holder(item.repo, item.issue, f"work item {item.repo}#{item.issue} "
                                           f"(stage {item.stage})")
             for item in ctx.board.list_work() if item.stage not in s.FINAL_STAGES]
    found += [Holder(row.repo, row.issue, f"run {row.id} on {row.machine} ({row.status})")
              for row in ctx.board.list(live_only=True)]
    for repo, branches in open_branches(ctx, fleet):
        found += [Holder(repo, b.issue, f"branch {b.name} on origin")
                  for b in branches if b.issue is not None]
    return found


def open_branches(ctx: Context, fleet: Fleet) -> list[tuple[str, list[Any]]]:
    """Each repo's unmerged issue branches on origin, without those their work item retired
    (an abandoned item's, an earlier cycle's: `work_cycle.retired_branches`), as assign does."""
    retired = {(item.repo, name) for item in ctx.board.list_work()
               for name in retired_branches(item)}
    return [(repo, [b for b in facts.branches if (repo, b.name) not in retired])
            for repo, facts in sorted(fleet.repos.items())]


def in_flight(ctx: Context, fleet: Fleet) -> tuple[list[InFlight], list[PredictedConflict]]:
    """Files of every unmerged branch, and of live runs approved from a plan (their proposal's
    likely files: nothing is pushed yet); merge-tree's predicted conflicts."""
    found: list[InFlight] = []
    conflicts: list[PredictedConflict] = []
    for repo, branches in open_branches(ctx, fleet):
        found += [InFlight(repo, b.name, b.issue, b.files, f"branch {b.name}")
                  for b in branches]
        names = {b.name for b in branches}
        conflicts += [PredictedConflict(repo, c.a, c.b, c.files)
                      for c in fleet.repos[repo].conflicts if {c.a, c.b} <= names]
    planned = ctx.board.kv_get(PLAN_RUNS_KEY, {}) or {}
    for row in ctx.board.list(live_only=True):
        known = planned.get(row.id)
        if known and known.get("files"):
            found.append(InFlight(row.repo, row.branch, row.issue, tuple(known["files"]),
                                  f"run {row.id} on {row.machine}"))
    return found, conflicts


def busy_repos(ctx: Context, fleet: Fleet) -> dict[str, str]:
    """repo -> what holds back its dependents: work items not merged yet (live or with an
    unmerged PR), and unmerged issue branches on origin no work item knows."""
    busy: dict[str, list[str]] = {}
    known: set[tuple[str, int]] = set()
    for item in ctx.board.list_work():
        if item.stage in s.FINAL_STAGES:
            continue
        known.add((item.repo, item.issue))
        pr = f", unmerged PR #{item.pr_number}" if item.pr_number else ""
        busy.setdefault(item.repo, []).append(f"#{item.issue} {item.stage}{pr}")
    for repo, branches in open_branches(ctx, fleet):
        busy.setdefault(repo, []).extend(f"unmerged branch {b.name}" for b in branches
                                         if (repo, b.issue) not in known)
    return {repo: "live or unmerged work (" + "; ".join(items[:3])
            + (f"; {len(items) - 3} more" if len(items) > 3 else "") + ")"
            for repo, items in busy.items() if items}
