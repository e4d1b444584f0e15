"""How fast StreamState folds stream-json: typical events per second, and one huge line.

Run: python bench/stream_parser.py [--stdlib]   (the target is at least 100,000 typical events/s).
`--stdlib` hides orjson, so the parser and the decoder-only line use the stdlib `json` fallback
(what an install without the `fast` extra gets).
Times are CPU seconds of this process (process_time), so a busy machine skews them less; compare
the fold with the "decoder only" line, measured in the same run. On the shared 2-core box, medians
of three runs under load 5 to 20: orjson decodes 240-260k lines/s and the fold does 105-110k
events/s (75k before the fold was reworked); with the stdlib decoder (63-66k lines/s, a ceiling
below the budget by itself) the fold does 45k events/s (39k before).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

if "--stdlib" in sys.argv:  # before coordssh imports it: the parser falls back to json.loads
    sys.modules["orjson"] = None  # type: ignore[assignment]

from coordssh.agent import stream_lines  # noqa: E402
from coordssh.agent.stream import StreamState  # noqa: E402

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
