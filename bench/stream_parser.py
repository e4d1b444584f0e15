"""How fast StreamState folds stream-json: typical events per second, and one huge line.

Run: python bench/stream_parser.py   (the target is at least 100,000 typical events/s).
Times are CPU seconds of this process (process_time), so a busy machine skews them less; compare
the fold with the "decoder only" line, measured in the same run. On the shared 2-core CI box under
load (dict.get at 0.5 us, about 20x a desktop) the fold did 60-80k events/s with the decoder at
100-250k lines/s; we expect an unloaded machine to clear 100k events/s (not measured here).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from coordssh.agent import stream_lines
from coordssh.agent.stream import StreamState

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "stream-json"


def typical_stream(copies: int) -> bytes:
    """The success and api_error fixtures minus their results, repeated, plus one result."""
    lines = []
    for name in ("success.jsonl", "api_error.jsonl"):
        lines += [ln for ln in (FIXTURES / name).read_bytes().splitlines(keepends=True)
                  if not ln.startswith(b'{"type":"result"')]
    return b"".join(lines) * copies


def bench_decoder_only(copies: int = 2000) -> None:
    """The JSON decoder alone on the same lines: the ceiling, to read the fold's overhead against
    (a shared or busy machine slows both alike)."""
    lines = typical_stream(copies).splitlines()
    start = time.process_time()
    for line in lines:
        stream_lines._loads(line)
    elapsed = time.process_time() - start
    print(f"decoder only ({stream_lines._loads.__module__}): {len(lines) / elapsed:,.0f} lines/s")


def bench_typical(copies: int = 2000, chunk: int = 65536) -> None:
    data = typical_stream(copies)
    state = StreamState()
    start = time.process_time()
    for i in range(0, len(data), chunk):
        state.feed(data[i:i + chunk])
    elapsed = time.process_time() - start
    print(f"typical: {state.events:,} events, {len(data) / 1e6:.1f} MB in {elapsed:.2f} s: "
          f"{state.events / elapsed:,.0f} events/s, {len(data) / 1e6 / elapsed:.0f} MB/s")


def bench_huge_line(size: int = 50_000_000, chunk: int = 65536) -> None:
    line = {"type": "user", "message": {"content": [
        {"type": "tool_result", "tool_use_id": "t", "content": "y" * size}]}}
    data = (json.dumps(line) + "\n").encode()
    state = StreamState()
    start = time.process_time()
    for i in range(0, len(data), chunk):
        state.feed(data[i:i + chunk])
    elapsed = time.process_time() - start
    print(f"one {len(data) / 1e6:.0f} MB line in {chunk // 1024} KiB chunks: {elapsed:.2f} s")


if __name__ == "__main__":
    bench_decoder_only()
    bench_typical()
    bench_huge_line()
