"""Plain git: repos without GitHub, and remote branch look-ups.

A plain-git repo has no issue tracker, so its "issues" are the ones the operator describes on
the command line (`--title`, `--briefing`): the caller registers them with `add_issue` (or passes
them in) and `issue_view` returns them. Issues created by coordssh (split), edits, closes,
comments, reviews and pull requests are kept in `git_store.ForgeStore` (a JSON file under the
state directory). A "pull request" is the branch itself on `origin`; see `git_pulls.py`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from coordssh.config.schema import Repo
from coordssh.errors import ForgeError, ForgeMissing, ForgeNotFound
from coordssh.forge.git_merge import GitMerges
from coordssh.forge.git_pulls import now
from coordssh.forge.git_store import ForgeStore
from coordssh.forge.issue import Issue
from coordssh.forge.process import run_program
from coordssh.forge.types import Comment
from coordssh.shell.command import cmd
from coordssh.transport.base import RunResult

_VERSION = re.compile(r"git version (\d+)\.(\d+)(?:\.(\d+))?")
BOT = "coordssh"


def local_issue(number: int, title: str, briefing: str = "") -> Issue:
    """An issue of a plain-git repo, described by the operator."""
    return Issue(number=int(number), title=title, body=briefing)


def parse_ls_remote(text: str) -> dict[str, str]:
    """`git ls-remote --heads` output -> {branch name: sha}."""
    heads: dict[str, str] = {}
    for line in text.splitlines():
        sha, _, ref = line.partition("\t")
        if ref.startswith("refs/heads/"):
            heads[ref[len("refs/heads/"):]] = sha.strip()
    return heads


def _issue_from(number: int, row: Mapping[str, Any]) -> Issue:
    return Issue(number, str(row.get("title", "")), str(row.get("body", "")),
                 tuple(row.get("labels", ())), str(row.get("url", "")),
                 str(row.get("state", "OPEN")))


class GitForge(GitMerges):
    kind = "git"

    def __init__(self, repo: Repo, path: Path | None = None, *, issues: Iterable[Issue] = (),
                 git: str = "git", env: Mapping[str, str] | None = None,
                 timeout: float = 60.0, origin: str | None = None,
                 state_dir: Path | None = None) -> None:
        self.repo = repo
        self.path = path
        self._issues = {issue.number: issue for issue in issues}
        self._git = git
        self._env = {**(os.environ if env is None else env), "GIT_TERMINAL_PROMPT": "0"}
        for name in ("GIT_AUTHOR", "GIT_COMMITTER"):
            self._env.setdefault(f"{name}_NAME", BOT)
            self._env.setdefault(f"{name}_EMAIL", f"{BOT}@localhost")
        self._timeout = timeout
        self._origin = origin
        self._state_dir = state_dir
        self.store = ForgeStore(state_dir / "forge" / f"{repo.name}.json" if state_dir else None)

    def add_issue(self, issue: Issue) -> Issue:
        self._issues[issue.number] = issue
        return issue

    # --- issues ---------------------------------------------------------------------------------
    def _all_issues(self) -> dict[int, Issue]:
        stored = {int(n): _issue_from(int(n), row) for n, row in self.store.read()["issues"].items()}
        return {**self._issues, **stored}

    async def issue_view(self, number: int) -> Issue:
        try:
            return self._all_issues()[int(number)]
        except KeyError:
            raise ForgeNotFound(
                f"repo '{self.repo.name}' has no GitHub, so issue #{number} is only known from "
                "the command line", "pass --title (and --briefing) to describe the work, or add "
                "`github: OWNER/NAME` to the repo in coordinator.yml") from None

    async def issue_list(self, labels: Sequence[str] = (), state: str = "open",
                         limit: int = 100) -> list[Issue]:
        found = [issue for _, issue in sorted(self._all_issues().items())
                 if state.upper() in ("ALL", issue.state) and set(labels) <= set(issue.labels)]
        return found[: int(limit)]

    async def issue_create(self, title: str, body: str, labels: Sequence[str] = ()) -> Issue:
        with self.store.edit() as data:
            taken = [*self._issues, *map(int, data["issues"]), *map(int, data["pulls"])]
            number = max(taken, default=0) + 1
            data["issues"][str(number)] = {"title": title, "body": body, "labels": list(labels),
                                           "state": "OPEN", "created_at": now()}
        return Issue(number, title, body, tuple(labels), "", "OPEN")

    async def _save_issue(self, issue: Issue) -> None:
        with self.store.edit() as data:
            data["issues"][str(issue.number)] = {"title": issue.title, "body": issue.body,
                                                 "labels": list(issue.labels),
                                                 "state": issue.state, "url": issue.url}

    async def issue_append_body(self, number: int, text: str) -> Issue:
        issue = await self.issue_view(number)
        if text.strip() in issue.body:
            return issue
        body = (issue.body.rstrip("\n") + "\n\n" if issue.body.strip() else "") + text
        issue = Issue(issue.number, issue.title, body, issue.labels, issue.url, issue.state)
        await self._save_issue(issue)
        return issue

    async def issue_close(self, number: int) -> None:
        issue = await self.issue_view(number)
        if issue.open:
            await self._save_issue(Issue(issue.number, issue.title, issue.body, issue.labels,
                                         issue.url, "CLOSED"))

    # --- comments -------------------------------------------------------------------------------
    async def _comment(self, key: str, body: str) -> Comment:
        with self.store.edit() as data:
            ident = str(self.store.next_id(data))
            row = {"id": ident, "body": body, "author": BOT, "created_at": now(),
                   "url": f"{self.repo.name}/{key.replace(':', '/')}#comment-{ident}"}
            data["comments"].setdefault(key, []).append(row)
        return Comment(row["id"], body, row["url"], BOT, row["created_at"])

    async def issue_comment(self, number: int, body: str) -> Comment:
        await self.issue_view(number)
        return await self._comment(f"issue:{int(number)}", body)

    async def pr_comment(self, number: int, body: str) -> Comment:
        await self.pr_view(number)
        return await self._comment(f"pr:{int(number)}", body)

    async def list_comments(self, number: int, *, pr: bool = False) -> list[Comment]:
        rows = self.store.read()["comments"].get(f"{'pr' if pr else 'issue'}:{int(number)}", [])
        return [Comment(r["id"], r["body"], r.get("url", ""), r.get("author", ""),
                        r.get("created_at", "")) for r in rows]

    async def find_comment(self, number: int, marker: str, *,
                           pr: bool = False) -> Comment | None:
        return next((c for c in await self.list_comments(number, pr=pr) if marker in c.body),
                    None)

    # --- plumbing -------------------------------------------------------------------------------
    async def auth_status(self) -> bool:
        return True  # plain git needs no forge login; push credentials are the worker's

    async def version(self) -> tuple[int, ...]:
        result = await self._run(self._git, "--version")
        found = _VERSION.search(result.text)
        if not found:
            raise ForgeError(f"`{self._git} --version` did not report a version", "reinstall git")
        return tuple(int(part or 0) for part in found.groups())

    async def remote_heads(self, *patterns: str, remote: str = "origin") -> dict[str, str]:
        """Branches on `remote` matching the glob `patterns` (e.g. `issue-7-*`) -> their shas.

        Runs in `path` (the operator's clone) so `origin` resolves; `remote` may also be a URL.
        """
        result = await self._run(self._git, "ls-remote", "--heads", remote, *patterns,
                                 cwd=self.path)
        if result.returncode != 0:
            raise ForgeError(f"`git ls-remote {remote}` failed for repo '{self.repo.name}': "
                             f"{result.stderr_text.strip()[:300]}",
                             "check that the remote exists and this machine can reach it")
        return parse_ls_remote(result.text)

    async def _run(self, *argv: str, cwd: Path | str | None = None) -> RunResult:
        return await run_program(cmd(*argv), env=self._env, cwd=cwd, timeout=self._timeout,
                                 missing=lambda: ForgeMissing(
                                     f"`{self._git}` was not found on this machine",
                                     "install git (Debian/Ubuntu: `apt install git`)"))
