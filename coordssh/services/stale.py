"""Machines that stay unreachable: measured in time, reported once (LESSONS 3).

kv `machines.reach` = {machine: {"since": epoch, "reported": bool}}. A machine that cannot be
reached gets `since` at the first pass that fails; once it has been unreachable for
`pipeline.stale_after` seconds it is reported ONCE: a `machine_stale` entry in the history of
every work item with a run on it (history only, never applied: the item does not move), which
notify comments on, and `status` shows "stale since ...". Its runs stay `unknown` (observe):
never killed, never dispatched again while unknown (their items wait in a running stage). When
it answers again the record goes and a `machine_back` entry follows a reported one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from coordssh.domain.next_action import clock
from coordssh.domain.work import Event

if TYPE_CHECKING:
    from coordssh.services.context import Context
    from coordssh.services.observe import MachineObservation

KEY = "machines.reach"


def records(ctx: Context) -> dict[str, dict[str, Any]]:
    return dict(ctx.board.kv_get(KEY, {}) or {})


def track(ctx: Context, machines: tuple[MachineObservation, ...], *, dry_run: bool = False
          ) -> list[dict[str, Any]]:
    """Update the reach records from one observation; the machines newly stale or back."""
    now, after = ctx.clock(), ctx.config.pipeline.stale_after
    current, before = records(ctx), records(ctx)
    changed: list[dict[str, Any]] = []
    for mo in machines:
        record = current.get(mo.name)
        if mo.reachable:
            if record is not None:
                del current[mo.name]
                if record.get("reported"):
                    changed.append({"machine": mo.name, "back": True,
                                    "runs": _runs(mo), "since": record["since"]})
            continue
        record = dict(record or {"since": now, "reported": False})
        if not record["reported"] and now - record["since"] >= after:
            record["reported"] = True
            changed.append({"machine": mo.name, "stale": True, "since": record["since"],
                            "runs": _runs(mo), "error": mo.error,
                            "reason": f"unreachable since {clock(record['since'], now)} "
                                      f"(over pipeline.stale_after {after:g}s): {mo.error}"})
        current[mo.name] = record
    if not dry_run:
        if current != before:
            ctx.board.kv_set(KEY, current)
        _history(ctx, changed)
    return changed


def _runs(mo: MachineObservation) -> list[tuple[str, str]]:
    return [(row.id, row.work_key) for row in mo.assignments if row.live]


def _history(ctx: Context, changed: list[dict[str, Any]]) -> None:
    if not changed:
        return
    now = ctx.clock()
    with ctx.board.transaction() as tx:
        for change in changed:
            kind = "machine_stale" if change.get("stale") else "machine_back"
            for run, work in change["runs"]:
                if tx.get_work(work) is not None:   # history only: the item does not move
                    tx.append_event(work, Event(kind, {"machine": change["machine"],
                                                       "since": change["since"],
                                                       "error": change.get("error", "")},
                                                run), now)


def machine_notes(ctx: Context) -> dict[str, str]:
    now = ctx.clock()
    return {name: f"stale: unreachable since {clock(r['since'], now)}"
            for name, r in records(ctx).items() if r.get("reported")}
