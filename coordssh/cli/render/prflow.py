"""Rendering of `pr`, `review`, `merge` and `split`: plain text, or JSON with --json.

Untrusted text (titles, reasons, review findings) goes through `clean`.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

from coordssh.cli.render.assign import clean

if TYPE_CHECKING:
    from coordssh.services.merge_queue import QueueResult
    from coordssh.services.pr import PrOpened
    from coordssh.services.review import DispatchedReview
    from coordssh.services.review_post import ReviewOutcome
    from coordssh.services.split import SplitResult


def _json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def _lines(lines: list[str]) -> None:
    sys.stdout.write("\n".join(clean(line) for line in lines) + "\n")


def print_pr(result: PrOpened, *, json_output: bool) -> None:
    if json_output:
        return _json(result.to_json())
    pr = result.pr
    how = "opened" if result.created else "already open (reused)"
    draft = " (draft)" if pr.draft else ""
    lines = [f"{result.item.key}  PR #{pr.number} {how}{draft}",
             f"  url       {pr.url or '-'}",
             f"  branch    {pr.head} -> {pr.base} at {pr.head_sha[:7]}",
             f"  stage     {result.item.stage}"]
    lines += [f"  note      {note}" for note in result.notes]
    _lines(lines)


def print_review(result: DispatchedReview, *, json_output: bool) -> None:
    if json_output:
        return _json(result.to_json())
    a = result.assignment
    same = " (the machine that wrote it: no other serves the repo)" if result.same_machine \
        else ""
    _lines([a.id,
            f"  review    {a.work_key} PR #{result.pr_number} at {a.base_sha[:12]}",
            f"  machine   {a.machine}{same}",
            f"  model     {a.model or '-'}   session {a.session_id} (fresh)",
            f"  run       {a.run_dir}  ({a.launcher}, "
            f"{'pid ' + str(result.pid) if result.pid else 'starting'})",
            f"  follow    coordssh wait {a.id}; the verdict is posted by `coordssh review "
            f"--wait` or `coordssh work`"])


def print_review_outcome(outcome: ReviewOutcome, *, json_output: bool) -> None:
    if json_output:
        return _json(outcome.to_json())
    verdict = outcome.item.verdict("review")
    lines = [f"{outcome.run.id}  review ended {outcome.run.status}: {outcome.run.reason}"]
    if verdict is None:
        lines.append(f"  no verdict: {outcome.item.key} is {outcome.item.stage}")
    else:
        lines.append(f"  verdict   {verdict.result} at {verdict.sha[:7]}")
        lines += [f"            {line}" for line in verdict.detail.splitlines()]
    settled = outcome.settled
    if settled is not None:
        where = "as a review" if settled.how == "review" else \
            "as a PR comment (the forge refused a review from the PR's author)"
        lines.append(f"  posted    {where}" if settled.posted else
                     f"  posted    already on PR #{settled.pr} ({settled.how})")
    _lines(lines)


def print_queue(result: QueueResult, *, json_output: bool) -> None:
    if json_output:
        return _json(result.to_json())
    if not result.lines:
        return _lines(["no open pull requests in the merge queue"])
    lines = []
    for line in result.lines:
        pr = f"PR #{line.pr}" if line.pr else "no PR"
        gate = f" [{line.gate}]" if line.gate else ""
        later = " (ask again later)" if line.wait else ""
        lines.append(f"{line.work}  {pr}  {line.outcome}{gate}: {line.reason}{later}")
    if result.dry_run:
        lines.append("(dry run: nothing was merged or changed)")
    _lines(lines)


def print_split(result: SplitResult, *, json_output: bool) -> None:
    if json_output:
        return _json(result.to_json())
    lines = [f"{result.repo}#{result.parent}: {len(result.subs)} sub-issues from its "
             f"{result.source}"]
    for sub in result.subs:
        state = ("created" if sub.created else "exists") if sub.number else "proposed"
        number = f"#{sub.number}" if sub.number else "  -"
        lines.append(f"  {number:>5}  {state:<8} {sub.title}")
    if result.applied:
        lines.append("  parent    task list appended" if result.appended else
                     "  parent    already lists them (unchanged)")
    else:
        lines.append(f"  apply     coordssh split {result.repo}#{result.parent} --apply")
    lines += [f"  note      {note}" for note in result.notes]
    _lines(lines)
