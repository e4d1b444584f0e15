"""Runs the board does not know: found on the machine, adopted onto the board from meta.json.

The machines hold the truth. A board that was emptied, lost or moved aside must not hide running
work, nor let a machine take more than `max_workers`. Every observation asks the probe to scan
the machine's run_root for run dirs it did not name whose wrapper is alive (remote/probe.py,
same exec); each one that no board row (archived rows included) knows is rebuilt from its
`meta.json` here and then reconciled like any run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from coordssh.domain import models as m
from coordssh.domain.models import Assignment
from coordssh.remote.envelope import META_EXTRA

if TYPE_CHECKING:
    from coordssh.config.schema import Machine
    from coordssh.remote.probe import RunFacts
    from coordssh.services.context import Context

ADOPTED_NOTE = "found running on {machine}; the board did not know it (rebuilt from meta.json)"


def adoptable(ctx: Context, machine: Machine, fact: RunFacts) -> Assignment | None:
    """The row to adopt for a found run, or None: the board knows it, or it belongs to another
    configured machine (two machines sharing one run_root), or its meta.json is not ours."""
    if not fact.found or ctx.board.get(fact.id) is not None:
        return None
    run_dir, meta = fact.found_meta()
    owner = meta.get("machine")
    if isinstance(owner, str) and owner != machine.name and owner in ctx.config.machines:
        return None
    if meta.get("id") != fact.id:
        return None
    return row_from_meta(machine, fact.id, run_dir, meta, started_at=fact.started_at,
                         now=ctx.clock())


def row_from_meta(machine: Machine, run_id: str, run_dir: str, meta: dict[str, Any], *,
                  started_at: float | None, now: float) -> Assignment:
    """A `running` row from a run's meta.json (docs/architecture.md: the run envelope)."""
    created = _number(meta.get("created_at"))
    return Assignment(
        id=run_id, machine=machine.name, repo=_text(meta, "repo"), issue=_issue(meta),
        branch=_text(meta, "branch"), base_branch=_text(meta, "base_branch") or "main",
        base_sha=_text(meta, "base_sha"), worktree=_text(meta, "worktree"), run_dir=run_dir,
        model=_text(meta, "model"), role=_text(meta, "role") or "implement",
        launcher=_text(meta, "launcher") or machine.launcher, status=m.RUNNING,
        reason="adopted from the machine", session_id=_text(meta, "session_id"),
        created_at=created if created is not None else (started_at or now),
        started_at=started_at, updated_at=now,
        extra={"adopted": ADOPTED_NOTE.format(machine=machine.name), "adopted_at": now,
               **{k: meta[k] for k in META_EXTRA if meta.get(k)}})   # its claude config slot


def _text(meta: dict[str, Any], key: str) -> str:
    value = meta.get(key)
    return value if isinstance(value, str) else ""


def _issue(meta: dict[str, Any]) -> int:
    value = meta.get("issue")
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _number(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None
