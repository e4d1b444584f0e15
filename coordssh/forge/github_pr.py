"""Pull requests on GitHub through gh (contract §3): the PR half of GitHubForge.

A mixin: it relies on GitHubForge's `slug`, `_gh_ok`, `_gh_json`, `list_comments`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from coordssh.errors import ForgeError, MergeRefused
from coordssh.forge.types import Comment, PullRequest, summarise_checks

if TYPE_CHECKING:
    from coordssh.transport.base import RunResult

PR_FIELDS = ("additions", "baseRefName", "createdAt", "deletions", "headRefName", "headRefOid",
             "isDraft", "mergeStateStatus", "mergeable", "number", "reviewDecision", "state",
             "statusCheckRollup", "title", "url")
MERGE_FLAGS = {"merge": "--merge", "squash": "--squash", "rebase": "--rebase"}
REVIEW_FLAGS = {"approve": "--approve", "request_changes": "--request-changes"}
_COMMENT_ID = re.compile(r"#issuecomment-(\d+)")
_NUMBER_IN_URL = re.compile(r"/(?:issues|pull)/(\d+)")


def pr_from_gh(data: Mapping[str, Any]) -> PullRequest:
    """One object of `gh pr view --json PR_FIELDS`."""
    return PullRequest(
        number=int(data["number"]), state=str(data.get("state") or "OPEN"),
        url=str(data.get("url") or ""), title=str(data.get("title") or ""),
        head=str(data.get("headRefName") or ""), base=str(data.get("baseRefName") or ""),
        head_sha=str(data.get("headRefOid") or ""),
        mergeable=str(data.get("mergeable") or "UNKNOWN"),
        merge_state=str(data.get("mergeStateStatus") or "UNKNOWN"),
        checks=summarise_checks(data.get("statusCheckRollup")),
        review_decision=str(data.get("reviewDecision") or ""),
        draft=bool(data.get("isDraft")), additions=int(data.get("additions") or 0),
        deletions=int(data.get("deletions") or 0), created_at=str(data.get("createdAt") or ""))


def comment_from_gh(data: Mapping[str, Any]) -> Comment:
    """One of `gh issue/pr view --json comments`; its id is the number in its URL (the same id
    `comment_from_url` gives), else gh's node id."""
    author = data.get("author") or {}
    url = str(data.get("url") or "")
    found = _COMMENT_ID.search(url)
    return Comment(id=found.group(1) if found else str(data.get("id") or ""),
                   body=str(data.get("body") or ""), url=url,
                   author=str(author.get("login") or ""), created_at=str(data.get("createdAt") or ""))


def comment_from_url(stdout: str, body: str) -> Comment:
    """The comment gh just posted: stdout is its URL (`...#issuecomment-123`)."""
    url = stdout.strip().splitlines()[-1] if stdout.strip() else ""
    found = _COMMENT_ID.search(url)
    return Comment(id=found.group(1) if found else url, body=body, url=url)


def number_from_url(url: str) -> int:
    """The number in an issue or PR URL that gh printed."""
    found = _NUMBER_IN_URL.search(url)
    if not found:
        raise ForgeError(f"gh printed {url.strip()[:200]!r}, not an issue or PR URL",
                         "check that `gh` is the GitHub CLI")
    return int(found.group(1))


class GitHubPulls:
    slug: str

    async def _gh_ok(self, action: str, *args: str, input: bytes | None = None,
                     mutation: bool = False) -> RunResult: ...

    async def _gh_json(self, action: str, *args: str, input: bytes | None = None) -> Any: ...

    async def pr_view(self, number: int) -> PullRequest:
        data = await self._gh_json(f"view pull request #{number}", "pr", "view",
                                   str(int(number)), "--repo", self.slug, "--json",
                                   ",".join(PR_FIELDS))
        return pr_from_gh(data)

    async def open_pulls(self, limit: int = 200) -> list[PullRequest]:
        rows = await self._gh_json("list the open pull requests", "pr", "list", "--repo",
                                   self.slug, "--state", "open", "--limit", str(int(limit)),
                                   "--json", "number,state,headRefName,url")
        return [pr_from_gh(row) for row in rows or [] if row.get("state") == "OPEN"]

    async def pr_close(self, number: int) -> None:
        """`gh pr close N` (no --delete-branch: the branch and its commits stay); gh says
        "already closed" with exit 0, and refuses a merged PR with exit 1."""
        await self._gh_ok(f"close pull request #{number}", "pr", "close", str(int(number)),
                          "--repo", self.slug, mutation=True)

    async def pr_for_branch(self, branch: str) -> PullRequest | None:
        rows = await self._gh_json(f"find the pull request of branch {branch}", "pr", "list",
                                   "--repo", self.slug, "--head", branch, "--state", "all",
                                   "--json", "number,state,headRefName")
        rows = [row for row in rows or [] if row.get("headRefName") == branch]
        if not rows:
            return None
        rows.sort(key=lambda row: (row.get("state") == "OPEN", int(row["number"])), reverse=True)
        return await self.pr_view(int(rows[0]["number"]))

    async def pr_create(self, branch: str, base: str, title: str, body: str,
                        draft: bool = False) -> PullRequest:
        args = ["pr", "create", "--repo", self.slug, "--head", branch, "--base", base,
                "--title", title, "--body-file", "-"] + (["--draft"] if draft else [])
        try:
            result = await self._gh_ok(f"open a pull request for {branch}", *args,
                                       input=body.encode(), mutation=True)
        except ForgeError as error:
            existing = await self._existing_pr(error, branch)
            if existing is None:
                raise
            return existing
        return await self.pr_view(number_from_url(result.text))

    async def _existing_pr(self, error: ForgeError, branch: str) -> PullRequest | None:
        """After `already exists:` (or the create race): the open PR of the branch."""
        text = error.message
        if "already exists" not in text and "already exists" not in (error.hint or ""):
            return None
        found = await self.pr_for_branch(branch)
        return found if found is not None and found.open else None

    async def pr_comment(self, number: int, body: str) -> Comment:
        result = await self._gh_ok(f"comment on pull request #{number}", "pr", "comment",
                                   str(int(number)), "--repo", self.slug, "--body-file", "-",
                                   input=body.encode(), mutation=True)
        return comment_from_url(result.text, body)

    async def pr_review(self, number: int, event: str, body: str) -> None:
        if event not in REVIEW_FLAGS:
            raise ValueError(f"review event must be one of {sorted(REVIEW_FLAGS)}, not {event!r}")
        await self._gh_ok(f"review pull request #{number}", "pr", "review", str(int(number)),
                          "--repo", self.slug, REVIEW_FLAGS[event], "--body-file", "-",
                          input=body.encode(), mutation=True)

    async def find_review(self, number: int, marker: str) -> Comment | None:
        data = await self._gh_json(f"read the reviews of pull request #{number}", "pr", "view",
                                   str(int(number)), "--repo", self.slug, "--json", "reviews")
        for row in (data or {}).get("reviews") or []:
            if marker in str(row.get("body") or ""):
                return Comment(id=str(row.get("id") or ""), body=str(row.get("body")),
                               author=str((row.get("author") or {}).get("login") or ""),
                               created_at=str(row.get("submittedAt") or ""))
        return None

    async def pr_merge(self, number: int, method: str = "merge", head_sha: str | None = None,
                       delete_branch: bool = True) -> PullRequest:
        if method not in MERGE_FLAGS:
            raise ValueError(f"merge method must be one of {sorted(MERGE_FLAGS)}, not {method!r}")
        args = ["pr", "merge", str(int(number)), "--repo", self.slug, MERGE_FLAGS[method]]
        args += ["--delete-branch"] if delete_branch else []
        args += ["--match-head-commit", head_sha] if head_sha else []
        await self._gh_ok(f"merge pull request #{number}", *args, mutation=True)
        merged = await self.pr_view(number)
        if merged.state == "CLOSED":
            raise MergeRefused(f"pull request #{number} in {self.slug} is closed, not merged",
                               "reopen it on GitHub, or open a new one", "closed")
        return merged

    async def delete_branch(self, branch: str) -> bool:
        try:
            await self._gh_ok(f"delete branch {branch}", "api", "-X", "DELETE",
                              f"repos/{self.slug}/git/refs/heads/{branch}", mutation=True)
        except ForgeError as error:
            if "Reference does not exist" in error.message or "(HTTP 422)" in error.message:
                return False
            raise
        return True
