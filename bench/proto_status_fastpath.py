"""A prototype, not product code: `coordssh status --json` without typer and without rich.

It calls the same composition root and service as the real command (build_context, observe)
and prints the same JSON shape. The benchmark runs it beside the real command to estimate
what a typer-free fast path for the hot commands (status, notify) would save; see
docs/performance.md.
"""

import asyncio
import json
import sys

from coordssh.cli.context import build_context
from coordssh.services.observe import observe

MACHINE_KEYS = ("name", "reachable", "error", "running", "max_workers")
ASSIGNMENT_KEYS = ("id", "machine", "repo", "issue", "branch", "status", "reason", "model",
                   "session_id", "started_at", "finished_at", "duration_s", "turns", "cost_usd",
                   "last_status", "pushed_sha")

ctx = build_context(None)
observation = asyncio.run(observe(ctx, None))
sys.stdout.write(json.dumps({
    "machines": [{k: getattr(mo, k) for k in MACHINE_KEYS} for mo in observation.machines],
    "assignments": [{k: getattr(a, k) for k in ASSIGNMENT_KEYS} for a in observation.assignments],
}, indent=2, ensure_ascii=False) + "\n")
