"""Rendering of `notify`, `gc`, `resume` and `done`: plain text, or JSON. No rich."""

from __future__ import annotations

import json
import sys
import time
from typing import TYPE_CHECKING, Any

from coordssh.cli.render.assign import clean

if TYPE_CHECKING:
    from coordssh.services.gc import GcReport
    from coordssh.services.notify import PassReport
    from coordssh.services.session import ResumeReport


QUIET_STATES = ("posted", "already", "recorded")     # the rest say why


def _json(data: Any) -> None:
    indent = 2 if sys.stdout.isatty() else None
    sys.stdout.write(json.dumps(data, indent=indent, ensure_ascii=False, default=str) + "\n")


def _when(epoch: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(epoch)) if epoch else "?"


def print_pass(report: PassReport, *, json_output: bool) -> None:
    if json_output:
        _json(report.to_json())
        return
    if report.busy is not None:
        b = report.busy
        sys.stdout.write(f"another notify pass is running (pid {b.pid} on {b.host}, since "
                         f"{_when(b.since)}): nothing to do\n")
        return
    out = ["notify (dry run: nothing changed)" if report.dry_run else "notify"]
    for mo in report.machines:
        state = "reachable" if mo["reachable"] else f"unreachable: {clean(mo['error'])}"
        out.append(f"  machine {mo['name']}: {state}")
    for entry in report.did:
        verb = "would" if entry.get("would") else "did"
        what = entry.get("done") or f"{entry['action']} {entry['role']}".strip()
        out.append(f"  {verb}  {entry['work']}: {clean(what)}")
    for entry in report.skipped:
        out.append(f"  skip {entry['work']} ({entry['action']}): {clean(entry['skipped'])}")
    for c in report.comments:
        why = f" ({clean(c['detail'])})" if c["state"] not in QUIET_STATES and c["detail"] \
            else ""
        out.append(f"  comment {c['work']} {c['kind']}: {c['state']}{why}")
    for event in report.events:
        said = event.get("first_pass", {}).get("why") or event.get("finished")
        out.append(f"  {clean(said or json.dumps(event, default=str))}")
    for err in report.errors:
        out.append(f"  error in {err['step']}: {clean(err['error'])}")
    sys.stdout.write("\n".join(out) + "\n")


def print_gc(report: GcReport, *, json_output: bool) -> None:
    if json_output:
        _json(report.to_json())
        return
    lines = report.lines() or ["nothing to remove"]
    for name, disk in sorted(report.disk.items()):
        lines.append(f"{name}: worktrees {disk.get('worktrees_kb')} KB, runs "
                     f"{disk.get('runs_kb')} KB")
    sys.stdout.write("\n".join(lines) + "\n")


def print_resume(report: ResumeReport, *, json_output: bool) -> None:
    if json_output:
        _json(report.to_json())
        return
    out = []
    for mo in report.machines:
        state = "reachable" if mo["reachable"] else f"unreachable: {clean(mo['error'])}"
        note = f" ({mo['note']})" if mo["note"] else ""
        out.append(f"machine {mo['name']}: {state}{note}")
    for title in ("live", "parked", "waiting", "needs_human"):
        entries = getattr(report, title)
        out.append(f"{title.replace('_', ' ')}: {len(entries)}")
        for e in entries:
            how = f"  ->  {e['command']}" if title == "needs_human" and e["command"] else ""
            out.append(f"  {e['work']} {e['stage']}: {clean(e['reason'])}{how}")
    sys.stdout.write("\n".join(out) + "\n")


def print_done(data: dict[str, Any], *, json_output: bool) -> None:
    if json_output:
        _json(data)
        return
    from coordssh.services.session import summary_text

    text = summary_text(data)
    for hook in data.get("hooks", []):
        text += f"hook {hook['hook']} {hook['action']}: {'ok' if hook['ok'] else 'failed'}\n"
    sys.stdout.write(text)
