"""Where a work item's comments go: the `Notifier` protocol and its two implementations.

    result = await notifier.post(item, event_kind, body, dedupe_key, marker)
    result.state in ("posted", "already", "failed")

Every body carries its hidden `marker` (an HTML comment naming the event, the work item, the
run and the SHA, LESSONS 17). `post` looks for the marker on the issue first, so a comment that
was posted but never recorded (a crash in between) is found, not posted twice: `already`.
Recording the dedupe key on the board is the caller's (services/notify_comments.py), and only
after `posted` or `already`.

  GhNotifier     a GitHub repo: `gh issue view N --json comments` (look), `gh issue comment N
                 --body-file -` (post; the body is stdin, never argv), through forge/process.py
  LocalNotifier  a plain-git repo (no issue tracker): comments kept in a JSON file in the state
                 directory (`comments.json`: {"repo#issue": [{"body", "at"}]}), which the
                 operator can read; written atomically under a file lock
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from coordssh.errors import (CoordError, ForgeAuthFailed, ForgeError, ForgeMissing,
                             ForgeRateLimited, ForgeUnreachable)
from coordssh.forge.gh_errors import missing_gh, translate
from coordssh.forge.process import run_program
from coordssh.shell.command import cmd

if TYPE_CHECKING:
    from coordssh.config.schema import Repo
    from coordssh.domain.work import WorkItem
    from coordssh.services.context import Context

POSTED, ALREADY, FAILED = "posted", "already", "failed"
COMMENTS_FILE = "comments.json"


def marker(event: str, work: str, run: str = "", sha: str = "") -> str:
    """The hidden, stable marker of one comment (the same on every coordinator machine)."""
    return f"<!-- coordssh:{event} work={work} run={run or '-'} sha={(sha or '-')[:12]} -->"


@dataclass(frozen=True)
class PostResult:
    state: str          # posted | already | failed
    detail: str = ""    # the comment's URL, or what failed
    calls: int = 0      # forge calls made
    transient: bool = False     # failed because gh itself fails (rate limit, network, token),
                                # not because of this comment: no use trying more now


class Notifier(Protocol):
    async def post(self, item: WorkItem, event_kind: str, body: str, dedupe_key: str,
                   marker: str) -> PostResult: ...


def gh_is_failing(err: CoordError) -> bool:
    """The failure says nothing about the comment: gh cannot reach GitHub, is rate-limited, has
    no valid token, is missing or timed out. Waiting (or the operator) fixes it."""
    return isinstance(err, (ForgeRateLimited, ForgeAuthFailed, ForgeMissing, ForgeUnreachable))


def with_marker(body: str, mark: str) -> str:
    return f"{body.rstrip()}\n\n{mark}\n"


class GhNotifier:
    """Comments on a GitHub issue through `gh` (argv only, the body on stdin)."""

    def __init__(self, slug: str, *, gh: str = "gh", env: Mapping[str, str] | None = None,
                 timeout: float = 60.0) -> None:
        self.slug, self._gh, self._timeout = slug, gh, timeout
        self._env = dict(os.environ if env is None else env)

    async def post(self, item: WorkItem, event_kind: str, body: str, dedupe_key: str,
                   marker: str) -> PostResult:
        try:
            if await self._has_marker(item.issue, marker):
                return PostResult(ALREADY, "marker found on the issue", 1)
            url = await self._gh_ok(f"comment on issue #{item.issue}", "issue", "comment",
                                    str(item.issue), "--repo", self.slug, "--body-file", "-",
                                    input=with_marker(body, marker).encode("utf-8"))
            return PostResult(POSTED, url.strip(), 2)
        except CoordError as err:
            return PostResult(FAILED, err.message, 2, transient=gh_is_failing(err))

    async def _has_marker(self, number: int, mark: str) -> bool:
        out = await self._gh_ok(f"view the comments of issue #{number}", "issue", "view",
                                str(number), "--repo", self.slug, "--json", "comments")
        try:
            comments = json.loads(out).get("comments") or []
        except (ValueError, AttributeError):
            raise ForgeError(f"gh printed no comments list for issue #{number} in {self.slug}",
                             "run `gh issue view N --json comments` by hand") from None
        return any(mark in str(c.get("body", "")) for c in comments if isinstance(c, dict))

    async def _gh_ok(self, action: str, *args: str, input: bytes | None = None) -> str:
        result = await run_program(cmd(self._gh, *args), input=input, env=self._env,
                                   timeout=self._timeout, missing=lambda: missing_gh(self._gh))
        if result.returncode != 0:
            raise translate(result.returncode, result.stderr_text, action=action,
                            repo=self.slug)
        return result.text


class LocalNotifier:
    """Comments of plain-git repos, kept in `<state_dir>/comments.json`."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    async def post(self, item: WorkItem, event_kind: str, body: str, dedupe_key: str,
                   marker: str) -> PostResult:
        import filelock

        try:
            with filelock.FileLock(str(self.path) + ".lock", timeout=30):
                data = self.read()
                thread = data.setdefault(item.key, [])
                if any(marker in c.get("body", "") for c in thread):
                    return PostResult(ALREADY, "marker found in " + self.path.name, 1)
                thread.append({"body": with_marker(body, marker), "event": event_kind})
                _write_atomic(self.path, data)
        except (OSError, filelock.Timeout) as err:
            return PostResult(FAILED, f"cannot write {self.path}: {err}", 1)
        return PostResult(POSTED, f"{self.path}#{item.key}", 1)

    def read(self) -> dict[str, list[dict[str, Any]]]:
        try:
            return json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}


def _write_atomic(path: Path, data: Any) -> None:
    from coordssh.board.storage import write_json_atomic

    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_json_atomic(path, data)


def notifier_for(ctx: Context, repo: Repo) -> Notifier:
    """`ctx.extras["notifier_for"](repo)` when a caller passes one in; else gh for a GitHub repo
    (with the gh and environment of the repo's forge), the local file for a plain-git one."""
    chosen = ctx.extras.get("notifier_for")
    if chosen is not None:
        return chosen(repo)
    if not repo.github:
        return LocalNotifier(ctx.config.state_dir / COMMENTS_FILE)
    forge = ctx.forge(repo)
    return GhNotifier(repo.github, gh=getattr(forge, "_gh", "gh"), env=getattr(forge, "_env", None))
