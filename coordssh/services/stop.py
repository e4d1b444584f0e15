"""`coordssh stop`: record `cancelled`, end the run's process groups, reconcile the row.

The work is kept under either launcher: once claude has ended, the wrapper commits a dirty
worktree ("coordssh rescue: ...") and pushes the branch (its trap under tmux, its normal end under
nohup), and the row's reason says what was pushed. Timings: config.runs.stop_grace_s between INT,
TERM and KILL; KILL waits longer while only the wrapper's post-run steps remain
(remote/signals.py).

Board writes go through transactions and the pipeline (services/pipeline.py): the stop request
is recorded on the work item (`operator_stop`) under the lock, the run's end comes from
observe like any other end, and a run stopped before it started is made `cancelled` by
`pipeline.end_run` only if it is still live when the lock is held (a concurrent observe wins).
"""

from __future__ import annotations

from dataclasses import dataclass

from coordssh.domain import models as m
from coordssh.domain.models import Assignment
from coordssh.domain.work import Event
from coordssh.errors import CoordError
from coordssh.remote.signals import SignalOutcome, stop_run
from coordssh.services import pipeline
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
    row = _ask_stop(ctx, ctx.board.find(id_or_prefix).id)
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
        final = pipeline.end_run(ctx.board, row.id, ctx.clock(), status=m.CANCELLED,
                                 reason="cancelled before the run started") or \
            ctx.board.get(row.id) or final
    return StopResult(final, outcome)


def _ask_stop(ctx: Context, run_id: str) -> Assignment:
    """The row as it is under the lock; a live one has the stop recorded on its work item."""
    with ctx.board.transaction() as tx:
        row = tx.get(run_id)
        assert row is not None  # found a moment ago; rows are never deleted
        if row.live:
            pipeline.record(tx, row.work_key, Event("operator_stop", {"machine": row.machine},
                                                    row.id), ctx.clock())
        return row
