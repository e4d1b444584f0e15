"""`coordssh status --json`: the observation as one JSON object, without importing rich.

Indented for a terminal; compact when piped (scripts, `jq`), where `json.dumps` runs in C:
with `indent` it falls back to the pure-Python encoder, slow for hundreds of rows.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from coordssh.services.observe import Observation

MACHINE_KEYS = ("name", "reachable", "error", "running", "max_workers")
ASSIGNMENT_KEYS = ("id", "machine", "repo", "issue", "branch", "status", "reason", "model",
                   "session_id", "started_at", "finished_at", "duration_s", "turns", "cost_usd",
                   "last_status", "pushed_sha")


def status_json(observation: Observation) -> dict:
    return {
        "machines": [{k: getattr(mo, k) for k in MACHINE_KEYS} for mo in observation.machines],
        "assignments": [{k: getattr(a, k) for k in ASSIGNMENT_KEYS}
                        for a in observation.assignments],
    }


def print_json(observation: Observation) -> None:
    out = sys.stdout
    indent = 2 if out.isatty() else None
    out.write(json.dumps(status_json(observation), indent=indent, ensure_ascii=False) + "\n")
