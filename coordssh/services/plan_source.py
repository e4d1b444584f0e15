"""Where `plan` gets its candidate issues: `IssueSource`, and the gh adapter behind it.

`candidates(repo)` is ONE `gh issue list --state open` per repo (no `--label`: a label filter
goes through GitHub's lagging search index, contract §2.1; intake filters the labels here);
`confirm(repo, number)` is `gh issue view`, asked only for the issues a plan proposes.
At most AT_ONCE calls run at once. Each call is an argv run by the forge's process runner with the forge's quiet environment and
error translation. A gh (or a stand-in) that does not know the `milestone` field is asked again
without it, once per source: milestones then order nothing.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any, Protocol

from coordssh.config.schema import Repo
from coordssh.domain.schedule import Candidate
from coordssh.errors import ForgeError
from coordssh.forge.gh_errors import missing_gh, translate
from coordssh.forge.github import gh_environment
from coordssh.forge.process import run_program
from coordssh.shell.command import cmd

FIELDS = ("number", "title", "labels", "milestone", "createdAt", "body", "state")
AT_ONCE = 4    # gh calls of one source at a time: one token, GitHub's secondary rate limits


class IssueSource(Protocol):
    async def candidates(self, repo: Repo, limit: int) -> list[Candidate]: ...

    async def confirm(self, repo: Repo, number: int) -> Candidate | None:
        """The issue as it is now; None when it is no longer open."""
        ...


def candidate_from_gh(repo: str, data: Mapping[str, Any]) -> Candidate:
    milestone = data.get("milestone") or {}
    title = str(milestone.get("title") or "") or None
    due = str(milestone.get("dueOn") or "") or None
    if due and due.startswith("0001-"):
        due = None                   # gh prints Go's zero time for "no due date"
    return Candidate(repo=repo, number=int(data["number"]), title=str(data.get("title") or ""),
                     labels=tuple(str(lb["name"]) for lb in data.get("labels") or ()),
                     milestone=title, milestone_due=due,
                     created_at=str(data.get("createdAt") or ""),
                     body=str(data.get("body") or ""))


class GhIssueSource:
    """Open issues of GitHub repos through `gh`; counts its calls (`calls`)."""

    def __init__(self, *, gh: str = "gh", env: Mapping[str, str] | None = None,
                 timeout: float = 120.0, fields: tuple[str, ...] = FIELDS) -> None:
        self._gh = gh
        self._env = gh_environment(env)
        self._timeout = timeout
        self._fields = fields
        self._gate = asyncio.Semaphore(AT_ONCE)
        self.calls: list[str] = []

    async def candidates(self, repo: Repo, limit: int) -> list[Candidate]:
        rows = await self._json(repo, "list open issues", "issue", "list", "--repo", repo.github,
                                "--state", "open", "--limit", str(int(limit)))
        if not isinstance(rows, list):
            raise ForgeError(f"gh printed no issue list for {repo.github}",
                             "run `gh issue list` by hand to see what it prints")
        return [candidate_from_gh(repo.name, row) for row in rows]

    async def confirm(self, repo: Repo, number: int) -> Candidate | None:
        data = await self._json(repo, f"view issue #{number}", "issue", "view", str(int(number)),
                                "--repo", repo.github)
        if not isinstance(data, dict):
            raise ForgeError(f"gh returned no issue object for #{number} in {repo.github}",
                             "run `gh issue view` by hand to see what it prints")
        return candidate_from_gh(repo.name, data) if data.get("state", "OPEN") == "OPEN" else None

    async def _json(self, repo: Repo, action: str, *args: str) -> Any:
        async with self._gate:
            return await self._json_now(repo, action, *args)

    async def _json_now(self, repo: Repo, action: str, *args: str) -> Any:
        while True:
            self.calls.append(" ".join(args[:2]))
            result = await run_program(cmd(self._gh, *args, "--json", ",".join(self._fields)),
                                       env=self._env, timeout=self._timeout,
                                       missing=lambda: missing_gh(self._gh))
            if result.returncode == 0:
                break
            if "milestone" in self._fields and 'Unknown JSON field: "milestone"' in result.stderr_text:
                self._fields = tuple(f for f in self._fields if f != "milestone")
                continue
            raise translate(result.returncode, result.stderr_text, action=action,
                            repo=repo.github or repo.name)
        try:
            return json.loads(result.stdout)
        except ValueError as exc:
            raise ForgeError(f"gh printed something that is not JSON while trying to {action} "
                             f"on {repo.github}", "check that `gh` is the GitHub CLI") from exc
