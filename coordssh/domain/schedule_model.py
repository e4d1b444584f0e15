"""The scheduler's inputs and outputs (domain/schedule.py): plain, frozen data. Pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

DEFAULT_SKIP_LABELS = ("blocked", "wip", "needs-human")


@dataclass(frozen=True)
class Candidate:
    """One open issue as the forge lists it."""

    repo: str
    number: int
    title: str = ""
    labels: tuple[str, ...] = ()
    milestone: str | None = None
    milestone_due: str | None = None    # ISO date or timestamp; None: no due date
    created_at: str = ""                # ISO timestamp as gh prints it
    body: str = ""


@dataclass(frozen=True)
class MachineSlots:
    name: str
    max_workers: int
    running: int                        # live runs read from the machine (adopted ones too)
    capabilities: tuple[str, ...] = ()
    repos: tuple[str, ...] = ()
    parked_until: float | None = None   # a usage limit (machine or account) until then
    parked_by: str = "a usage limit"
    reachable: bool = True
    error: str = ""

    @property
    def free(self) -> int:
        return max(0, self.max_workers - self.running)


@dataclass(frozen=True)
class Holder:
    """Something that already holds an issue: its text follows "claimed by "."""

    repo: str
    issue: int
    what: str                           # "work item demo#7 (stage implementing)"


@dataclass(frozen=True)
class InFlight:
    """A branch with work not yet merged (on origin), or a live run's predicted files."""

    repo: str
    name: str                           # branch name (as merge-tree conflicts name it)
    issue: int | None
    files: tuple[str, ...] = ()
    where: str = ""                     # "branch issue-7-x", "run ab12 on m1", "proposed ..."


@dataclass(frozen=True)
class PredictedConflict:
    """`git merge-tree` says these two in-flight branches conflict on `files`."""

    repo: str
    a: str
    b: str
    files: tuple[str, ...]


@dataclass(frozen=True)
class RepoFacts:
    name: str
    depends_on: tuple[str, ...] = ()
    busy: str = ""                      # why dependents wait ("live work: #3 implementing")
    tree: frozenset[str] | None = None  # files on the default branch (None: unknown)
    unreadable: str = ""                # why its branches could not be read (claims unknown)


@dataclass(frozen=True)
class Intake:
    take_labels: tuple[str, ...] = ()   # empty: every open issue is a candidate
    skip_labels: tuple[str, ...] = DEFAULT_SKIP_LABELS
    priority_labels: tuple[str, ...] = ()
    label_capabilities: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Budget:
    limit_usd: float | None = None      # per day across the fleet; None: no cap
    spent_usd: float = 0.0

    @property
    def exhausted(self) -> bool:
        return self.limit_usd is not None and self.spent_usd >= self.limit_usd


@dataclass(frozen=True)
class Routing:
    labels: Mapping[str, str] = field(default_factory=dict)     # models.labels
    default: str = "sonnet"
    default_source: str = "models.default"
    capability_rules: tuple[Mapping[str, Sequence[str]], ...] = ()


@dataclass(frozen=True)
class PlanInput:
    candidates: tuple[Candidate, ...]
    machines: tuple[MachineSlots, ...]
    repos: Mapping[str, RepoFacts]
    holders: tuple[Holder, ...] = ()
    inflight: tuple[InFlight, ...] = ()
    conflicts: tuple[PredictedConflict, ...] = ()
    intake: Intake = Intake()
    routing: Routing = Routing()
    budget: Budget = Budget()
    now: float = 0.0


@dataclass(frozen=True)
class Proposal:
    id: str
    machine: str
    repo: str
    issue: int
    title: str
    model: str
    model_source: str
    files: tuple[str, ...]
    capabilities: tuple[str, ...]
    rationale: str

    def to_json(self) -> dict:
        return {"id": self.id, "machine": self.machine, "repo": self.repo, "issue": self.issue,
                "title": self.title, "model": self.model, "model_source": self.model_source,
                "files": list(self.files), "capabilities": list(self.capabilities),
                "rationale": self.rationale}


@dataclass(frozen=True)
class Skip:
    repo: str
    issue: int
    reason: str
    title: str = ""

    def to_json(self) -> dict:
        return {"repo": self.repo, "issue": self.issue, "title": self.title,
                "reason": self.reason}


@dataclass(frozen=True)
class Schedule:
    proposals: tuple[Proposal, ...]
    skipped: tuple[Skip, ...]
    conflicts: tuple[PredictedConflict, ...] = ()

    def to_json(self) -> dict:
        return {"proposals": [p.to_json() for p in self.proposals],
                "skipped": [s.to_json() for s in self.skipped],
                "conflicts": [{"repo": c.repo, "a": c.a, "b": c.b, "files": list(c.files)}
                              for c in self.conflicts]}
