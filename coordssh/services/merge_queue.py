"""`coordssh merge [--repo R] [--dry-run] [--method M]`: the merge queue.

Every work item with an open PR is a candidate. Its gates (domain/gates.py `first_hold`, with
the item's verdicts: the PR is open, mergeable, its checks passed, a review approved the head
SHA when reviews are on, a test passed at the head SHA) are asked of a fresh `pr_view` right
before its turn, so after each merge the others are checked again (a sibling may conflict
now). Order: `queue_order` (repos others depend on first, then issue priority and age, then
smaller diffs); merges happen one at a time, per (repo, base branch) in that order. A
conflict parks only its item (`merge_conflict` with the files: the forge's, else a real `git
merge-tree` in a worker's clone) and the queue goes on. After a merge: the branch deleted, the
issue closed if the forge did not, the marker comment on the issue, the item `merged`
(merge_after.py). A PR found closed unmerged gives the item `pr_closed` (abandoned).
`--dry-run` changes nothing and says what each PR waits for.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from coordssh.domain import stages as s
from coordssh.domain.gates import GatePolicy, QueueEntry, first_hold, priority_of, queue_order
from coordssh.domain.work import Event, WorkItem
from coordssh.errors import (ForgeError, MergeRefused, RemoteError, TransitionRefused,
                             UsageError)
from coordssh.forge.types import PullRequest
from coordssh.remote.git_log import conflict_files
from coordssh.services import pipeline
from coordssh.services.context import Context
from coordssh.services.merge_after import finish_merge
from coordssh.services.pr import in_clone
from coordssh.services.work_view import observe_live_runs

METHODS = ("merge", "squash", "rebase")


@dataclass(frozen=True)
class QueueLine:
    work: str
    repo: str
    pr: int | None
    outcome: str           # merged | would_merge | held | conflict | failed | merging
                           # | closed (unmerged: the item is abandoned)
    gate: str = ""         # the gate that holds it back (held, conflict)
    reason: str = ""
    wait: bool = False     # nothing to fix: ask again later
    sha: str = ""
    files: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        data = dict(vars(self))
        data["files"] = list(self.files)
        return data


@dataclass(frozen=True)
class QueueResult:
    lines: tuple[QueueLine, ...]
    dry_run: bool

    def to_json(self) -> dict[str, Any]:
        return {"dry_run": self.dry_run, "prs": [line.to_json() for line in self.lines]}


async def run_queue(ctx: Context, *, repo: str | None = None, dry_run: bool = False,
                    method: str = "merge") -> QueueResult:
    if method not in METHODS:
        raise UsageError(f"unknown merge method {method!r}", hint="--method rebase|squash|merge")
    if repo is not None:
        ctx.config.repo(repo)      # NotFound for a name not in coordinator.yml
    items = [i for i in ctx.board.list_work() if i.pr_number is not None
             and i.stage not in s.FINAL_STAGES and (repo is None or i.repo == repo)]
    if await observe_live_runs(ctx, items):
        items = [ctx.board.get_work(i.key) or i for i in items]
    seen: dict[str, tuple[QueueEntry, PullRequest | None]] = {}
    for item in items:
        seen[item.key] = await _entry(ctx, item)
    depends = {name: r.depends_on for name, r in ctx.config.repos.items()}
    lines, merged_into = [], set()
    for entry in queue_order((e for e, _ in seen.values()), depends):
        item = ctx.board.get_work(entry.key)
        if item is None:
            continue
        group = (item.repo, item.base_branch)
        known = None if group in merged_into else seen[entry.key][1]   # a merge: ask again
        line = await _turn(ctx, item, known, dry_run=dry_run, method=method)
        if line.outcome == "merged":
            merged_into.add(group)
        lines.append(line)
    return QueueResult(tuple(lines), dry_run)


async def _entry(ctx: Context, item: WorkItem) -> tuple[QueueEntry, PullRequest | None]:
    repo = ctx.config.repo(item.repo)
    forge = ctx.forge(repo)
    labels: tuple[str, ...] = ()
    if repo.github:
        try:
            labels = (await forge.issue_view(item.issue)).labels
        except ForgeError:
            pass
    try:
        pr = await forge.pr_view(item.pr_number)
    except ForgeError:
        pr = None
    size = pr.diff_size if pr is not None else 0
    return QueueEntry(item.key, item.repo, priority_of(labels), item.created_at, size), pr


def gate_policy(ctx: Context) -> GatePolicy:
    policy = pipeline.policy_from_config(ctx.config)
    return GatePolicy(reviews=policy.reviews, tests=True,
                      merge_without_checks=policy.merge_without_checks)


def verdicts_of(item: WorkItem) -> list[dict[str, Any]]:
    return [{"kind": v.kind, "result": v.result, "sha": v.sha} for v in item.verdicts]


async def _turn(ctx: Context, item: WorkItem, known: PullRequest | None, *, dry_run: bool,
                method: str) -> QueueLine:
    forge = ctx.forge(ctx.config.repo(item.repo))
    line = QueueLine(item.key, item.repo, item.pr_number, "held")
    try:
        pr = known or await forge.pr_view(item.pr_number)
    except ForgeError as err:
        return replace(line, gate="open", reason=f"cannot read the PR: {err.message}", wait=True)
    line = replace(line, sha=pr.head_sha)
    if pr.state == "MERGED" and not dry_run:   # merged elsewhere, or by a merge queue
        return replace(line, outcome="merged", reason=await finish_merge(ctx, item, pr))
    if pr.state == "CLOSED" and not dry_run:   # closed unmerged on the forge: given up
        with ctx.board.transaction() as tx:
            pipeline.record(tx, item.key, Event("pr_closed", {"number": pr.number,
                                                              "url": pr.url}), ctx.clock())
        return replace(line, outcome="closed", gate="open", reason=f"PR #{pr.number} was "
                       f"closed without merging: {item.key} is abandoned")
    if item.stage == s.MERGING:
        return replace(line, outcome="merging", reason="merging (the forge's merge queue has "
                                                        "it)", wait=True)
    if item.stage in s.RUNNING_STAGES:
        role = next(r for r, stage in s.RUNNING_STAGE.items() if stage == item.stage)
        return replace(line, gate="run", reason=f"a {role} run is live ({item.active_run})",
                       wait=True)
    hold = first_hold(pr, verdicts_of(item), gate_policy(ctx))
    if hold is not None:
        if pr.open and pr.mergeable == "CONFLICTING":
            return await _conflict(ctx, item, pr, line, dry_run=dry_run)
        return replace(line, gate=hold.gate, reason=hold.reason, wait=hold.wait)
    if dry_run:
        return replace(line, outcome="would_merge", reason=f"every gate holds at "
                                                           f"{pr.head_sha[:7]}")
    return await _merge(ctx, item, pr, line, method)


async def _conflict(ctx: Context, item: WorkItem, pr: PullRequest, line: QueueLine, *,
                    dry_run: bool) -> QueueLine:
    files = pr.conflicts or await _worker_conflicts(ctx, item)
    shown = f" in {', '.join(files)}" if files else ""
    line = replace(line, outcome="conflict", gate="mergeable", files=files,
                   reason=f"conflicts with {pr.base}{shown}")
    if not dry_run and (item.stage != s.CONFLICT or item.conflict_files != files):
        with ctx.board.transaction() as tx:
            pipeline.record(tx, item.key, Event("merge_conflict", {"files": list(files)}),
                            ctx.clock())
    return line


async def _worker_conflicts(ctx: Context, item: WorkItem) -> tuple[str, ...]:
    try:
        return await in_clone(ctx, item, lambda transport, path: conflict_files(
            transport, path, item.base_branch, item.branch))
    except RemoteError:
        return ()


async def _merge(ctx: Context, item: WorkItem, pr: PullRequest, line: QueueLine,
                 method: str) -> QueueLine:
    try:
        with ctx.board.transaction() as tx:
            pipeline.apply(tx, item.key, Event("merge_started", {"sha": pr.head_sha,
                                                                 "method": method}), ctx.clock())
    except TransitionRefused as err:      # parked, interrupted, changes requested: not now
        return replace(line, gate="stage", reason=err.message)
    forge = ctx.forge(ctx.config.repo(item.repo))
    try:
        merged = await forge.pr_merge(pr.number, method, head_sha=pr.head_sha,
                                      delete_branch=True)
    except MergeRefused as err:
        if err.reason == "conflict":
            return await _conflict(ctx, item, await forge.pr_view(pr.number), line,
                                   dry_run=False)
        return _failed(ctx, item, line, err.message)
    except ForgeError as err:
        return _failed(ctx, item, line, err.message)
    if merged.state != "MERGED":
        return replace(line, outcome="merging", reason="the forge's merge queue took it",
                       wait=True)
    return replace(line, outcome="merged", reason=await finish_merge(ctx, item, merged))


def _failed(ctx: Context, item: WorkItem, line: QueueLine, reason: str) -> QueueLine:
    with ctx.board.transaction() as tx:
        pipeline.record(tx, item.key, Event("merge_failed", {"reason": reason[:500]}),
                        ctx.clock())
    return replace(line, outcome="failed", gate="merge", reason=reason)
