"""Rendering of `fix`, `retry` and `continue`: the new run the way `assign` prints one (JSON: the
same object, its `id` included, plus role, mode, work item and notes)."""

from __future__ import annotations

import json
import sys
from typing import Any

from coordssh.cli.render.assign import clean, summary_text


def print_followup(result: Any, *, json_output: bool) -> None:
    if not hasattr(result, "notes"):            # a test run again (`retry` of a test run)
        from coordssh.cli.render.work import print_test_run

        print_test_run(result, json_output=json_output)
        return
    a = result.assignment
    if json_output:
        data = {**result.to_json(), "role": a.role, "work": a.work_key,
                "mode": a.extra.get("mode", "new") if isinstance(a.extra, dict) else "new",
                "notes": list(result.notes)}
        sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
        return
    text = summary_text(result).rstrip("\n").split("\n")
    text.insert(1, f"  role      {a.role} ({a.extra.get('mode', 'new')}) for {a.work_key}")
    text += [f"  note      {clean(note)}" for note in result.notes if note]
    sys.stdout.write("\n".join(text) + "\n")
