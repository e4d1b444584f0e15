"""After a PR merged: the branch deleted, the issue closed if the forge did not, the marker
comment on the issue, and the work item `merged` (`pr_merged`). Every step is idempotent, so a
rerun (or a PR merged by hand, found by the queue later) finishes what is missing and posts
nothing twice: the comment's marker is looked up on the forge first.
"""

from __future__ import annotations

from coordssh.domain import stages as s
from coordssh.domain.work import Event, WorkItem
from coordssh.errors import ForgeError, ForgeNotFound
from coordssh.forge.marker import marker, post_once
from coordssh.forge.types import PullRequest
from coordssh.services import pipeline
from coordssh.services.context import Context


def merged_marker(item: WorkItem, pr: PullRequest) -> str:
    return marker("merged", item.key, None, (pr.head_sha or "-")[:12])


async def finish_merge(ctx: Context, item: WorkItem, pr: PullRequest) -> str:
    """What was done, as one line (each step says so when it could not be done)."""
    forge = ctx.forge(ctx.config.repo(item.repo))
    said = [f"PR #{pr.number} merged at {pr.head_sha[:7]}"]
    try:
        if item.branch and await forge.delete_branch(item.branch):
            said.append(f"branch {item.branch} deleted")
    except ForgeError as err:
        said.append(f"branch not deleted: {err.message}")
    said.append(await _close_issue(forge, item.issue))
    body = (f"Merged in #{pr.number} ({pr.url or pr.head}) at {pr.head_sha[:7]} by "
            f"`coordssh merge`.")
    try:
        _, posted = await post_once(forge, item.issue, body, merged_marker(item, pr))
        said.append("comment posted" if posted else "comment already there")
    except ForgeError as err:
        said.append(f"no comment: {err.message}")
    current = ctx.board.get_work(item.key)
    if current is not None and current.stage != s.MERGED:
        with ctx.board.transaction() as tx:
            pipeline.record(tx, item.key, Event("pr_merged", {"sha": pr.head_sha,
                                                              "number": pr.number}), ctx.clock())
    return "; ".join(part for part in said if part)


async def _close_issue(forge, number: int) -> str:
    try:
        issue = await forge.issue_view(number)
    except ForgeNotFound:
        return ""          # a plain-git issue known only from the command line
    except ForgeError as err:
        return f"issue #{number} not checked: {err.message}"
    if issue.state.upper() != "OPEN":
        return f"issue #{number} closed"
    try:
        await forge.issue_close(number)
    except ForgeError as err:
        return f"issue #{number} left open: {err.message}"
    return f"issue #{number} closed by coordssh"
