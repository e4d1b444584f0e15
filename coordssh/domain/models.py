"""Pure data: assignments, their statuses, and the transitions between them. No I/O here."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

# --- statuses ------------------------------------------------------------------------------------
STARTING = "starting"
RUNNING = "running"
UNKNOWN = "unknown"          # the machine cannot be reached: touch nothing, claim nothing
DONE = "done"                # claude succeeded and the branch has pushed commits
ADVISORY = "advisory"        # succeeded, nothing to push
STUCK = "stuck"
FAILED = "failed"
MAX_TURNS = "max_turns"
BUDGET = "budget"
USAGE_LIMITED = "usage_limited"
API_ERROR = "api_error"
AUTH_FAILED = "auth_failed"
CRASHED = "crashed"          # no result line and the process is gone; session id kept
CANCELLED = "cancelled"
PUSH_FAILED = "push_failed"  # succeeded, but `git push` failed: the commits are only on the worker

LIVE_STATUSES = frozenset({STARTING, RUNNING, UNKNOWN})
TERMINAL_STATUSES = frozenset({DONE, ADVISORY, STUCK, FAILED, MAX_TURNS, BUDGET, USAGE_LIMITED,
                               API_ERROR, AUTH_FAILED, CRASHED, CANCELLED, PUSH_FAILED})
ALL_STATUSES = LIVE_STATUSES | TERMINAL_STATUSES


def new_assignment_id() -> str:
    """8 hex digits: short enough to type, random enough for one operator's board."""
    import secrets  # hashlib and hmac: only `assign` makes ids

    return secrets.token_hex(4)


@dataclass(slots=True)
class Assignment:
    """One assignment. Treat instances as values: change them with `evolve`, never in place.

    Not `frozen`: a frozen dataclass sets each of these 30 fields through object.__setattr__,
    which made loading 5,000 board rows cost ~125 ms instead of ~15 ms.
    """

    id: str
    machine: str
    repo: str
    issue: int
    branch: str
    title: str = ""
    base_branch: str = "main"
    base_sha: str = ""
    worktree: str = ""            # path on the worker, as the worker sees it
    run_dir: str = ""             # <run_root>/<id> on the worker
    model: str = ""               # the model id shown to the operator
    role: str = "implement"
    work: str = ""                # the work item it serves, "repo#issue" (domain/work.py)
    launcher: str = "nohup"
    status: str = STARTING
    reason: str = ""              # one line for every terminal outcome
    session_id: str = ""
    created_at: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None
    duration_s: float | None = None
    turns: int | None = None
    cost_usd: float | None = None
    last_status: str = ""         # the last `STATUS:` line the agent printed
    pushed_sha: str = ""
    exit_code: int | None = None
    resets_at: float | None = None  # usage_limited: when the limit resets (epoch s)
    offset: int = 0               # bytes of stream.jsonl already folded into this row
    unreachable_since: float | None = None
    updated_at: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def live(self) -> bool:
        return self.status in LIVE_STATUSES

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def work_key(self) -> str:
        return self.work or f"{self.repo}#{self.issue}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Assignment:
        known = _FIELD_NAMES or _field_names()
        if known.issuperset(data):
            return cls(**data)
        return cls(**{k: v for k, v in data.items() if k in known})

    def evolve(self, **changes: Any) -> Assignment:
        return replace(self, **changes)


_FIELD_NAMES: frozenset[str] = frozenset()


def _field_names() -> frozenset[str]:
    """Computed once: `dataclasses.fields()` per row dominated reading a large board."""
    global _FIELD_NAMES
    _FIELD_NAMES = frozenset(f.name for f in fields(Assignment))
    return _FIELD_NAMES
