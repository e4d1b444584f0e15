"""Work items (one per repo#issue) and the ONE pure transition function. No I/O here.

`transition(item, event, now)` looks the move up in `stages.TABLE` by `(item.stage,
event_key(item, event))`, applies the event's facts to the item (runs, head SHA, verdicts,
rounds, spend, parking) and returns the new item; an event the table does not allow in the
item's stage raises `TransitionRefused` naming the stage and what is allowed there. A new head
SHA voids every verdict tied to another SHA (`verdicts` only ever holds the head's).
`reopened` (an issue assigned again after its item merged or was abandoned) starts a new cycle:
domain/work_cycle.py resets every field of the old branch in one place.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from coordssh.domain import stages as s
from coordssh.domain import work_cycle as cycles
from coordssh.errors import TransitionRefused

TEST_RESULTS = ("passed", "failed")
REVIEW_RESULTS = ("approve", "request_changes")
LIVE_RUN_STATUSES = frozenset({"starting", "running", "unknown"})


def work_key(repo: str, issue: int) -> str:
    return f"{repo}#{issue}"


@dataclass(frozen=True)
class Verdict:
    kind: str            # test | review
    result: str          # passed | failed | approve | request_changes
    sha: str
    at: float = 0.0
    run: str = ""        # the run that gave it ("" by hand)
    detail: str = ""     # test output tail, review summary and findings


@dataclass(frozen=True)
class Rounds:
    fix: int = 0         # fix runs started as a new round (not retries or continuations)
    review: int = 0
    retry: int = 0       # runs started again after an interruption (retry, continue, resume)


@dataclass(frozen=True)
class Event:
    kind: str
    data: Mapping[str, Any] = field(default_factory=dict)
    run: str = ""        # the run it concerns, if any

    def get(self, name: str, default: Any = None) -> Any:
        return self.data.get(name, default)


@dataclass(frozen=True)
class WorkItem:
    repo: str
    issue: int
    branch: str = ""                 # fixed by the first run; every follow-up reuses it
    base_branch: str = "main"
    title: str = ""
    stage: str = s.NEW
    head_sha: str = ""
    pr_number: int | None = None
    pr_url: str = ""
    verdicts: tuple[Verdict, ...] = ()
    rounds: Rounds = Rounds()
    model_rung: int | None = None    # index into models.escalation of the last run's model
    spend_usd: float = 0.0
    parked_until: float | None = None
    parked_reason: str = ""
    parked_from: str = ""            # the stage to go back to when unparked
    conflict_files: tuple[str, ...] = ()
    runs: tuple[str, ...] = ()       # run ids, in the order they started
    active_run: str = ""             # the live run whose end moves the stage
    last_run: Mapping[str, Any] = field(default_factory=dict)  # id, role, status, reason, ...
    created_at: float = 0.0
    updated_at: float = 0.0
    # the cycles before this one (work_cycle.summary): branch, stage, head, PR, runs, spend
    earlier: tuple[Mapping[str, Any], ...] = ()
    abandoned_reason: str = ""       # why the item was given up (abandoned, pr_closed)

    @property
    def key(self) -> str:
        return work_key(self.repo, self.issue)

    @property
    def cycle(self) -> int:
        """1 for the first branch; +1 each time the issue is assigned again after its end."""
        return cycles.cycle_of(self)

    def verdict(self, kind: str) -> Verdict | None:
        """The verdict of `kind` for the current head, if any."""
        return next((v for v in self.verdicts if v.kind == kind and v.sha == self.head_sha), None)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["key"] = self.key
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WorkItem:
        known = {k: v for k, v in data.items() if k in _FIELDS}
        known["verdicts"] = tuple(Verdict(**v) for v in data.get("verdicts", ()))
        known["rounds"] = Rounds(**data.get("rounds", {}))
        for name in ("runs", "conflict_files"):
            known[name] = tuple(data.get(name, ()))
        known["last_run"] = dict(data.get("last_run", {}))
        known["earlier"] = cycles.earlier_of(data)
        return cls(**known)


_FIELDS = frozenset(WorkItem.__dataclass_fields__)


# --- the event key: which column of the table an event falls in -----------------------------
def event_key(item: WorkItem, event: Event) -> str:
    kind = event.kind
    if kind not in s.EVENT_KINDS:
        raise TransitionRefused(f"unknown work event '{kind}'", stage=item.stage, key=kind,
                                hint="events: " + ", ".join(s.EVENT_KINDS))
    if kind == "run_started":
        return f"run_started.{_role(item, event)}"
    if kind == "run_ended":
        status = event.get("status", "")
        if status in LIVE_RUN_STATUSES or not status:
            raise TransitionRefused(f"run {event.run} has not ended (status '{status}')",
                                    stage=item.stage, key=kind)
        if not event.run or event.run != item.active_run:
            return "run_ended.stale"
        return "run_ended." + s.RUN_END_CLASS.get(status, "interrupted")
    if kind == "run_pushed":
        if not event.run or event.run != item.last_run.get("id"):
            return "run_pushed.stale"
        return "run_pushed." + ("done" if event.get("status") == "done" else "other")
    if kind in ("test_verdict", "review_verdict"):
        results = TEST_RESULTS if kind == "test_verdict" else REVIEW_RESULTS
        result = event.get("result")
        if result not in results:
            raise TransitionRefused(f"a {kind} must be one of {', '.join(results)}, not "
                                    f"{result!r}", stage=item.stage, key=kind)
        sha = event.get("sha") or item.head_sha
        return f"{kind}.{'stale' if sha != item.head_sha else result}"
    if kind == "reopened" and not event.get("branch"):
        raise TransitionRefused(f"reopening {item.key} needs the new cycle's branch",
                                stage=item.stage, key=kind)
    return kind


def _role(item: WorkItem, event: Event) -> str:
    role = event.get("role")
    if role not in s.ROLES:
        raise TransitionRefused(f"a run for {item.key} must serve one of {', '.join(s.ROLES)}, "
                                f"not {role!r}", stage=item.stage, key="run_started")
    return role


# --- the transition -------------------------------------------------------------------------
def transition(item: WorkItem, event: Event, now: float) -> WorkItem:
    key = event_key(item, event)
    target = s.TABLE.get((item.stage, key))
    if target is None:
        again = (f"; `coordssh assign MACHINE {item.repo} {item.issue}` starts it again on a "
                 "new branch (a new cycle)") if s.reopens(item.stage) else ""
        raise TransitionRefused(
            f"{item.key} is {item.stage}: {describe(key)} is not possible now",
            stage=item.stage, key=key,
            hint=f"`coordssh work {item.key}` shows what it waits for; possible in stage "
                 f"{item.stage}: {', '.join(s.allowed_keys(item.stage)) or 'nothing'}{again}")
    changes = _EFFECTS.get(event.kind, _no_effect)(item, event, key, now)
    moved = replace(item, **changes)
    if target == s.SAME:
        target = item.stage
    elif target == s.RESUME:
        target = item.parked_from or s.INTERRUPTED
    if target != s.PARKED:
        moved = replace(moved, parked_until=None, parked_reason="", parked_from="")
    verdicts = tuple(v for v in moved.verdicts if v.sha == moved.head_sha)
    return replace(moved, stage=target, verdicts=verdicts, updated_at=now)


def describe(key: str) -> str:
    kind, _, detail = key.partition(".")
    if kind == "run_started":
        return f"starting {'an' if detail[:1] in 'aeiou' else 'a'} {detail} run"
    if kind == "run_ended":
        return f"a run ending ({detail})"
    return f"{kind.replace('_', ' ')} {detail}".strip()


def _no_effect(item: WorkItem, event: Event, key: str, now: float) -> dict[str, Any]:
    return {}


def _run_started(item: WorkItem, event: Event, key: str, now: float) -> dict[str, Any]:
    role, mode = event.get("role"), event.get("mode", "new")
    rounds = item.rounds
    if mode in ("retry", "continue", "resume"):
        rounds = replace(rounds, retry=rounds.retry + 1)
    elif role == "fix":
        rounds = replace(rounds, fix=rounds.fix + 1)
    elif role == "review":
        rounds = replace(rounds, review=rounds.review + 1)
    changes: dict[str, Any] = {
        "runs": item.runs + ((event.run,) if event.run not in item.runs else ()),
        "active_run": event.run, "rounds": rounds,
        "branch": item.branch or event.get("branch", ""),
        "base_branch": item.base_branch if item.branch else event.get("base_branch",
                                                                      item.base_branch),
        "title": item.title or event.get("title", ""),
    }
    if event.get("rung") is not None:
        changes["model_rung"] = event.get("rung")
    if role == "fix":
        changes["conflict_files"] = ()
    return changes


def _run_ended(item: WorkItem, event: Event, key: str, now: float) -> dict[str, Any]:
    changes: dict[str, Any] = {"spend_usd": item.spend_usd + float(event.get("cost_usd") or 0)}
    if key == "run_ended.stale":
        return changes
    changes.update(active_run="", last_run=last_run_of(event))
    if event.get("sha"):
        changes["head_sha"] = event.get("sha")
    if key == "run_ended.limited":
        changes.update(parked_until=event.get("resets_at"), parked_from=s.INTERRUPTED,
                       parked_reason=f"{event.get('status')}: {event.get('reason', '')}".strip())
    return changes


def _run_pushed(item: WorkItem, event: Event, key: str, now: float) -> dict[str, Any]:
    if key == "run_pushed.stale":
        return {}
    changes: dict[str, Any] = {"last_run": {**item.last_run, "status": event.get("status"),
                                            "reason": event.get("reason", "")}}
    if event.get("sha"):
        changes["head_sha"] = event.get("sha")
    return changes


def last_run_of(event: Event) -> dict[str, Any]:
    fields = ("role", "status", "reason", "machine", "mode", "session_id")
    return {"id": event.run, **{k: event.get(k) for k in fields if event.get(k) is not None}}


def _verdict(item: WorkItem, event: Event, key: str, now: float) -> dict[str, Any]:
    kind = event.kind.removesuffix("_verdict")
    changes: dict[str, Any] = {"spend_usd": item.spend_usd + float(event.get("cost_usd") or 0)}
    if event.run and event.run == item.active_run:
        changes.update(active_run="", last_run=last_run_of(event))
    if key.endswith(".stale"):
        return changes
    verdict = Verdict(kind, event.get("result"), item.head_sha, now, event.run,
                      str(event.get("detail", "")))
    kept = tuple(v for v in item.verdicts if not (v.kind == kind and v.sha == item.head_sha))
    changes["verdicts"] = kept + (verdict,)
    return changes


def _parked(item: WorkItem, event: Event, key: str, now: float) -> dict[str, Any]:
    return {"parked_until": event.get("until"), "parked_reason": event.get("reason", ""),
            "parked_from": item.parked_from if item.stage == s.PARKED else item.stage}


_EFFECTS = {
    "run_started": _run_started,
    "run_ended": _run_ended,
    "run_pushed": _run_pushed,
    "test_verdict": _verdict,
    "review_verdict": _verdict,
    "head_moved": lambda item, event, key, now: {"head_sha": event.get("sha") or item.head_sha},
    "pr_opened": lambda item, event, key, now: {"pr_number": event.get("number"),
                                                "pr_url": event.get("url", "")},
    "merge_conflict": lambda item, event, key, now: {
        "conflict_files": tuple(event.get("files", ()))},
    "parked": _parked,
    # the item is over: a run still going is no longer the one that moves it
    "pr_merged": lambda item, event, key, now: {"active_run": "", "abandoned_reason": ""},
    "pr_closed": lambda item, event, key, now: {
        "active_run": "", "abandoned_reason": f"PR #{event.get('number') or item.pr_number} "
                                              "closed without merging"},
    "abandoned": lambda item, event, key, now: {
        "active_run": "", "abandoned_reason": str(event.get("reason") or "given up")},
    "pr_reopened": lambda item, event, key, now: {"abandoned_reason": ""},
    "reopened": cycles.new_cycle,
}

