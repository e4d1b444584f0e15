"""Rendering of `coordssh abandon`: plain text, or JSON with --json."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

from coordssh.cli.render.assign import clean

if TYPE_CHECKING:
    from coordssh.services.abandon import Abandoned


def print_abandoned(result: Abandoned, *, json_output: bool) -> None:
    if json_output:
        sys.stdout.write(json.dumps(result.to_json(), indent=2, ensure_ascii=False) + "\n")
        return
    sys.stdout.write("\n".join(clean(line) for line in abandoned_lines(result)) + "\n")


def abandoned_lines(result: Abandoned) -> list[str]:
    item = result.item
    head = f" @ {item.head_sha[:7]}" if item.head_sha else ""
    lines = [f"{item.key}  {'already abandoned' if result.already else 'abandoned'}: "
             f"{item.abandoned_reason or '-'}",
             f"  branch    {item.branch or '(no branch)'}{head} (kept with its commits)"]
    pr = result.pr
    if pr is not None:
        if result.closed_now:
            said = {"posted": "comment posted", "already": "comment already there"}.get(
                result.comment, "")
            lines.append(f"  pr        #{pr.number} closed ({said}) {pr.url}".rstrip())
        else:
            lines.append(f"  pr        #{pr.number} {pr.state.lower()}")
    elif item.pr_number:
        lines.append(f"  pr        #{item.pr_number} left as it is (--close-pr closes it)")
    lines += [f"  note      {note}" for note in result.notes]
    lines.append(f"  again     {result.again}  (a new cycle on a new branch)")
    return lines
