"""One machine of the live view: its one connection, the runs it follows, its latest facts.

A `Link` opens ONE connection (keepalives on) and keeps it until the view closes or the
machine drops. On it, per refresh, one probe exec (`observe_held`: runs followed here are
probed for facts only) and, every `STATS_EVERY` refreshes, one exec for load and free disk.
The newest live runs (at most `FOLLOW_MAX`) are followed through streaming `tail -F` channels
whose lines are fed into the run's fold as they arrive. sshd allows 10 channels per connection
(MaxSessions): 7 follows, the probe, the stats exec, and the one `kill` that ends a follow. A
run beyond that is read by the probe each refresh.

A follow ends when its run's wrapper exits (`tail --pid`); the refresh that follows reads the
rest through the probe and judges the run. A probe that finds a followed run ended keeps that
verdict back, stops the follow (its fold then ends on a complete line) and probes again with
the bytes, so a run is never judged on a fold the channel had not finished.

A `TransportError` from the probe or a follow drops the connection: the follows end, the
machine's live runs become `unknown` (as `status` says), and a reconnect loop tries again with
back-off, never holding up another machine.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import TYPE_CHECKING, Protocol

from coordssh.domain import models as m
from coordssh.domain.models import Assignment
from coordssh.errors import RemoteError, TransportError
from coordssh.remote.follow import LogFollower
from coordssh.remote.host_stats import HostStats, host_stats
from coordssh.services.observe import (MachineObservation, observation_failed, observe_held)

if TYPE_CHECKING:
    from coordssh.agent.stream import StreamState
    from coordssh.config.schema import Machine
    from coordssh.services.context import Context
    from coordssh.transport.base import Transport

FOLLOW_MAX = 7           # streaming channels per connection (sshd MaxSessions 10, see above)
STATS_EVERY = 5          # refreshes between two load/disk execs
BACKOFF_START_S = 0.5
BACKOFF_MAX_S = 30.0
REFOLLOW_AFTER_S = 10.0  # a follow that ended while its run still goes: wait before the next
CLOSE_TIMEOUT_S = 10.0


class Hub(Protocol):
    ctx: Context

    def rows_for(self, machine: str) -> list[Assignment]: ...
    def record(self, link: Link, observation: MachineObservation) -> None: ...
    def changed(self) -> None: ...
    def spawn(self, coro) -> asyncio.Task: ...


class Link:
    def __init__(self, hub: Hub, machine: Machine) -> None:
        self.hub, self.machine = hub, machine
        self.transport: Transport | None = None
        self.error = ""
        self.down_since: float | None = None
        self.seen_at: float | None = None          # the last good observation (epoch s)
        self.observation: MachineObservation | None = None
        self.stats = HostStats()
        self.states: dict[str, StreamState] = {}   # folds held here, by run id
        self.follows: dict[str, asyncio.Task] = {}
        self.follow_ended: dict[str, float] = {}   # run id -> loop time its follow ended
        self.refreshes = self.connects = 0
        self._refreshing: asyncio.Task | None = None
        self._connecting: asyncio.Task | None = None

    @property
    def name(self) -> str:
        return self.machine.name

    @property
    def streams(self) -> int:
        return sum(1 for task in self.follows.values() if not task.done())

    def streaming(self, run_id: str) -> bool:
        task = self.follows.get(run_id)
        return task is not None and not task.done()

    # --- connecting -------------------------------------------------------------------------
    def start(self) -> None:
        if self._connecting is None or self._connecting.done():
            self._connecting = self.hub.spawn(self._connect_loop())

    async def _connect_loop(self) -> None:
        backoff = BACKOFF_START_S
        budget = self.machine.connect_timeout * 2 + 5
        while True:
            try:
                transport = await asyncio.wait_for(
                    self.hub.ctx.connector.connect(self.machine, keepalive=True), budget)
            except (RemoteError, TimeoutError) as err:
                self._down(err if isinstance(err, RemoteError) else TransportError(
                    f"connecting to {self.name} took longer than {budget:g}s",
                    machine=self.name))
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX_S)
                continue
            self.transport, self.connects = transport, self.connects + 1
            self.error, self.down_since = "", None
            self.hub.changed()
            self.kick()
            return

    def _down(self, err: RemoteError) -> None:
        """Unreachable: say so once per outage (its live runs become `unknown`)."""
        first = self.down_since is None
        self.error = err.message
        if first:
            self.down_since = self.hub.ctx.clock()
            self.observation = observation_failed(self.hub.ctx, self.machine,
                                                  self.hub.rows_for(self.name), err)
            self.hub.record(self, self.observation)
        self.hub.changed()

    async def drop(self, err: TransportError) -> None:
        """The connection broke: end the follows, close it, reconnect in the background."""
        transport, self.transport = self.transport, None
        if transport is None:
            return
        await self._stop_follows(list(self.follows))
        try:
            await transport.close()
        except (RemoteError, OSError):
            pass
        self._down(err)
        self.start()

    # --- refreshing -------------------------------------------------------------------------
    def kick(self) -> None:
        """Refresh now unless a refresh is under way or the machine is not connected."""
        if self.transport is not None and (self._refreshing is None or self._refreshing.done()):
            self._refreshing = self.hub.spawn(self._refresh())

    async def _refresh(self) -> None:
        transport = self.transport
        try:
            observation = await self._observe(transport)
            if observation is None:
                return
            if self.refreshes % STATS_EVERY == 1:
                self.stats = await host_stats(transport, self.machine.run_root)
        except TransportError as err:
            if self.transport is transport:
                await self.drop(err)
            return
        except RemoteError as err:   # reached, a command failed: the machine stays up
            self.error = err.message
            self.hub.changed()
            return
        self.error, self.seen_at = "", self.hub.ctx.clock()
        self.observation = observation
        self.hub.record(self, observation)
        await self._sync_follows(observation)

    async def _observe(self, transport: Transport) -> MachineObservation | None:
        rows = self.hub.rows_for(self.name)
        ids = {row.id for row in rows}
        for _ in range(2):   # a second round only when a followed run turned out to have ended
            states = {rid: st for rid, st in self.states.items() if rid in ids}
            followed = {rid for rid in ids if self.streaming(rid)}
            observation = await observe_held(self.hub.ctx, self.machine, transport, rows, states,
                                             facts_only=followed)
            self.refreshes += 1
            self.states = {rid: st for rid, st in states.items() if rid in ids}
            ended = {a.id for a in observation.assignments if a.terminal and a.id in followed}
            if not ended:
                return observation
            await self._stop_follows(ended)   # their folds now end on a complete line
        return _held_back(observation, ended, rows)

    # --- following --------------------------------------------------------------------------
    async def _sync_follows(self, observation: MachineObservation) -> None:
        loop = asyncio.get_running_loop()
        going = [a for a in observation.assignments
                 if a.status in (m.RUNNING, m.STARTING) and a.run_dir and a.id in self.states]
        going.sort(key=lambda a: a.created_at or 0.0, reverse=True)
        wanted = {a.id: a for a in going[:FOLLOW_MAX]}
        unwanted = [rid for rid in self.follows if rid not in wanted]
        await self._stop_follows(unwanted)
        started = 0
        for run_id, row in wanted.items():
            if self.streaming(run_id) or self.transport is None:
                continue
            if loop.time() - self.follow_ended.get(run_id, -REFOLLOW_AFTER_S) < REFOLLOW_AFTER_S:
                continue
            self.follows[run_id] = self.hub.spawn(self._follow(row, self.states[run_id]))
            started += 1
        if unwanted or started:   # otherwise nothing here is new: no snapshot for it
            self.hub.changed()

    async def _follow(self, row: Assignment, state: StreamState) -> None:
        transport = self.transport
        follower = LogFollower(row.run_dir, state.bytes_consumed + state.pending_bytes)
        try:
            async for line in follower.lines(transport):
                state.feed(line)
                self.hub.changed()
        except TransportError as err:
            if self.transport is transport:
                self.hub.spawn(self.drop(err))
            return
        self.follow_ended[row.id] = asyncio.get_running_loop().time()
        self.kick()   # the run's wrapper exited (or its tail did): judge it now

    async def _stop_follows(self, run_ids) -> None:
        """One at a time: each stop opens a channel for its `kill` (MaxSessions)."""
        for run_id in list(run_ids):
            task = self.follows.pop(run_id, None)
            if task is None or task.done():
                continue
            task.cancel()
            await asyncio.wait({task}, timeout=CLOSE_TIMEOUT_S)

    async def close(self) -> None:
        for task in (self._connecting, self._refreshing):
            if task is not None and not task.done():
                task.cancel()
                await asyncio.wait({task}, timeout=CLOSE_TIMEOUT_S)
        await self._stop_follows(list(self.follows))
        transport, self.transport = self.transport, None
        if transport is not None:
            try:
                await transport.close()
            except (RemoteError, OSError):
                pass


def _held_back(observation: MachineObservation, ended: set[str],
               rows: list[Assignment]) -> MachineObservation:
    """`observation` without its verdict on `ended` runs (they are judged next refresh)."""
    before = {row.id: row for row in rows}
    return dataclasses.replace(
        observation, changes={k: v for k, v in observation.changes.items() if k not in ended},
        assignments=tuple(before.get(a.id, a) if a.id in ended else a
                          for a in observation.assignments))
