"""The explicit acting step after an observation: one exec per machine, all its chores at once.

`observe` only reports (`MachineObservation.chores`: a run lingering past its grace, a run past
its max runtime, processes left behind by a wrapper that is gone, a dead tmux pane to capture).
`act_on` does them (remote/hygiene.py) on every machine that has any, at once, and marks each
ended run `extra["ended_by_coordssh"]` (the kind) on the board. It does not observe again: the
next observation (or the caller) sees the runs end and classifies them. `stop` and `assign`
call it; so will the periodic driver. A machine that cannot be reached keeps its chores.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

from coordssh.errors import CoordError
from coordssh.remote.hygiene import do_chores

if TYPE_CHECKING:
    from coordssh.services.context import Context
    from coordssh.services.observe import MachineObservation, Observation
    from coordssh.transport.base import Transport

log = logging.getLogger(__name__)


async def act_on(ctx: Context, observation: Observation) -> dict[str, str]:
    """Do every machine's chores ({run id: what happened}); unreachable machines are skipped."""
    pending = {mo.name: mo for mo in observation.machines if mo.reachable and mo.chores}
    if not pending:
        return {}
    machines = [ctx.config.machine(name) for name in pending]

    async def one(machine, transport: Transport) -> dict[str, str]:
        return await _do(ctx, transport, pending[machine.name])

    results = await ctx.connector.fan_out(machines, one)
    done: dict[str, str] = {}
    for name, result in results.items():
        if isinstance(result, CoordError):
            log.warning("on %s: housekeeping failed: %s", name, result)
        else:
            done.update(result)
    _mark(ctx, pending.values(), done)
    return done


async def act_on_machine(ctx: Context, transport: Transport,
                         observation: MachineObservation) -> dict[str, str]:
    """The same for one machine over an open transport (`assign`, `stop`)."""
    if not observation.reachable or not observation.chores:
        return {}
    done = await _do(ctx, transport, observation)
    _mark(ctx, (observation,), done)
    return done


async def _do(ctx: Context, transport: Transport, observation: MachineObservation) -> dict[str, str]:
    try:
        return await do_chores(transport, observation.chores, grace=ctx.config.runs.stop_grace_s)
    except CoordError as err:   # a chore left undone is done by the next act_on
        log.warning("on %s: housekeeping failed: %s", transport.name, err)
        return {}


def _mark(ctx: Context, observations: Iterable[MachineObservation], done: dict[str, str]) -> None:
    kinds = {c.run_id: c.kind for mo in observations for c in mo.chores
             if c.kind != "reap" and "ended" in done.get(c.run_id, "")}
    if not kinds:
        return
    with ctx.board.transaction() as tx:
        for run_id, kind in kinds.items():
            row = tx.get(run_id)
            if row is not None:
                tx.put(row.evolve(extra={**row.extra, "ended_by_coordssh": kind}))
