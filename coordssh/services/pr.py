"""`coordssh pr ID [--draft]`: the coordinator opens the work item's pull request itself.

No worker run and no tokens: the branch is already on origin (pushed by the item's runs). The
PR goes from the item's branch into its base branch, titled from the issue; its body holds the
last implement/fix run's final summary, the branch's commits (`git log base..head` in the
clone of a machine serving the repo), the test verdict and the SHA it judged, `Closes #N` and
the hidden marker. Idempotent: an open PR of the branch is found and reused (the forge's
`pr_create` returns it too). Refused, with the reason, when the branch has nothing pushed.
The item gets `pr_opened` (tested -> pr_open).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from coordssh.domain import stages as s
from coordssh.domain.models import Assignment
from coordssh.domain.work import Event, WorkItem
from coordssh.errors import ForgeError, Refused, RemoteError
from coordssh.forge.marker import marker, with_marker
from coordssh.forge.types import PullRequest
from coordssh.remote.git_log import Commit, branch_commits
from coordssh.services import pipeline
from coordssh.services.context import Context
from coordssh.services.work_view import observed_item
from coordssh.transport.base import Transport

T = TypeVar("T")

SUMMARY_KEEP = 6000


@dataclass(frozen=True)
class PrOpened:
    item: WorkItem
    pr: PullRequest
    created: bool                 # False: an open PR of the branch was reused
    body: str = ""
    notes: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        pr = self.pr
        return {"work": self.item.key, "stage": self.item.stage, "number": pr.number,
                "url": pr.url, "state": pr.state, "head": pr.head, "base": pr.base,
                "head_sha": pr.head_sha, "draft": pr.draft, "created": self.created,
                "notes": list(self.notes)}


async def open_pr(ctx: Context, which: str, *, draft: bool = False) -> PrOpened:
    item = await pushed_item(ctx, which, "open a PR for")
    repo = ctx.config.repo(item.repo)
    forge = ctx.forge(repo)
    found = await forge.pr_for_branch(item.branch)
    if found is not None and found.open:
        return PrOpened(_opened(ctx, item, found), found, False)
    title = await _title(ctx, item)
    commits, notes = await _commits(ctx, item)
    body = pr_body(item, _summary(ctx, item), commits, notes)
    pr = await forge.pr_create(item.branch, item.base_branch, title, body, draft=draft)
    return PrOpened(_opened(ctx, item, pr), pr, True, body, tuple(notes))


async def pushed_item(ctx: Context, which: str, doing: str) -> WorkItem:
    """The work item named (observed first), Refused when its branch has nothing pushed."""
    key = pipeline.resolve_key(ctx.board, which)
    item = await observed_item(ctx, key)
    if not item.branch or not item.head_sha:
        raise Refused(f"cannot {doing} {key}: its branch has nothing pushed yet ({item.stage})",
                      hint=f"wait for its run to push (`coordssh work {key}`)")
    return item


def _opened(ctx: Context, item: WorkItem, pr: PullRequest) -> WorkItem:
    """`pr_opened` on the item, unless it already knows this PR (and is past `tested`)."""
    if item.pr_number == pr.number and item.stage != s.TESTED:
        return item
    with ctx.board.transaction() as tx:
        return pipeline.record(tx, item.key, Event("pr_opened", {
            "number": pr.number, "url": pr.url}), ctx.clock()) or item


async def _title(ctx: Context, item: WorkItem) -> str:
    repo = ctx.config.repo(item.repo)
    if repo.github:
        try:
            return (await ctx.forge(repo).issue_view(item.issue)).title or item.title
        except ForgeError:
            pass
    return item.title or f"Issue #{item.issue}"


async def _commits(ctx: Context, item: WorkItem) -> tuple[tuple[Commit, ...], list[str]]:
    """The branch's commits; an unreachable machine leaves them out, with a note."""
    try:
        return await in_clone(ctx, item, lambda transport, path: branch_commits(
            transport, path, item.base_branch, item.branch, item.head_sha)), []
    except RemoteError as err:
        return (), [f"commits not listed: {err.message}"]


async def in_clone(ctx: Context, item: WorkItem, read: Callable[[Transport, str], Awaitable[T]]) -> T:
    """`read(transport, repo_path)` in the clone of the machine of the item's last run, else
    of the first machine serving the repo. RemoteError when it cannot be done."""
    machines = [ctx.config.machines[row.machine] for row in reversed(runs_of(ctx, item))
                if row.machine in ctx.config.machines]
    machines += list(ctx.config.machines.values())
    for machine in dict.fromkeys(machines):
        path = machine.repo_paths.get(item.repo)
        if path and item.repo in machine.repos:
            async with await ctx.connector.connect(machine) as transport:
                return await read(transport, path)
    raise RemoteError(f"no machine serves repo '{item.repo}'",
                      hint="add it to a machine's repos and repo_paths in coordinator.yml")


def runs_of(ctx: Context, item: WorkItem) -> list[Assignment]:
    return [row for run in item.runs if (row := ctx.board.get(run)) is not None]


def _summary(ctx: Context, item: WorkItem) -> str:
    for row in reversed(runs_of(ctx, item)):
        if row.role in ("implement", "fix"):
            text = final_text(row)
            if text:
                lines = [ln for ln in text.splitlines() if not ln.strip().startswith("STATUS:")]
                return "\n".join(lines).strip()[:SUMMARY_KEEP]
    return ""


def final_text(row: Assignment) -> str:
    """The run's final message (the `result` line's text), "" when it has none."""
    stream = row.extra.get("stream") if isinstance(row.extra, dict) else None
    result = (stream or {}).get("result") or {}
    text = result.get("result") if isinstance(result, dict) else None
    return text if isinstance(text, str) else ""


def pr_body(item: WorkItem, summary: str, commits: tuple[Commit, ...], notes: list[str]) -> str:
    parts = [f"Work on #{item.issue}: {item.title}".rstrip(": ")]
    if summary:
        parts.append("## Summary\n\n" + summary)
    if commits:
        parts.append("## Commits\n\n" + "\n".join(f"- {c.sha[:7]} {c.subject}" for c in commits))
    parts += notes
    test = item.verdict("test")
    if test is None:
        parts.append(f"## Tests\n\nnot tested at {item.head_sha[:7]} yet")
    else:
        parts.append(f"## Tests\n\n{test.result} at {test.sha[:7]}"
                     + (f" (run {test.run})" if test.run else " (recorded by hand)"))
    parts.append(f"Closes #{item.issue}")
    return with_marker("\n\n".join(parts), marker("pr_opened", item.key, None, item.head_sha[:12]))
