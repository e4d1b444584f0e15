"""Reconcile the board from the facts on the machines (every read path calls this).

One connection per machine, one probe per machine (a second only when a chunk was capped), all
machines at once; the new bytes of each live run's stream are folded into the StreamState kept
on its row (`extra["stream"]`, with `offset` = bytes folded so far), the run is classified, and
every change is written in ONE board transaction.

Rules (LESSONS 1-5): an unreachable machine leaves its live runs `unknown` (never terminal,
never idle) until it answers again; "SSH fine, process gone, no result" is `crashed`; a result
line followed by a process that lingers past `result_grace_s` (measured from the stream's mtime
on the worker's clock) gets its process group ended and keeps the result's outcome; a run past
`max_runtime_s` is ended and `failed`. A tmux run that ends has its pane captured to
`pane.log` and its session ended (remote/tmux.py: in the probe, or one exec for the rest).
The same probe lists live run dirs the board does not know (a lost or emptied board): they are
adopted from their meta.json (services/adopt.py) and reconciled like any run, so `status` shows
them and capacity counts them. Every observation therefore probes, even with no live rows.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from coordssh.domain import models as m
from coordssh.domain.models import Assignment
from coordssh.errors import CoordError, RemoteError, TransportError
from coordssh.remote.probe import CHUNK_CAP, ProbeReport, RunFacts, probe
from coordssh.remote.signals import end_group
from coordssh.remote.tmux import reap_panes, session_name
from coordssh.services.pipeline import record_adopted, record_end

if TYPE_CHECKING:  # the stream parser and the classifier are imported where a run needs them
    from coordssh.agent.outcome import Outcome
    from coordssh.agent.stream import StreamState
    from coordssh.config.schema import Machine
    from coordssh.services.context import Context
    from coordssh.transport.base import Transport

log = logging.getLogger(__name__)

START_GRACE_S = 120.0    # a run with no pid file yet is still starting for this long
MAX_ROUNDS = 8           # probe rounds per observation when chunks are capped
MAX_CAP = 256 * 1024 * 1024
STDERR_KEEP = 2000


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


async def observe_machine(ctx: Context, machine: Machine, transport: Transport) -> MachineObservation:
    """Reconcile one machine over an open transport and write its changes (for capacity checks)."""
    rows = ctx.board.list(machine=machine.name, live_only=True)
    try:
        observation = await _observe(ctx, machine, transport, rows)
    except RemoteError as err:
        observation = _not_observed(ctx, machine, rows, err)
    write_changes(ctx, (observation,))
    return observation


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
                   rows: list[Assignment]) -> MachineObservation:
    states = {row.id: _state_of(row) for row in rows}
    report, facts, adopted = await _probe_all(ctx, transport, machine, rows, states)
    bases = {row.id: row.offset for row in (*rows, *adopted)}
    rows = [*rows, *adopted]
    changes: dict[str, dict[str, Any]] = {}
    updated, panes = [], []
    for row in rows:
        fact = facts.get(row.id) or RunFacts(id=row.id, missing=True)
        outcome, ended = await _judge(ctx, transport, row, fact, states[row.id], report.now)
        fields = _row_fields(ctx, row, fact, states[row.id], outcome, report.now, ended)
        changes[row.id] = _diff(row, fields)
        updated.append(row.evolve(**fields))
        if _pane_left(row, fact, outcome):
            panes.append((row.run_dir, session_name(row.id)))
    await _reap(transport, panes)
    running = sum(1 for row in updated if row.live)
    return MachineObservation(machine.name, True, machine.max_workers, running=running,
                              assignments=tuple(updated), changes=changes, bases=bases,
                              worker_now=report.now, adopted=tuple(adopted))


async def _probe_all(ctx: Context, transport: Transport, machine: Machine, rows: list[Assignment],
                     states: dict[str, StreamState]
                     ) -> tuple[ProbeReport, dict[str, RunFacts], list[Assignment]]:
    """Probe, feeding each chunk into its state; re-probe only the runs whose chunk was capped.
    The first round also scans for live runs the board does not know (adopted, from byte 0)."""
    from coordssh.services.adopt import adoptable

    pending = {row.id: states[row.id].bytes_consumed for row in rows}
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
                states[run_id] = _state_of(row)
            before = states[run_id].bytes_consumed
            states[run_id].feed(fact.data)
            merged[run_id] = fact  # the newest facts describe the run; the data is fed
            if fact.more:
                stalled |= states[run_id].bytes_consumed == before
        pending = {i: states[i].bytes_consumed for i, f in report.runs.items()
                   if f.more and i in states}
        cap = min(cap * 2, MAX_CAP) if stalled else cap  # one line longer than the chunk
    return report, merged, adopted


async def _judge(ctx: Context, transport: Transport, row: Assignment, fact: RunFacts,
                 state: StreamState, now: float) -> tuple[Outcome, bool]:
    """The run's outcome; True when we ended its process group to get there."""
    from coordssh.agent.outcome import Outcome, Push, classify

    runs = ctx.config.runs
    if fact.missing or (fact.pid is None and not fact.finished):
        return _not_started(ctx, row, fact), False
    ended = False
    if fact.alive and not fact.finished:
        lingering = (state.has_result and fact.mtime is not None
                     and now - fact.mtime > runs.result_grace_s)
        overdue = fact.started_at is not None and now - fact.started_at > runs.max_runtime_s
        if not (lingering or overdue):
            return _running(state, fact), False
        await end_group(transport, row.run_dir, grace=runs.stop_grace_s)
        if overdue and not state.has_result:
            return Outcome(m.FAILED, f"exceeded max runtime ({runs.max_runtime_s:g}s)"), True
        ended = True
    elif fact.group_alive:  # the wrapper is gone but children linger (an MCP server, ...)
        await end_group(transport, row.run_dir, grace=runs.stop_grace_s)
    state.finish()
    if row.role == "test":  # a plain process: its exit code is the verdict (remote/test_run.py)
        from coordssh.remote.test_run import outcome_of

        return outcome_of(exit_code=_exit_code(fact), cancelled=fact.cancelled is not None,
                          timed_out=fact.timed_out), ended
    push = Push(fact.pushed_sha or "", fact.push_failed is not None,
                fact.push_log.decode("utf-8", "replace"))
    return classify(state, exit_code=_exit_code(fact), stderr_tail=_stderr(fact), alive=False,
                    cancelled=fact.cancelled is not None, timed_out=fact.timed_out, now=now,
                    auth_failed=fact.auth_failed is not None, push=push, row=row), ended


def _pane_left(row: Assignment, fact: RunFacts, outcome: Outcome) -> bool:
    """A tmux run that ended without the probe reaping its pane (no finished_at: killed, or
    it never started). Its groups are gone by now (_judge), so ending the session cuts nothing."""
    return (row.launcher == "tmux" and outcome.status in m.TERMINAL_STATUSES
            and not fact.pane_reaped)


async def _reap(transport: Transport, panes: list[tuple[str, str]]) -> None:
    """One exec for every such run of the machine; a failure only leaves a dead pane behind."""
    try:
        await reap_panes(transport, panes)
    except CoordError as err:
        log.warning("on %s: could not end finished tmux sessions: %s", transport.name, err)


def _not_started(ctx: Context, row: Assignment, fact: RunFacts) -> Outcome:
    from coordssh.agent.outcome import Outcome

    young = (ctx.clock() - (row.created_at or 0)) < START_GRACE_S
    if young and row.status in (m.STARTING, m.UNKNOWN):
        return Outcome(m.STARTING, "launching")
    what = "its run directory is gone" if fact.missing else "it never wrote its pid"
    return Outcome(m.CRASHED, f"the run did not start: {what}")


def _running(state: StreamState, fact: RunFacts) -> Outcome:
    from coordssh.agent.outcome import Outcome

    if fact.cancelled is not None:
        return Outcome(m.RUNNING, "stop requested; the process still runs")
    if state.has_result:
        return Outcome(m.RUNNING, "result written; finishing")
    return Outcome(m.RUNNING, state.last_status)


def _exit_code(fact: RunFacts) -> int | None:
    return fact.claude_exit if fact.claude_exit is not None else fact.exit_code


def _stderr(fact: RunFacts) -> str:
    return fact.stderr_tail.decode("utf-8", "replace")


# --- rows ---------------------------------------------------------------------------------------
def _state_of(row: Assignment) -> StreamState:
    from coordssh.agent.stream import StreamState

    saved = row.extra.get("stream") if isinstance(row.extra, dict) else None
    state = StreamState.from_dict(saved) if saved else StreamState()
    state.bytes_consumed = row.offset
    return state


def _row_fields(ctx: Context, row: Assignment, fact: RunFacts, state: StreamState,
                outcome: Outcome, now: float, ended: bool) -> dict[str, Any]:
    terminal = outcome.status in m.TERMINAL_STATUSES
    started = fact.started_at if fact.started_at is not None else row.started_at
    finished = (fact.finished_at or now or ctx.clock()) if terminal else None
    extra = {**row.extra, "stream": state.to_dict()}
    if terminal and fact.stderr_tail:
        extra["stderr_tail"] = _stderr(fact)[-STDERR_KEEP:]
    if ended:
        extra["ended_by_coordssh"] = True
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
        changes[row.id] = _diff(row, fields)
        updated.append(row.evolve(**fields))
    return MachineObservation(machine.name, False, machine.max_workers, error=err.message,
                              running=len(updated), assignments=tuple(updated), changes=changes,
                              bases={row.id: row.offset for row in rows})


def _diff(row: Assignment, fields: dict[str, Any]) -> dict[str, Any]:
    changed = {k: v for k, v in fields.items() if k != "updated_at" and getattr(row, k) != v}
    return {**changed, "updated_at": fields.get("updated_at", 0.0)} if changed else {}


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
