"""What one observation changes on a board row: the stream fold it resumes from (`state_of`),
the fields a probe's facts and the outcome give (`row_fields`), and the change itself
(`row_diff`, nothing when nothing but the clock moved)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from coordssh.domain import models as m
from coordssh.domain.models import Assignment
from coordssh.remote.probe import RunFacts
from coordssh.services.judge import stderr_text

if TYPE_CHECKING:  # the stream parser and the classifier are imported where a run needs them
    from coordssh.agent.outcome import Outcome
    from coordssh.agent.stream import StreamState
    from coordssh.services.context import Context

STDERR_KEEP = 2000


def state_of(row: Assignment) -> StreamState:
    from coordssh.agent.stream import StreamState

    saved = row.extra.get("stream") if isinstance(row.extra, dict) else None
    state = StreamState.from_dict(saved) if saved else StreamState()
    state.bytes_consumed = row.offset
    return state


def row_fields(ctx: Context, row: Assignment, fact: RunFacts, state: StreamState,
                outcome: Outcome, now: float) -> dict[str, Any]:
    terminal = outcome.status in m.TERMINAL_STATUSES
    started = fact.started_at if fact.started_at is not None else row.started_at
    finished = (fact.finished_at or now or ctx.clock()) if terminal else None
    extra = {**row.extra, "stream": state.to_dict()}
    if terminal and fact.stderr_tail:
        extra["stderr_tail"] = stderr_text(fact)[-STDERR_KEEP:]
    return {
        "status": outcome.status, "reason": outcome.reason, "offset": state.bytes_consumed,
        "session_id": state.session_id or row.session_id, "model": state.model or row.model,
        "turns": state.turns, "cost_usd": state.cost_usd,
        "last_status": state.last_status or row.last_status,
        "pushed_sha": fact.pushed_sha or row.pushed_sha, "exit_code": fact.exit_code,
        "started_at": started, "finished_at": finished,
        "duration_s": (finished - started) if finished and started else row.duration_s,
        "resets_at": outcome.resets_at, "unreachable_since": None, "extra": extra,
        "updated_at": ctx.clock(),
    }


def row_diff(row: Assignment, fields: dict[str, Any]) -> dict[str, Any]:
    changed = {k: v for k, v in fields.items() if k != "updated_at" and getattr(row, k) != v}
    return {**changed, "updated_at": fields.get("updated_at", 0.0)} if changed else {}
