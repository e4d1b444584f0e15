"""Plain git on the operator's machine: repos without GitHub, and remote branch look-ups.

A plain-git repo has no issue tracker, so its "issues" are the ones the operator describes on
the command line (`--title`, `--briefing`): the caller registers them with `add_issue` (or passes
them in) and `issue_view` returns them, so dispatch treats both forges alike.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from coordssh.config.schema import Repo
from coordssh.errors import ForgeError, ForgeNotFound
from coordssh.forge.issue import Issue
from coordssh.forge.process import run_program
from coordssh.shell.command import cmd

_VERSION = re.compile(r"git version (\d+)\.(\d+)(?:\.(\d+))?")


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


class GitForge:
    kind = "git"

    def __init__(self, repo: Repo, path: Path | None = None, *, issues: Iterable[Issue] = (),
                 git: str = "git", env: Mapping[str, str] | None = None,
                 timeout: float = 60.0) -> None:
        self.repo = repo
        self.path = path
        self._issues = {issue.number: issue for issue in issues}
        self._git = git
        self._env = {**(os.environ if env is None else env), "GIT_TERMINAL_PROMPT": "0"}
        self._timeout = timeout

    def add_issue(self, issue: Issue) -> Issue:
        self._issues[issue.number] = issue
        return issue

    async def issue_view(self, number: int) -> Issue:
        try:
            return self._issues[int(number)]
        except KeyError:
            raise ForgeNotFound(
                f"repo '{self.repo.name}' has no GitHub, so issue #{number} is only known from "
                "the command line", "pass --title (and --briefing) to describe the work, or add "
                "`github: OWNER/NAME` to the repo in coordinator.yml") from None

    async def auth_status(self) -> bool:
        return True  # plain git needs no forge login; push credentials are the worker's

    async def version(self) -> tuple[int, ...]:
        result = await run_program(cmd(self._git, "--version"), env=self._env,
                                   timeout=self._timeout)
        found = _VERSION.search(result.text)
        if not found:
            raise ForgeError(f"`{self._git} --version` did not report a version", "reinstall git")
        return tuple(int(part or 0) for part in found.groups())

    async def remote_heads(self, *patterns: str, remote: str = "origin") -> dict[str, str]:
        """Branches on `remote` matching the glob `patterns` (e.g. `issue-7-*`) -> their shas.

        Runs in `path` (the operator's clone) so `origin` resolves; `remote` may also be a URL.
        """
        result = await run_program(cmd(self._git, "ls-remote", "--heads", remote, *patterns),
                                   env=self._env, cwd=self.path, timeout=self._timeout)
        if result.returncode != 0:
            raise ForgeError(f"`git ls-remote {remote}` failed for repo '{self.repo.name}': "
                             f"{result.stderr_text.strip()[:300]}",
                             "check that the remote exists and this machine can reach it")
        return parse_ls_remote(result.text)
