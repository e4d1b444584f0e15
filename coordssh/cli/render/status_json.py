"""`coordssh status --json`: the observation as one JSON object, without importing rich.

Indented for a terminal; compact when piped (scripts, `jq`), where `json.dumps` runs in C:
with `indent` it falls back to the pure-Python encoder, slow for hundreds of rows.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

from coordssh.cli.render.rows import JSON_EXTRA_KEYS, json_fields

if TYPE_CHECKING:
    from coordssh.domain.models import Assignment
    from coordssh.services.observe import Observation

OBSERVED_KEYS = ("name", "reachable", "error", "running", "max_workers")
NOTE_KEYS = ("note", "account", "parked_until", "stale_since", "disk")   # machine_notes.py
MACHINE_KEYS = OBSERVED_KEYS + NOTE_KEYS
ROW_KEYS = ("id", "machine", "repo", "issue", "branch", "status", "reason", "model",
            "session_id", "started_at", "finished_at", "duration_s", "turns", "cost_usd",
            "last_status", "pushed_sha")
ASSIGNMENT_KEYS = ROW_KEYS + JSON_EXTRA_KEYS


def status_json(observation: Observation, notes: dict | None = None) -> dict:
    """`notes`: services/machine_notes.py (parked until, stale since, disk use) per machine."""
    notes = notes or {}
    return {
        "machines": [{**{k: getattr(mo, k) for k in OBSERVED_KEYS},
                      **{k: notes.get(mo.name, {}).get(k) for k in NOTE_KEYS}}
                     for mo in observation.machines],
        "assignments": [row_json(a) for a in observation.assignments],
    }


def row_json(a: Assignment) -> dict:
    """One assignment as `status --json` (and `push --json`) show it."""
    return {**{k: getattr(a, k) for k in ROW_KEYS}, **json_fields(a)}


def print_json(observation: Observation, notes: dict | None = None) -> None:
    out = sys.stdout
    indent = 2 if out.isatty() else None
    out.write(json.dumps(status_json(observation, notes), indent=indent, ensure_ascii=False)
              + "\n")
