"""GitHubForge: the only caller of `gh` in coordssh.

Every call is an argv (no shell) run with `--repo OWNER/NAME`, so gh never consults the cwd's
git remotes; stdin is closed, or carries a body for `--body-file -`. `--json` output is parsed,
failures are translated by `gh_errors.translate`. A rate limit is retried after a jittered
back-off (`pacing.Backoff`), mutations are paced per token (`pacing.Pacer`). The environment is
the caller's plus the settings that keep gh non-interactive; tokens pass through, never logged.
Pull requests live in `github_pr.py` (a mixin built on the same `_gh_ok` / `_gh_json`).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import Mapping, Sequence
from typing import Any

from coordssh.config.schema import Repo
from coordssh.errors import ForgeError, ForgeRateLimited, UsageError
from coordssh.forge.gh_errors import missing_gh, translate
from coordssh.forge.github_pr import (GitHubPulls, comment_from_gh, comment_from_url,
                                      number_from_url)
from coordssh.forge.issue import ISSUE_FIELDS, Issue
from coordssh.forge.pacing import Backoff, Pacer, Sleep, shared_pacer
from coordssh.forge.process import run_program
from coordssh.forge.types import Comment
from coordssh.shell.command import cmd
from coordssh.transport.base import RunResult

GH_QUIET_ENV = {"GH_PROMPT_DISABLED": "1", "GH_NO_UPDATE_NOTIFIER": "1", "NO_COLOR": "1",
                "GH_PAGER": "", "GH_SPINNER_DISABLED": "1"}
GH_DROPPED_ENV = ("GH_FORCE_TTY", "GH_REPO", "CLICOLOR_FORCE")
_VERSION = re.compile(r"gh version (\d+)\.(\d+)\.(\d+)")


def gh_environment(env: Mapping[str, str] | None) -> dict[str, str]:
    """The environment gh runs with: `env` (default: ours) made non-interactive."""
    base = dict(os.environ if env is None else env)
    for name in GH_DROPPED_ENV:
        base.pop(name, None)
    return {**base, **GH_QUIET_ENV}


class GitHubForge(GitHubPulls):
    kind = "github"

    def __init__(self, repo: Repo, *, gh: str = "gh", env: Mapping[str, str] | None = None,
                 timeout: float = 60.0, backoff: Backoff = Backoff(),
                 pacer: Pacer | None = None, sleep: Sleep = asyncio.sleep) -> None:
        if not repo.github:
            raise UsageError(f"repo '{repo.name}' has no `github:` owner/name",
                             "add `github: OWNER/NAME` to the repo in coordinator.yml")
        self.repo = repo
        self.slug = repo.github
        self._gh = gh
        self._env = gh_environment(env)
        self._timeout = timeout
        self._backoff = backoff
        self._pacer = pacer or shared_pacer(gh, self._env.get("GH_HOST") or "github.com")
        self._sleep = sleep

    # --- issues ---------------------------------------------------------------------------------
    async def issue_view(self, number: int) -> Issue:
        data = await self._gh_json(f"view issue #{number}", "issue", "view", str(int(number)),
                                   "--repo", self.slug, "--json", ",".join(ISSUE_FIELDS))
        if not isinstance(data, dict):
            raise ForgeError(f"gh returned no issue object for #{number} in {self.slug}",
                             "run `gh issue view` by hand to see what it prints")
        return Issue.from_gh(data)

    async def issue_list(self, labels: Sequence[str] = (), state: str = "open",
                         limit: int = 100) -> list[Issue]:
        args = ["issue", "list", "--repo", self.slug, "--state", state, "--limit",
                str(int(limit)), "--json", ",".join(ISSUE_FIELDS)]
        for label in labels:
            args += ["--label", label]
        rows = await self._gh_json("list issues", *args)
        return sorted((Issue.from_gh(row) for row in rows or []), key=lambda i: i.number)

    async def issue_create(self, title: str, body: str, labels: Sequence[str] = ()) -> Issue:
        args = ["issue", "create", "--repo", self.slug, "--title", title, "--body-file", "-"]
        for label in labels:
            args += ["--label", label]
        result = await self._gh_ok("create an issue", *args, input=body.encode(), mutation=True)
        url = result.text.strip().splitlines()[-1]
        return Issue(number_from_url(url), title, body, tuple(labels), url, "OPEN")

    async def issue_append_body(self, number: int, text: str) -> Issue:
        issue = await self.issue_view(number)
        if text.strip() in issue.body:
            return issue
        body = (issue.body.rstrip("\n") + "\n\n" if issue.body.strip() else "") + text
        await self._gh_ok(f"edit issue #{number}", "issue", "edit", str(int(number)), "--repo",
                          self.slug, "--body-file", "-", input=body.encode(), mutation=True)
        return Issue(issue.number, issue.title, body, issue.labels, issue.url, issue.state)

    async def issue_close(self, number: int) -> None:
        await self._gh_ok(f"close issue #{number}", "issue", "close", str(int(number)), "--repo",
                          self.slug, mutation=True)

    async def issue_comment(self, number: int, body: str) -> Comment:
        result = await self._gh_ok(f"comment on issue #{number}", "issue", "comment",
                                   str(int(number)), "--repo", self.slug, "--body-file", "-",
                                   input=body.encode(), mutation=True)
        return comment_from_url(result.text, body)

    async def list_comments(self, number: int, *, pr: bool = False) -> list[Comment]:
        kind = "pr" if pr else "issue"
        data = await self._gh_json(f"read the comments of {kind} #{number}", kind, "view",
                                   str(int(number)), "--repo", self.slug, "--json", "comments")
        return [comment_from_gh(row) for row in (data or {}).get("comments") or []]

    async def find_comment(self, number: int, marker: str, *,
                           pr: bool = False) -> Comment | None:
        for comment in await self.list_comments(number, pr=pr):
            if marker in comment.body:
                return comment
        return None

    async def auth_status(self) -> bool:
        """True when gh has a working token for the repo's host (exit status only)."""
        host = self._env.get("GH_HOST") or "github.com"
        result = await self._exec("auth", "status", "--hostname", host)
        return result.returncode == 0

    async def version(self) -> tuple[int, ...]:
        result = await self._exec("--version")
        found = _VERSION.search(result.text)
        if result.returncode != 0 or not found:
            raise ForgeError(f"`{self._gh} --version` did not report a version",
                             "reinstall the GitHub CLI (https://cli.github.com)")
        return tuple(int(part) for part in found.groups())

    # --- plumbing -------------------------------------------------------------------------------
    async def _gh_json(self, action: str, *args: str, input: bytes | None = None) -> Any:
        result = await self._gh_ok(action, *args, input=input)
        try:
            return json.loads(result.stdout)
        except ValueError as exc:
            raise ForgeError(f"gh printed something that is not JSON while trying to {action} "
                             f"on {self.slug}", "check that `gh` is the GitHub CLI") from exc

    async def _gh_ok(self, action: str, *args: str, input: bytes | None = None,
                     mutation: bool = False) -> RunResult:
        """Run gh until it succeeds; a rate limit is retried `backoff.retries` times."""
        attempt = 0
        while True:
            if mutation:
                await self._pacer.wait()
            result = await self._exec(*args, input=input)
            if result.returncode == 0:
                return result
            error = translate(result.returncode, result.stderr_text, action=action,
                              repo=self.slug)
            if not isinstance(error, ForgeRateLimited) or attempt >= self._backoff.retries:
                raise error
            await self._sleep(self._backoff.delay(attempt))
            attempt += 1

    async def _exec(self, *args: str, input: bytes | None = None) -> RunResult:
        return await run_program(cmd(self._gh, *args), input=input, env=self._env,
                                 timeout=self._timeout, missing=lambda: missing_gh(self._gh))

    def __repr__(self) -> str:
        return f"GitHubForge({self.slug!r}, gh={self._gh!r})"
