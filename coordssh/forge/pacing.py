"""How GitHubForge waits: a bounded, jittered back-off after a rate limit, and mutation pacing.

gh never retries or sleeps (contract §7), so coordssh does: back off at least `base` seconds,
doubling, with up to 50 % jitter, `retries` times; and space mutations (comments, PRs, merges)
about one second apart per gh token (one `Pacer` per gh program and host, shared by every
forge object in this process).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class Backoff:
    base: float = 60.0
    factor: float = 2.0
    cap: float = 900.0
    retries: int = 3
    jitter: float = 0.5

    def delay(self, attempt: int, rng: Callable[[], float] = random.random) -> float:
        """The wait before retry number `attempt` (0-based): base * factor**attempt, jittered."""
        plain = min(self.cap, self.base * self.factor ** attempt)
        return plain * (1.0 + self.jitter * rng())


class Pacer:
    """Hands out mutation slots at least `interval` seconds apart (no lock: no await between
    reading and booking the slot)."""

    def __init__(self, interval: float = 1.0, clock: Callable[[], float] = time.monotonic,
                 sleep: Sleep = asyncio.sleep) -> None:
        self.interval = interval
        self._clock = clock
        self._sleep = sleep
        self._next = 0.0

    async def wait(self) -> None:
        now = self._clock()
        slot = max(now, self._next)
        self._next = slot + self.interval
        if slot > now:
            await self._sleep(slot - now)


_SHARED: dict[tuple[str, str], Pacer] = {}


def shared_pacer(program: str, host: str, interval: float = 1.0) -> Pacer:
    """The process-wide pacer of one gh program talking to one host (one token)."""
    pacer = _SHARED.get((program, host))
    if pacer is None or pacer.interval != interval:
        pacer = _SHARED[(program, host)] = Pacer(interval)
    return pacer
