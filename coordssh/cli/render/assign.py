"""Rendering of `assign`: a short summary, the whole plan for --dry-run, or JSON."""

from __future__ import annotations

import json
import re
import sys

from coordssh.cli.render.rows import model_label
from coordssh.services.assign import AssignResult

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\x9b]")   # keeps \t and \n; drops escapes


def clean(text: str) -> str:
    """Untrusted text (titles) without terminal control sequences."""
    return _CONTROL.sub("?", text)


def print_result(result: AssignResult, *, json_output: bool, config_path: str) -> None:
    if json_output:
        sys.stdout.write(json.dumps(result.to_json(), indent=2, ensure_ascii=False) + "\n")
    elif result.dry_run:
        sys.stdout.write(plan_text(result, config_path))
    else:
        sys.stdout.write(summary_text(result))


def _head(result: AssignResult) -> list[str]:
    a = result.assignment
    extra = a.extra if isinstance(a.extra, dict) else {}
    slot = (f"  (claude config slot {extra['slot']}: {extra['claude_config_dir']})"
            if extra.get("claude_config_dir") else "")
    return [
        f"  machine   {a.machine}{slot}",
        f"  issue     {a.repo}#{a.issue}  {clean(a.title)}",
        f"  branch    {a.branch}  (from {a.base_branch} at {a.base_sha[:12]})",
        f"  model     {model_label(a)}",
    ]


def summary_text(result: AssignResult) -> str:
    a = result.assignment
    started = f"pid {result.pid}" if result.pid else "starting"
    lines = [a.id, *_head(result),
             f"  run       {a.run_dir}  ({a.launcher}, {started})",
             f"  follow    coordssh watch {a.id}"]
    if isinstance(a.extra, dict) and a.extra.get("reopens"):
        lines.insert(-2, f"  note      {clean(str(a.extra['reopens']))}")
    return "\n".join(lines) + "\n"


def plan_text(result: AssignResult, config_path: str) -> str:
    a = result.assignment
    lines = [f"dry run: nothing was changed (config {config_path})", *_head(result),
             f"  worktree  {a.worktree}",
             f"  run dir   {a.run_dir}",
             f"  launch    {result.launch}",
             f"  command   {result.command}",
             *(f"  note      {note}" for note in result.notes),
             "  id        (a new id is chosen when it really runs)",
             "--- prompt.md ---", clean(result.prompt).rstrip("\n"), "--- end ---"]
    return "\n".join(lines) + "\n"
