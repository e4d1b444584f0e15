"""Reconcile the board from the facts on the machines (every read path calls this).

One connection per machine, one probe per machine (a second only when a chunk was capped), all
machines at once; the new bytes of each live run's stream are folded into the StreamState kept
on its row (`extra["stream"]`, with `offset` = bytes folded so far), the run is classified, and
every change is written in ONE board transaction.

Reads observe, they do not act. Rules (LESSONS 1-5): an unreachable machine leaves its live
runs `unknown` (never terminal, never idle) until it answers again; "SSH fine, process gone, no
result" is `crashed`; a result line followed by a process that lingers past `result_grace_s`
(measured from the stream's mtime on the worker's clock) stays `running` with its result's
outcome and "process still lingering" in the reason; a run past `max_runtime_s` stays `running`
with that said. Each such run, a wrapper gone with processes left in its groups, and a tmux
run that ended without the probe capturing its pane, is a chore on the observation
(`MachineObservation.chores`) for `services/housekeeping.act_on`, which `stop`, `assign` (and
the driver) call: one exec per machine. The probe itself captures the pane of a tmux run whose
envelope is complete (`finished_at`) and ends its dead session (remote/tmux.py).
The same probe lists live run dirs the board does not know (a lost or emptied board): they are
adopted from their meta.json (services/adopt.py) and reconciled like any run, so `status` shows
them and capacity counts them. Every observation therefore probes, even with no live rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from coordssh.domain import models as m
from coordssh.domain.models import Assignment
from coordssh.errors import RemoteError, TransportError
from coordssh.remote.hygiene import Chore
from coordssh.remote.probe import CHUNK_CAP, ProbeReport, RunFacts, probe
from coordssh.remote.tmux import session_name
from coordssh.services.judge import judge, pane_left
from coordssh.services.observe_rows import row_diff, row_fields, state_of
from coordssh.services.pipeline import record_adopted, record_end

if TYPE_CHECKING:  # the stream parser and the classifier are imported where a run needs them
    from coordssh.agent.stream import StreamState
    from coordssh.config.schema import Machine
    from coordssh.services.context import Context
    from coordssh.transport.base import Transport

MAX_ROUNDS = 8           # probe rounds per observation when chunks are capped
MAX_CAP = 256 * 1024 * 1024


@dataclass(frozen=True)
class MachineObservation:
    name: str
    reachable: bool
    max_workers: int
    error: str = ""
    running: int = 0                        # live runs on the board after reconciling
    assignments: tuple[Assignment, ...] = ()  # this machine's rows, reconciled
    changes: dict[str, dict[str, Any]] = field(default_factory=dict)
    bases: dict[str, int] = field(default_factory=dict)   # each row's offset when it was read
    worker_now: float | None = None
    adopted: tuple[Assignment, ...] = ()    # found on the machine, unknown to the board (as built)
    chores: tuple[Chore, ...] = ()          # what housekeeping.act_on should do here (observe never acts)


@dataclass(frozen=True)
class Observation:
    machines: tuple[MachineObservation, ...]
    assignments: tuple[Assignment, ...]     # every row shown, reconciled, by creation time

    def machine(self, name: str) -> MachineObservation | None:
        return next((mo for mo in self.machines if mo.name == name), None)


# --- entry points -------------------------------------------------------------------------------
async def observe(ctx: Context, machines: Iterable[str] | None = None) -> Observation:
    """Probe `machines` (names; default all), reconcile their rows, write once, report."""
    chosen = _machines(ctx, machines)
    rows = ctx.board.list()
    live = _live_by_machine(rows, chosen)

    async def one(machine: Machine, transport: Transport) -> MachineObservation:
        return await _observe(ctx, machine, transport, live.get(machine.name, []))

    results = await ctx.connector.fan_out(chosen, one)
    observations = tuple(
        _not_observed(ctx, machine, live.get(machine.name, []), result)
        if isinstance(result, RemoteError) else result
        for machine, result in ((mc, results[mc.name]) for mc in chosen))
    wrote = write_changes(ctx, observations)
    return _assemble(None if machines is None else chosen, observations,
                     ctx.board.list() if wrote else rows)


async def observe_machine(ctx: Context, machine: Machine, transport: Transport, *,
                          write: bool = True) -> MachineObservation:
    """Reconcile one machine over an open transport and write its changes (for capacity checks;
    `write=False`: only report, for a dry run)."""
    rows = ctx.board.list(machine=machine.name, live_only=True)
    try:
        observation = await _observe(ctx, machine, transport, rows)
    except RemoteError as err:
        observation = _not_observed(ctx, machine, rows, err)
    if write:
        write_changes(ctx, (observation,))
    return observation


async def observe_held(ctx: Context, machine: Machine, transport: Transport,
                       rows: list[Assignment], states: dict[str, StreamState], *,
                       facts_only: Iterable[str] = ()) -> MachineObservation:
    """Reconcile `rows` of one machine over a transport the caller keeps open (the live view),
    writing nothing (`write_changes` does). `states` are the caller's folds, kept between calls
    (a row without one starts from the board's); runs in `facts_only` are probed without stream
    bytes (the caller feeds their states from a streaming channel). RemoteError propagates."""
    return await _observe(ctx, machine, transport, rows, states, frozenset(facts_only))


def observation_failed(ctx: Context, machine: Machine, rows: list[Assignment],
                       err: RemoteError) -> MachineObservation:
    """What `observe` reports for a machine it could not observe (see `_not_observed`)."""
    return _not_observed(ctx, machine, rows, err)


def write_changes(ctx: Context, observations: Iterable[MachineObservation]) -> bool:
    """One board write for all observations; False when there was nothing to write.

    A row whose offset moved since we read it was reconciled by another coordssh process in the
    meantime (its fold is as new as ours): we leave it. A row made terminal meanwhile (by `stop`)
    stays as it is.
    """
    bases = {k: v for mo in observations for k, v in mo.bases.items()}
    changes = {k: v for mo in observations for k, v in mo.changes.items() if v}
    adopted = [row for mo in observations for row in mo.adopted]
    if not changes and not adopted:
        return False
    with ctx.board.transaction() as tx:
        for row in adopted:
            if tx.get(row.id) is None:
                record_adopted(tx, row, ctx.clock())
            else:   # written meanwhile (an assign in another process): its row stands
                changes.pop(row.id, None)
        for assignment_id, fields in changes.items():
            current = tx.get(assignment_id)
            if current is None or current.offset != bases.get(assignment_id, current.offset):
                continue
            if current.terminal:
                continue
            tx.put(row := current.evolve(**fields))
            if row.terminal:  # the work item's side, in the same write (services/pipeline.py)
                record_end(tx, row, ctx.clock())
    return True


# --- one machine --------------------------------------------------------------------------------
async def _observe(ctx: Context, machine: Machine, transport: Transport,
                   rows: list[Assignment], states: dict[str, StreamState] | None = None,
                   facts_only: frozenset[str] = frozenset()) -> MachineObservation:
    states = {} if states is None else states
    for row in rows:
        if row.id not in states:
            states[row.id] = state_of(row)
    report, facts, adopted = await _probe_all(ctx, transport, machine, rows, states, facts_only)
    bases = {row.id: row.offset for row in (*rows, *adopted)}
    rows = [*rows, *adopted]
    changes: dict[str, dict[str, Any]] = {}
    updated, chores = [], []
    for row in rows:
        fact = facts.get(row.id) or RunFacts(id=row.id, missing=True)
        outcome, chore = judge(ctx, row, fact, states[row.id], report.now)
        fields = row_fields(ctx, row, fact, states[row.id], outcome, report.now)
        changes[row.id] = row_diff(row, fields)
        updated.append(row.evolve(**fields))
        if chore:
            chores.append(Chore(row.id, row.run_dir, chore))
        if pane_left(row, fact, outcome):
            chores.append(Chore(row.id, row.run_dir, "reap", session_name(row.id)))
    running = sum(1 for row in updated if row.live)
    return MachineObservation(machine.name, True, machine.max_workers, running=running,
                              assignments=tuple(updated), changes=changes, bases=bases,
                              worker_now=report.now, adopted=tuple(adopted),
                              chores=tuple(chores))


async def _probe_all(ctx: Context, transport: Transport, machine: Machine, rows: list[Assignment],
                     states: dict[str, StreamState], facts_only: frozenset[str] = frozenset()
                     ) -> tuple[ProbeReport, dict[str, RunFacts], list[Assignment]]:
    """Probe, feeding each chunk into its state; re-probe only the runs whose chunk was capped.
    The first round also scans for live runs the board does not know (adopted, from byte 0).
    A state's next byte is past the unfinished line it holds (`_next`), so a line longer than a
    chunk is continued, never fed twice."""
    from coordssh.services.adopt import adoptable

    pending: dict[str, int | None] = {
        row.id: None if row.id in facts_only else _next(states[row.id]) for row in rows}
    merged: dict[str, RunFacts] = {}
    adopted: list[Assignment] = []
    report = ProbeReport(now=0.0, runs={})
    cap, scan = CHUNK_CAP, True
    for _ in range(MAX_ROUNDS):
        if not pending and not scan:
            break
        report = await probe(transport, machine.run_root, dict(pending), cap=cap, scan=scan)
        scan, stalled = False, False
        for run_id, fact in report.runs.items():
            if run_id not in states:
                row = adoptable(ctx, machine, fact)
                if row is None:
                    continue
                adopted.append(row)
                states[run_id] = state_of(row)
            before = states[run_id].bytes_consumed
            states[run_id].feed(fact.data)
            merged[run_id] = fact  # the newest facts describe the run; the data is fed
            if fact.more:
                stalled |= states[run_id].bytes_consumed == before
        pending = {i: _next(states[i]) for i, f in report.runs.items()
                   if f.more and i in states and i not in facts_only}
        cap = min(cap * 2, MAX_CAP) if stalled else cap  # one line longer than the chunk
    return report, merged, adopted


def _next(state: StreamState) -> int:
    """The stream byte to read next: past the complete lines and the unfinished one held."""
    return state.bytes_consumed + state.pending_bytes


# --- rows ---------------------------------------------------------------------------------------
def _not_observed(ctx: Context, machine: Machine, rows: list[Assignment],
                  err: RemoteError) -> MachineObservation:
    """Unreachable: its live runs become `unknown`. Reached but the probe failed (a command
    that ran and failed): the machine is up and its rows stay as they are, with the error."""
    if isinstance(err, TransportError):
        return _unreachable(ctx, machine, rows, err)
    return MachineObservation(machine.name, True, machine.max_workers, error=err.message,
                              running=len(rows), assignments=tuple(rows),
                              bases={row.id: row.offset for row in rows})


def _unreachable(ctx: Context, machine: Machine, rows: list[Assignment],
                 err: TransportError) -> MachineObservation:
    now = ctx.clock()
    changes, updated = {}, []
    for row in rows:
        fields = {"status": m.UNKNOWN, "reason": f"unreachable: {err.message}",
                  "unreachable_since": row.unreachable_since or now, "updated_at": now}
        changes[row.id] = row_diff(row, fields)
        updated.append(row.evolve(**fields))
    return MachineObservation(machine.name, False, machine.max_workers, error=err.message,
                              running=len(updated), assignments=tuple(updated), changes=changes,
                              bases={row.id: row.offset for row in rows})


def _machines(ctx: Context, names: Iterable[str] | None) -> list[Machine]:
    if names is None:
        return list(ctx.config.machines.values())
    return [ctx.config.machine(name) for name in names]


def _live_by_machine(rows: list[Assignment], machines: list[Machine]) -> dict[str, list[Assignment]]:
    wanted = {mc.name for mc in machines}
    found: dict[str, list[Assignment]] = {}
    for row in rows:
        if row.live and row.machine in wanted:
            found.setdefault(row.machine, []).append(row)
    return found


def _assemble(machines: list[Machine] | None, observations: tuple[MachineObservation, ...],
              rows: list[Assignment]) -> Observation:
    """The board after the write (`rows`: read again after a write, else the rows read before
    the probe): every row, or the chosen machines' rows (rows of a machine no longer in the
    config are listed too when no machine was chosen, untouched)."""
    if machines is not None:
        wanted = {mc.name for mc in machines}
        rows = [r for r in rows if r.machine in wanted]
    return Observation(observations, tuple(rows))
