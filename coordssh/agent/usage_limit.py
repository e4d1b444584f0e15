"""Recognising a plan usage limit and working out when it resets.

The wording has changed over the CLI's life (contracts/claude-headless.md section 3.2), so the
text match is loose and the structured signals win: `rate_limit_event.resetsAt` first, then the
`|<epoch>` suffix of the 2025 texts, then a clock time such as "resets 2pm (UTC)",
"resets 3:45pm", "resets Mon 12:00am" or "will reset at 10am (America/Lima)". A time without a
zone is read as UTC (the worker's zone is unknown). Only result text, synthetic-error text and
stderr are given to these functions: an agent may *talk* about limits in ordinary text.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_LIMIT = re.compile(r"usage limit|limit reached|hit your .*limit|out of .*usage", re.IGNORECASE)
_EPOCH = re.compile(r"\|(\d{9,})")
_CLOCK = re.compile(
    r"resets?(?:\s+at)?\s+(?:(mon|tue|wed|thu|fri|sat|sun)[a-z]*\.?\s+)?"
    r"(\d{1,2})(?::(\d{2}))?\s*(am|pm)?(?:\s*\(([^)]+)\))?",
    re.IGNORECASE)
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def is_usage_limit_text(text: str) -> bool:
    return bool(text) and _LIMIT.search(text) is not None


def reset_time(resets_at: float | None, texts: Iterable[str],
               now: float | None = None) -> float | None:
    """Epoch seconds of the reset, from the structured value or the first text that names one."""
    if resets_at is not None:
        return float(resets_at)
    texts = [t for t in texts if t]
    for text in texts:
        found = _EPOCH.search(text)
        if found:
            return float(found.group(1))
    for text in texts:
        when = parse_reset_clock(text, time.time() if now is None else now)
        if when is not None:
            return when
    return None


def parse_reset_clock(text: str, now: float) -> float | None:
    """The next moment after `now` matching "resets [Day] H[:MM][am|pm] [(Zone)]" in `text`."""
    for found in _CLOCK.finditer(text):
        day, hour, minute, ampm, zone = found.groups()
        if ampm is None and minute is None:
            continue  # "resets 5" is not a time
        clock = _to_24h(int(hour), int(minute or 0), ampm)
        if clock is not None:
            return _next_occurrence(clock, day, _zone(zone), now)
    return None


def _to_24h(hour: int, minute: int, ampm: str | None) -> tuple[int, int] | None:
    if minute > 59:
        return None
    if ampm:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if ampm.lower() == "pm" else 0)
    return (hour, minute) if hour <= 23 else None


def _zone(name: str | None) -> timezone | ZoneInfo:
    if not name or name.strip().upper() in ("UTC", "GMT", "Z"):
        return timezone.utc
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError):
        return timezone.utc


def _next_occurrence(clock: tuple[int, int], day: str | None, zone, now: float) -> float:
    local_now = datetime.fromtimestamp(now, zone)
    candidate = local_now.replace(hour=clock[0], minute=clock[1], second=0, microsecond=0)
    if day:
        ahead = (_WEEKDAYS.index(day[:3].lower()) - candidate.weekday()) % 7
        candidate += timedelta(days=ahead)
        step = timedelta(days=7)
    else:
        step = timedelta(days=1)
    while candidate <= local_now:
        candidate += step
    return candidate.timestamp()
