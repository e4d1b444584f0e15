"""`coordssh stop`: record `cancelled`, end the run's process groups, reconcile the row.

The work is kept under either launcher: once claude has ended, the wrapper commits a dirty
worktree ("coordssh rescue: ...") and pushes the branch (its trap under tmux, its normal end under
nohup), and the row's reason says what was pushed. Timings: config.runs.stop_grace_s between INT,
TERM and KILL; KILL waits longer while only the wrapper's post-run steps remain
(remote/signals.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from coordssh.domain import models as m
from coordssh.domain.models import Assignment
from coordssh.errors import CoordError
from coordssh.remote.signals import SignalOutcome, stop_run
from coordssh.services.context import Context
from coordssh.services.housekeeping import act_on_machine
from coordssh.services.observe import observe_machine


@dataclass(frozen=True)
class StopResult:
    assignment: Assignment            # the row after reconciling
    signal: SignalOutcome | None      # None: the run had already ended, nothing was sent

    @property
    def already_finished(self) -> bool:
        return self.signal is None


async def stop(ctx: Context, id_or_prefix: str) -> StopResult:
    row = ctx.board.find(id_or_prefix)
    if row.terminal:
        return StopResult(row, None)
    machine = ctx.config.machine(row.machine)
    transport = await ctx.connector.connect(machine)
    async with transport:
        outcome = await stop_run(transport, row.run_dir, grace=ctx.config.runs.stop_grace_s,
                                 now=ctx.clock())
        if outcome.state == "alive":
            raise CoordError(
                f"run {row.id} on {machine.name} survived SIGKILL",
                hint=f"its processes may belong to another user; check the pid in {row.run_dir}")
        await act_on_machine(ctx, transport, await observe_machine(ctx, machine, transport))
    final = ctx.board.get(row.id) or row
    if final.live and outcome.state in ("nopid", "missing"):  # stopped before it started
        final = final.evolve(status=m.CANCELLED, reason="cancelled before the run started",
                             finished_at=ctx.clock(), updated_at=ctx.clock())
        ctx.board.put(final)
    return StopResult(final, outcome)
