"""GitHubForge: the only caller of `gh` in coordssh.

Every call is an argv (no shell) run with `--repo OWNER/NAME`, so gh never consults the cwd's
git remotes; stdin is closed, or carries a body for `--body-file -`. `--json` output is parsed,
failures are translated by `gh_errors.translate`. The environment is the caller's plus the
settings that keep gh non-interactive; tokens are passed through untouched and never logged.

Later issues add comments, pull requests and merges here: each is one method built on
`_gh` / `_gh_json`, the same way `issue_view` is.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from typing import Any

from coordssh.config.schema import Repo
from coordssh.errors import ForgeError, UsageError
from coordssh.forge.gh_errors import missing_gh, translate
from coordssh.forge.issue import ISSUE_FIELDS, Issue
from coordssh.forge.process import run_program
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


class GitHubForge:
    kind = "github"

    def __init__(self, repo: Repo, *, gh: str = "gh", env: Mapping[str, str] | None = None,
                 timeout: float = 60.0) -> None:
        if not repo.github:
            raise UsageError(f"repo '{repo.name}' has no `github:` owner/name",
                             "add `github: OWNER/NAME` to the repo in coordinator.yml")
        self.repo = repo
        self.slug = repo.github
        self._gh = gh
        self._env = gh_environment(env)
        self._timeout = timeout

    # --- reads ----------------------------------------------------------------------------------
    async def issue_view(self, number: int) -> Issue:
        data = await self._gh_json(f"view issue #{number}", "issue", "view", str(int(number)),
                                   "--repo", self.slug, "--json", ",".join(ISSUE_FIELDS))
        if not isinstance(data, dict):
            raise ForgeError(f"gh returned no issue object for #{number} in {self.slug}",
                             "run `gh issue view` by hand to see what it prints")
        return Issue.from_gh(data)

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

    async def _gh_ok(self, action: str, *args: str, input: bytes | None = None) -> RunResult:
        result = await self._exec(*args, input=input)
        if result.returncode != 0:
            raise translate(result.returncode, result.stderr_text, action=action, repo=self.slug)
        return result

    async def _exec(self, *args: str, input: bytes | None = None) -> RunResult:
        return await run_program(cmd(self._gh, *args), input=input, env=self._env,
                                 timeout=self._timeout, missing=lambda: missing_gh(self._gh))

    def __repr__(self) -> str:
        return f"GitHubForge({self.slug!r}, gh={self._gh!r})"
