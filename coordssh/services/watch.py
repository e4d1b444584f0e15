"""Follow one run to its end: events as they are written, then the reconciled outcome.

Over ONE connection (keepalives on): one streaming `tail -c +OFFSET -F` channel for the log,
and a facts-only probe every few seconds on the same connection to notice the end (a run can die
without writing a result). Once the run looks finished, the tail is stopped, the rest of the log
is read from the byte offset, and `observe_machine` reconciles and classifies it on the board.

A dropped connection is retried until the deadline; the follower resumes from its byte offset,
so no event is lost and none is shown twice. `wait` is the same loop with no callbacks. While
the machine cannot be reached, `on_notice` is told (each retry, and when it answers again), and
a deadline that falls then is `Unreachable` naming the machine and since when (exit 3).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from coordssh.agent.events import Event
from coordssh.agent.stream import StreamState
from coordssh.config.schema import Machine
from coordssh.domain import models as m
from coordssh.domain.models import Assignment
from coordssh.errors import CoordError, RunFailed, TransportError, Unreachable, WaitTimeout
from coordssh.remote.follow import LogFollower, read_from
from coordssh.remote.probe import RunFacts, probe
from coordssh.services.context import Context
from coordssh.services.judge import START_GRACE_S
from coordssh.services.observe import observe_machine
from coordssh.transport.base import Transport

POLL_S = 2.0             # facts-only probe while the run is going
RESULT_POLL_S = 0.5      # once the result line is in: waiting for the wrapper to finish
RECONNECT_MAX_S = 10.0   # back-off ceiling between reconnect attempts

LineFn = Callable[[bytes], None]
EventFn = Callable[[Event], None]
NoticeFn = Callable[[str], None]      # one line about the follow itself (the CLI: stderr)


@dataclass
class Watch:
    """One follow of one run. `on_line` gets raw complete lines, `on_event` parsed events."""

    ctx: Context
    row: Assignment
    on_line: LineFn | None = None
    on_event: EventFn | None = None
    from_offset: int = 0
    deadline: float | None = None       # loop time
    reconnects: int = 0
    on_notice: NoticeFn | None = None

    def __post_init__(self) -> None:
        self.follower = LogFollower(self.row.run_dir, self.from_offset)
        self.state = StreamState(self.from_offset)
        self.machine: Machine = self.ctx.config.machine(self.row.machine)
        self.down_since: float | None = None    # the machine did not answer since (epoch s)
        self.down_error = ""

    # --- the loop ---------------------------------------------------------------------------
    async def run(self) -> Assignment:
        if self.row.terminal:
            return await self._replay_finished() if self._wants_lines else self.row
        backoff = 0.5
        while True:
            self._check_deadline()
            try:
                transport = await self._connect()
            except TransportError as err:
                self._down(err, f"retrying in {backoff:g}s")
                await self._sleep(backoff)
                backoff = min(backoff * 2, RECONNECT_MAX_S)
                continue
            try:
                final = await self._follow(transport)
            except TransportError as err:
                self._notice(f"connection to {self.machine.name} lost ({err.message}); "
                             "reconnecting")
                final = None
            finally:
                await transport.close()
            if final is not None:
                return final
            self.reconnects += 1
            backoff = 0.5
            await self._sleep(backoff)

    async def _connect(self) -> Transport:
        transport = await self._within_deadline(
            self.ctx.connector.connect(self.machine, keepalive=True))
        if self.down_since is not None:
            self._notice(f"{self.machine.name} answers again; following run {self.row.id} from "
                         f"byte {self.follower.offset}")
            self.down_since, self.down_error = None, ""
        return transport

    def _down(self, err: CoordError, then: str) -> None:
        """Say it in full once (and when the error changes), then only that it goes on."""
        if self.down_since is None:
            self.down_since = self.row.unreachable_since or self.ctx.clock()
        if err.message == self.down_error:
            self._notice(f"{self.machine.name} still unreachable; {then}")
            return
        self.down_error = err.message
        self._notice(f"{self.machine.name} unreachable since {_when(self.down_since)} "
                     f"({err.message}); {then}")

    def _notice(self, text: str) -> None:
        if self.on_notice is not None:
            self.on_notice(text)

    async def _follow(self, transport: Transport) -> Assignment | None:
        """Follow until the run ends (the reconciled row) or the connection drops (None)."""
        reader = asyncio.create_task(self._read(transport))
        monitor = asyncio.create_task(self._monitor(transport))
        try:
            done, _ = await asyncio.wait({reader, monitor}, timeout=self._left(),
                                         return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (reader, monitor):
                task.cancel()
            await asyncio.gather(reader, monitor, return_exceptions=True)
        if not done:
            raise self._timeout()
        for task in done:
            error = task.exception()
            if error is not None and not isinstance(error, TransportError):
                raise error
        if monitor in done:
            if monitor.exception() is not None:
                return None  # the connection broke: reconnect
        elif reader.exception() is not None or not self._finished(await self._facts(transport)):
            return None  # the connection broke, or the tail was cut off while the run goes on
        await self._drain(transport)
        await observe_machine(self.ctx, self.machine, transport)
        row = self.ctx.board.get(self.row.id) or self.row
        return row if row.terminal else None

    async def _read(self, transport: Transport) -> None:
        async for line in self.follower.lines(transport):
            self._emit(line)

    async def _monitor(self, transport: Transport) -> None:
        """Return when the run looks finished; the caller then reconciles it."""
        loop = asyncio.get_running_loop()
        result_seen_at: float | None = None
        bound = self._result_bound()
        while True:
            facts = await self._facts(transport)
            if self.state.has_result and result_seen_at is None:
                result_seen_at = loop.time()
            if self._finished(facts) or (
                    result_seen_at is not None and loop.time() - result_seen_at > bound):
                return
            await asyncio.sleep(RESULT_POLL_S if self.state.has_result else POLL_S)

    async def _facts(self, transport: Transport) -> RunFacts:
        report = await probe(transport, self.machine.run_root, {self.row.id: None})
        return report.runs.get(self.row.id) or RunFacts(id=self.row.id, missing=True)

    def _finished(self, facts: RunFacts) -> bool:
        if facts.finished or (facts.pid is not None and not facts.alive):
            return True
        starting_too_long = self.ctx.clock() - (self.row.created_at or 0) > START_GRACE_S
        return (facts.missing or facts.pid is None) and starting_too_long

    def _result_bound(self) -> float:
        runs = self.ctx.config.runs
        return runs.result_grace_s + 2 * runs.stop_grace_s + 15

    # --- lines and events -------------------------------------------------------------------
    @property
    def _wants_lines(self) -> bool:
        return self.on_line is not None or self.on_event is not None

    async def _drain(self, transport: Transport) -> None:
        """The bytes written after the tail stopped: complete lines only, then the cut-off tail."""
        data = await read_from(transport, self.follower.path, self.follower.offset)
        end = data.rfind(b"\n") + 1
        for line in data[:end].splitlines(keepends=True):
            self.follower.offset += len(line)
            self._emit(line)
        if end < len(data):
            self.state.feed(data[end:])
            self._events(self.state.finish())

    def _emit(self, line: bytes) -> None:
        if self.on_line is not None:
            self.on_line(line)
        self._events(self.state.feed(line))

    def _events(self, events: list[Event]) -> None:
        if self.on_event is not None:
            for event in events:
                self.on_event(event)

    async def _replay_finished(self) -> Assignment:
        transport = await self.ctx.connector.connect(self.machine)
        async with transport:
            await self._drain(transport)
        return self.row

    # --- time ---------------------------------------------------------------------------------
    def _left(self) -> float | None:
        if self.deadline is None:
            return None
        return max(0.0, self.deadline - asyncio.get_running_loop().time())

    def _check_deadline(self) -> None:
        if self._left() == 0.0:
            raise self._timeout()

    def _timeout(self) -> CoordError:
        if self.down_since is not None:
            return Unreachable(
                f"run {self.row.id}: machine {self.machine.name} unreachable since "
                f"{_when(self.down_since)} ({self.down_error}); its outcome is not known",
                hint=f"check the machine and the network (`coordssh doctor`); a run there goes "
                     f"on, and `coordssh watch {self.row.id}` follows it once it answers",
                machine=self.machine.name)
        return WaitTimeout(
            f"run {self.row.id} on {self.row.machine} did not end within the timeout",
            hint=f"it goes on running; `coordssh watch {self.row.id}` follows it again")

    async def _within_deadline(self, awaitable):
        left = self._left()
        if left is None:
            return await awaitable
        try:
            return await asyncio.wait_for(awaitable, left)
        except TimeoutError:
            if self.down_since is None:   # the deadline fell while connecting: no answer yet
                self.down_since = self.row.unreachable_since or self.ctx.clock()
                self.down_error = "no answer before the timeout"
            raise self._timeout() from None

    async def _sleep(self, seconds: float) -> None:
        left = self._left()
        await asyncio.sleep(seconds if left is None else min(seconds, left))


def _when(epoch: float) -> str:
    import time

    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(epoch))


# --- entry points -------------------------------------------------------------------------------
async def watch_run(ctx: Context, id_or_prefix: str, *, on_line: LineFn | None = None,
                    on_event: EventFn | None = None, from_offset: int = 0,
                    timeout: float | None = None,
                    on_notice: NoticeFn | None = None) -> Assignment:
    """Follow the run until it is terminal; the reconciled row. NotFound, WaitTimeout,
    Unreachable (the deadline fell while the machine did not answer)."""
    row = ctx.board.find(id_or_prefix)
    deadline = None if timeout is None else asyncio.get_running_loop().time() + timeout
    watch = Watch(ctx, row, on_line=on_line, on_event=on_event, from_offset=from_offset,
                  deadline=deadline, on_notice=on_notice)
    return await watch.run()


async def wait_run(ctx: Context, id_or_prefix: str, *, timeout: float | None = None,
                   on_notice: NoticeFn | None = None) -> Assignment:
    """`coordssh wait`: the row once terminal; RunFailed unless it is `done`."""
    return check_done(await watch_run(ctx, id_or_prefix, timeout=timeout, on_notice=on_notice))


def check_done(row: Assignment) -> Assignment:
    if row.status != m.DONE:
        raise RunFailed(f"run {row.id} ended {row.status}: {row.reason}".rstrip(": "),
                        hint=f"`coordssh log {row.id}` shows its whole stream")
    return row
