"""The scheduler behind `coordssh plan`: which open issue goes to which free slot, and why not.

Pure: plain dataclasses in, a `Schedule` out, no I/O, no clock of its own (`now` is an input).
Every candidate issue ends as exactly one proposal or one skip with its reason, in the order
they were considered: priority labels first, then milestone (earliest due date, then title),
then age (oldest first), then repo and number. The checks, in order (the first that holds is
the reason): intake labels, a claim (work item, live run, branch on origin), `depends_on`, the
day budget, a file conflict (with an in-flight branch or an issue proposed earlier in this
plan), a machine that serves the repo with the capabilities needed, not parked, with a free
slot. At most one proposal per free slot; the machine with the most free slots left wins (then
its name), so a plan spreads over the fleet.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace

from coordssh.domain.next_action import clock
from coordssh.domain.schedule_files import Overlap, first_overlap, likely_files, needed_capabilities
from coordssh.domain.schedule_model import (  # noqa: F401 (the scheduler's vocabulary)
    DEFAULT_SKIP_LABELS, Budget, Candidate, Holder, InFlight,
    Intake, MachineSlots, PlanInput, PredictedConflict, Proposal,
    RepoFacts, Routing, Schedule, Skip)
from coordssh.domain.schedule_text import money, order_key, rationale


# --- the scheduler ------------------------------------------------------------------------------
def schedule(data: PlanInput) -> Schedule:
    """Every candidate, in order, to a proposal or a skip (see the module docstring)."""
    slots = {m.name: m for m in data.machines}
    held = _holders(data.holders)
    proposed: list[InFlight] = []
    proposals: list[Proposal] = []
    skipped: list[Skip] = []
    for cand in sorted(_unique(data.candidates), key=lambda c: order_key(c, data.intake)):
        repo = data.repos.get(cand.repo) or RepoFacts(cand.repo)
        files = likely_files(f"{cand.title}\n{cand.body}", repo.tree)
        reason = _refusal(data, cand, repo, files, held, proposed)
        if not reason:
            needed = needed_capabilities(cand.labels, files, data.intake.label_capabilities,
                                         data.routing.capability_rules)
            chosen, reason = pick_machine(slots.values(), cand.repo, needed, data.now)
        if reason:
            skipped.append(Skip(cand.repo, cand.number, reason, cand.title))
            continue
        slots[chosen.name] = replace(chosen, running=chosen.running + 1)
        model, source = route_model(cand.labels, data.routing)
        proposals.append(Proposal(
            str(len(proposals) + 1), chosen.name, cand.repo, cand.number, cand.title, model,
            source, files, needed,
            rationale(cand, data.intake, chosen, needed, model, source, files)))
        proposed.append(InFlight(cand.repo, "", cand.number, files, "proposed in this plan"))
    return Schedule(tuple(proposals), tuple(skipped), tuple(data.conflicts))


def _refusal(data: PlanInput, cand: Candidate, repo: RepoFacts, files: tuple[str, ...],
             held: Mapping[tuple[str, int], str], proposed: Sequence[InFlight]) -> str:
    """The first reason this issue cannot be proposed, before any machine is considered."""
    intake = data.intake
    skip = next((label for label in cand.labels if _has(intake.skip_labels, label)), None)
    if skip:
        return f"label {skip}"
    if intake.take_labels and not any(_has(intake.take_labels, lb) for lb in cand.labels):
        return f"no intake label (takes: {', '.join(intake.take_labels)})"
    holder = held.get((cand.repo, cand.number))
    if holder:
        return f"claimed by {holder}"
    if repo.unreadable:
        return f"claims unknown: the branches of {cand.repo} could not be read ({repo.unreadable})"
    for upstream in repo.depends_on:
        busy = (data.repos.get(upstream) or RepoFacts(upstream)).busy
        if busy:
            return f"blocked: depends_on {upstream} has {busy}"
    if data.budget.exhausted:
        return (f"budget: day spend {money(data.budget.spent_usd)} of "
                f"{money(data.budget.limit_usd or 0)}")
    return conflict_reason(cand.repo, cand.number, files, [*data.inflight, *proposed],
                           data.conflicts)


def conflict_reason(repo: str, issue: int, files: Sequence[str], others: Iterable[InFlight],
                    conflicts: Sequence[PredictedConflict] = ()) -> str:
    """"would conflict with #N on a.py (branch issue-N-x)" for the first overlap, else ""."""
    for other in others:
        if other.repo != repo or other.issue == issue:
            continue
        overlap = first_overlap(files, other.files)
        if overlap:
            return _conflict_text(other, overlap, conflicts)
    return ""


def _conflict_text(other: InFlight, overlap: Overlap,
                   conflicts: Sequence[PredictedConflict]) -> str:
    who = f"#{other.issue}" if other.issue is not None else other.where
    text = f"would conflict with {who} on {overlap.path} ({other.where or other.name})"
    hot = sorted({c.b if c.a == other.name else c.a for c in conflicts
                  if other.name and other.name in (c.a, c.b) and overlap.path in c.files})
    if hot:
        text += f"; git merge-tree predicts {other.name} already conflicts with {', '.join(hot)}"
    return text


def pick_machine(machines: Iterable[MachineSlots], repo: str, needed: Sequence[str],
                 now: float) -> tuple[MachineSlots | None, str]:
    """The machine for one run (most free slots, then name), or None and the reason."""
    serving = [m for m in machines if repo in m.repos]
    if not serving:
        return None, f"no machine serves repo {repo}"
    capable = [m for m in serving if set(needed) <= set(m.capabilities)]
    if not capable:
        return None, f"no machine with capability {', '.join(sorted(set(needed)))}"
    reachable = [m for m in capable if m.reachable]
    if not reachable:
        return None, "; ".join(f"machine {m.name} unreachable: {m.error}" for m in capable)
    awake = [m for m in reachable if not (m.parked_until and m.parked_until > now)]
    if not awake:
        return None, "; ".join(f"machine {m.name} parked by {m.parked_by} until "
                               f"{clock(m.parked_until or 0, now)}" for m in reachable)
    free = [m for m in awake if m.free > 0]
    if not free:
        full = len(awake)
        return None, f"no free slot ({full} machine{'s' if full != 1 else ''} full)"
    return min(free, key=lambda m: (-m.free, m.name)), ""


def route_model(labels: Sequence[str], routing: Routing) -> tuple[str, str]:
    """(model, where it came from): the first label mapped in models.labels, else the default.
    The same rule as `assign` (agent/claude.resolve_model); labels match case-insensitively."""
    folded = {k.casefold(): (k, v) for k, v in routing.labels.items()}
    for label in labels:
        hit = folded.get(label.casefold())
        if hit:
            return hit[1], f"label: {label}"
    return routing.default, routing.default_source


def _holders(holders: Iterable[Holder]) -> dict[tuple[str, int], str]:
    found: dict[tuple[str, int], str] = {}
    for h in holders:
        found.setdefault((h.repo, h.issue), h.what)   # the first named wins (work items first)
    return found


def _has(names: Sequence[str], label: str) -> bool:
    return label.casefold() in {n.casefold() for n in names}


def _unique(candidates: Iterable[Candidate]) -> list[Candidate]:
    seen: dict[tuple[str, int], Candidate] = {}
    for cand in candidates:
        seen.setdefault((cand.repo, cand.number), cand)
    return list(seen.values())
