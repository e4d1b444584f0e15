"""The live fleet view: one connection per machine for the view's whole life, snapshots out.

    async with LiveView(ctx, refresh=2.0) as view:
        snapshot = view.snapshot
        while True:
            snapshot = await view.next_snapshot(snapshot)   # the next one that differs

Each machine is a `Link` (services/live_link.py): its one connection, a probe per refresh on
it, its running runs followed through streaming channels, and a reconnect loop of its own when
it drops. The view itself runs one tick per `refresh` seconds: write what the machines'
observations changed in ONE board transaction (`observe.write_changes`, exactly what `status`
writes: the folded run state; and the work item's side when a run ends), read the board again
only if board.json changed (`live_board.BoardCache`), and kick each connected machine whose
previous refresh is done. A slow or dead machine never holds up a tick.

Snapshots (`live_model.Snapshot`, immutable) are rebuilt when something changed: a streamed
line, an observation, a connection coming or going, a tick; at most one per `PUBLISH_GAP_S`,
so a burst of lines costs one snapshot. The view never prints, never acts on a run (chores are
`housekeeping`'s), and writes nothing but what `status` writes.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterable
from typing import TYPE_CHECKING

from coordssh.domain.models import Assignment
from coordssh.errors import CoordError
from coordssh.services.live_board import BoardCache, parking_of
from coordssh.services.live_link import Link
from coordssh.services.live_model import (MachineView, Snapshot, event_view, queue_entries,
                                          run_view, work_views)
from coordssh.services.observe import MachineObservation, write_changes
from coordssh.services.pipeline import policy_from_config

if TYPE_CHECKING:
    from coordssh.services.context import Context

DEFAULT_REFRESH_S = 2.0
MIN_REFRESH_S = 0.2
PUBLISH_GAP_S = 0.05
FINISHED_SHOWN = 5         # finished runs listed after the live ones
STALE_AFTER = 3            # refreshes without a good observation before a machine is stale


class LiveView:
    def __init__(self, ctx: Context, machines: Iterable[str] | None = None, *,
                 refresh: float = DEFAULT_REFRESH_S) -> None:
        self.ctx = ctx
        self.refresh = max(float(refresh), MIN_REFRESH_S)
        chosen = (list(ctx.config.machines.values()) if machines is None
                  else [ctx.config.machine(name) for name in machines])
        self.links = [Link(self, machine) for machine in chosen]
        # the ticks' thread reads and writes through Board objects of its own
        self.board = BoardCache(type(ctx.board)(ctx.board.state_dir))
        self._writer = dataclasses.replace(ctx, board=type(ctx.board)(ctx.board.state_dir))
        self.policy = policy_from_config(ctx.config)
        self.snapshot = Snapshot(at=ctx.clock(), refresh_s=self.refresh)
        self.notice = ""                       # the last write or task failure, shown
        self._pending: dict[str, MachineObservation] = {}
        self._tasks: set[asyncio.Task] = set()
        self._dirty = asyncio.Event()
        self._published = asyncio.Event()
        self._syncing: asyncio.Future | None = None
        self._closed = False

    async def __aenter__(self) -> LiveView:
        self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- life -------------------------------------------------------------------------------
    def start(self) -> None:
        self.board.refresh()
        self._publish()
        for link in self.links:
            link.start()
        self.spawn(self._ticks())
        self.spawn(self._publisher())

    async def close(self) -> None:
        """End every follow, close every connection; idempotent."""
        if self._closed:
            return
        self._closed = True
        await asyncio.gather(*(link.close() for link in self.links), return_exceptions=True)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._syncing is not None:   # a board write under way finishes first
            await asyncio.wait({self._syncing})
        self._write_pending()

    async def next_snapshot(self, seen: Snapshot | None = None) -> Snapshot:
        """The current snapshot once it is not `seen`."""
        while self.snapshot is seen:
            self._published.clear()
            await self._published.wait()
        return self.snapshot

    # --- the hub the links use ----------------------------------------------------------------
    def rows_for(self, machine: str) -> list[Assignment]:
        return self.board.view.live_rows(machine)

    def record(self, link: Link, observation: MachineObservation) -> None:
        """An observation to write; a new snapshot only when it changed something (a steady
        fleet then costs one snapshot per tick, not one per machine per refresh)."""
        self._pending[link.name] = observation   # the newest observation of a machine wins
        if any(observation.changes.values()) or observation.adopted or observation.error:
            self.changed()

    def changed(self) -> None:
        self._dirty.set()

    def spawn(self, coro) -> asyncio.Task:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._reaped)
        return task

    def _reaped(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            error = task.exception()
            self.notice = f"internal error in the live view: {error!r}"
            self.changed()

    # --- ticks and snapshots --------------------------------------------------------------------
    async def _ticks(self) -> None:
        while True:
            await asyncio.sleep(self.refresh)
            pending, self._pending = list(self._pending.values()), {}
            # in a thread: the write's fsync and the lock wait never stall a streamed line
            self._syncing = asyncio.ensure_future(asyncio.to_thread(self._sync_board, pending))
            self.notice = await asyncio.shield(self._syncing) or self.notice
            # all at once: their replies are read in few loop passes (spreading the kicks over
            # the interval cost twice the CPU over the 50-host bench fleet)
            for link in self.links:
                link.kick()
            self.changed()   # ages, stale machines

    def _sync_board(self, pending: list[MachineObservation]) -> str:
        """Write `pending` (one transaction), then read the board if it changed. Runs in a
        thread with Board objects of its own (a Board is not shared across threads); the loop
        only swaps in the new, immutable view."""
        try:
            if pending:
                write_changes(self._writer, pending)
        except CoordError as err:   # the board locked too long: the next tick writes again
            return err.message
        finally:
            self.board.refresh()
        return ""

    def _write_pending(self) -> None:
        pending, self._pending = list(self._pending.values()), {}
        self.notice = self._sync_board(pending) or self.notice

    async def _publisher(self) -> None:
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            self._publish()
            await asyncio.sleep(PUBLISH_GAP_S)

    def _publish(self) -> None:
        self.snapshot = self.build()
        self._published.set()

    def build(self) -> Snapshot:
        now = self.ctx.clock()
        view = self.board.view
        work, final = work_views(view.work, self.policy, now, view.rows)
        return Snapshot(
            at=now, refresh_s=self.refresh, machines=tuple(self._machine(link, now)
                                                         for link in self.links),
            runs=self._runs(), work=work, queue=queue_entries(view.work, view.holds),
            events=tuple(event_view(doc) for doc in view.events), final_items=final,
            notice=self.notice or view.error)

    def _machine(self, link: Link, now: float) -> MachineView:
        until, reason = parking_of(self.board.view, link.name, now)
        reachable = link.transport is not None and link.down_since is None
        seen = link.seen_at
        late = seen is not None and now - seen > STALE_AFTER * self.refresh
        observation = link.observation
        running = (observation.running if observation is not None
                   else len(self.rows_for(link.name)))
        return MachineView(
            link.name, reachable, link.machine.max_workers, running=running, error=link.error,
            load=link.stats.load, free_bytes=link.stats.free_bytes, parked_until=until,
            parked_reason=reason, stale_since=seen if (not reachable or late) else None,
            streams=link.streams)

    def _runs(self) -> tuple:
        shown, seen = [], set()
        for link in self.links:
            observed = {a.id: a for a in (link.observation.assignments
                                          if link.observation is not None else ())}
            for row in self.rows_for(link.name):
                row = observed.get(row.id, row)
                shown.append(run_view(row, link.states.get(row.id), link.streaming(row.id)))
                seen.add(row.id)
        finished = [row for row in self.board.view.rows if row.terminal and row.id not in seen]
        finished.sort(key=lambda row: row.finished_at or row.updated_at or 0.0)
        shown += [run_view(row, None) for row in finished[-FINISHED_SHOWN:][::-1]]
        return tuple(shown)
