"""Usage limits park a Claude ACCOUNT, not only a run (LESSONS 19).

A run that ended `usage_limited`, or a live run whose stream holds a rejected
`rate_limit_event`, parks its machine's account (`Machine.account_name`: the `account` key,
machines sharing it park together) until `resetsAt`. The record is on the board (kv
`parking.accounts`: {account: {until, reason, run, machine, machines, at}}); the work item itself
is parked by its `run_ended` (the transition table: `run_ended.limited` -> parked until the
reset). While an account is parked nothing that needs a model is dispatched on its machines, and
nothing is moved elsewhere: the item waits for its own reset and then continues with `--resume`
on its machine (`next_action`: dispatch mode `resume`, `auto_resume`).

Unknown reset time: parked for `UNKNOWN_RESET_S` (then tried again: a new limit parks it again).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from coordssh.domain import models as m
from coordssh.domain.next_action import clock

if TYPE_CHECKING:
    from coordssh.config.schema import Config, Machine
    from coordssh.domain.models import Assignment
    from coordssh.services.context import Context

KEY = "parking.accounts"
UNKNOWN_RESET_S = 3600.0


def records(ctx: Context) -> dict[str, dict[str, Any]]:
    return dict(ctx.board.kv_get(KEY, {}) or {})


def limited_until(row: Assignment, now: float) -> float | None:
    """When the account of `row`'s run is free again, if the run says it is limited now."""
    if row.status == m.USAGE_LIMITED:
        return row.resets_at or (row.finished_at or now) + UNKNOWN_RESET_S
    saved = row.extra.get("stream") if isinstance(row.extra, dict) else None
    if row.live and isinstance(saved, dict) and saved.get("rate_limit_rejected"):
        return saved.get("resets_at") or now + UNKNOWN_RESET_S
    return None


def park_from_rows(ctx: Context, rows: Iterable[Assignment], *, dry_run: bool = False
                   ) -> list[dict[str, Any]]:
    """Park the account of every limited run whose reset is ahead (once per account and reset);
    lift the records whose time has passed. What changed, as report lines."""
    now, config = ctx.clock(), ctx.config
    current = records(ctx)
    changed: list[dict[str, Any]] = []
    for account, record in list(current.items()):
        if record["until"] <= now:
            del current[account]
            changed.append({"account": account, "unparked": True,
                            "reason": f"reset at {clock(record['until'], now)} has passed"})
    for row in rows:
        until = limited_until(row, now)
        if until is None or until <= now or row.machine not in config.machines:
            continue
        account = config.machines[row.machine].account_name
        if current.get(account, {}).get("until", 0) >= until:
            continue
        current[account] = {"until": until, "run": row.id, "machine": row.machine,
                            "machines": sharing(config, account), "at": now,
                            "reason": f"usage limit hit by run {row.id} on {row.machine}"}
        changed.append({"account": account, "parked": True, "until": until,
                        "machines": current[account]["machines"],
                        "reason": f"parked until {clock(until, now)}: "
                                  f"{current[account]['reason']}"})
    if changed and not dry_run:
        ctx.board.kv_set(KEY, current)
    return changed


def sharing(config: Config, account: str) -> list[str]:
    return sorted(mc.name for mc in config.machines.values() if mc.account_name == account)


def parked_until(ctx: Context, machine: Machine, now: float | None = None) -> float | None:
    """The reset time when `machine`'s account is parked now, else None."""
    now = ctx.clock() if now is None else now
    record = records(ctx).get(machine.account_name)
    return record["until"] if record and record["until"] > now else None


def machine_notes(ctx: Context) -> dict[str, str]:
    """{machine: "parked until 14:00 UTC"} for every machine of a parked account (status)."""
    now, found = ctx.clock(), {}
    for machine in ctx.config.machines.values():
        until = parked_until(ctx, machine, now)
        if until is not None:
            found[machine.name] = f"parked until {clock(until, now)}"
    return found
