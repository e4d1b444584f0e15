"""What the board knows about each machine beyond one observation (for `status`, `resume`):
its account parked by a usage limit (parking.py), reported stale (stale.py), its last measured
disk use (gc.py). Board reads only: no connection, no lock."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from coordssh.services.context import Context


def machine_notes(ctx: Context) -> dict[str, dict[str, Any]]:
    from coordssh.services import parking, stale
    from coordssh.services.gc import DISK_KEY

    parked, reach = parking.records(ctx), stale.records(ctx)
    disk = ctx.board.kv_get(DISK_KEY, {}) or {}
    said = {**stale.machine_notes(ctx), **parking.machine_notes(ctx)}
    found: dict[str, dict[str, Any]] = {}
    for machine in ctx.config.machines.values():
        record = parked.get(machine.account_name)
        until = record["until"] if record and record["until"] > ctx.clock() else None
        since = reach.get(machine.name, {})
        found[machine.name] = {
            "note": said.get(machine.name, ""),
            "account": machine.account_name,
            "parked_until": until,
            "stale_since": since.get("since") if since.get("reported") else None,
            "disk": disk.get(machine.name),
        }
    return found
