"""Rendering of `coordssh plan` and `coordssh approve`: plain text, or JSON."""

from __future__ import annotations

import json
import sys
from typing import Any

from coordssh.cli.render.assign import clean


def _json(data: Any) -> None:
    indent = 2 if sys.stdout.isatty() else None
    sys.stdout.write(json.dumps(data, indent=indent, ensure_ascii=False) + "\n")


def print_plan(result, *, json_output: bool) -> None:
    if json_output:
        _json(result.to_json())
        return
    sched = result.schedule
    out = [f"plan {result.id}: {len(sched.proposals)} proposed, {len(sched.skipped)} skipped"]
    for p in sched.proposals:
        out.append(f"  [{p.id}] {p.repo}#{p.issue} -> {p.machine}  model {p.model} "
                   f"({p.model_source})  {clean(p.title)[:60]}")
        if p.files:
            out.append(f"      files: {', '.join(p.files)}")
        out.append(f"      why: {clean(p.rationale)}")
    if sched.skipped:
        out.append("skipped:")
        out += [f"  {s.repo}#{s.issue}  {clean(s.reason)}" for s in sched.skipped]
    if sched.conflicts:
        out.append("in-flight branches that already conflict (git merge-tree):")
        out += [f"  {c.repo}: {c.a} x {c.b} on {', '.join(c.files)}" for c in sched.conflicts]
    out += [f"note: {clean(n)}" for n in result.notes]
    if result.brain is not None:
        out += _brain_lines(result.brain)
    if sched.proposals:
        out.append("dispatch with: coordssh approve all   (or: coordssh approve 1 2 ...)")
    sys.stdout.write("\n".join(out) + "\n")


def _brain_lines(brain: dict[str, Any]) -> list[str]:
    cost = brain.get("cost_usd")
    head = f"brain: {brain.get('status')}" + (f", cost ${cost:.4f}" if cost is not None else "")
    lines = [head + (f" ({clean(brain['error'])})" if brain.get("error") else "")]
    for pid, text in (brain.get("briefings") or {}).items():
        lines.append(f"  [{pid}] briefing: {clean(text)[:200]}")
    for pid, parts in (brain.get("splits") or {}).items():
        lines.append(f"  [{pid}] split: " + "; ".join(clean(p)[:80] for p in parts))
    return lines


def print_approve(result, *, json_output: bool) -> bool:
    """Print; True when nothing was refused."""
    refused = [o for o in result.outcomes if o.status == "refused"]
    if json_output:
        _json(result.to_json())
        return not refused
    out = []
    for o in result.outcomes:
        what = f"run {o.run}, model {o.model} ({o.model_source})" if o.run else clean(o.reason)
        out.append(f"[{o.id}] {o.repo}#{o.issue} on {o.machine}: {o.status}: {what}")
    if result.pending:
        out.append(f"still pending in plan {result.plan_id}: {', '.join(result.pending)}")
    sys.stdout.write("\n".join(out) + "\n")
    return not refused
