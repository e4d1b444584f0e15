"""Pull requests of a plain-git repo: the PR is the branch itself on `origin`.

The PR's record (number, head, base, title, body, state) is kept in the forge store; every
look at it fetches origin's branches into a private bare scratch repository
(`<state_dir>/forge/<repo>.git`) where `git merge-tree --write-tree` says whether it merges and
which files conflict. Merging is in `git_merge.py`. A mixin of GitForge.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from coordssh.errors import ForgeError, ForgeNotFound, PullRequestRefused
from coordssh.forge.types import CheckSummary, Comment, PullRequest

def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class GitPulls:
    # provided by GitForge
    repo: Any
    store: Any
    path: Path | None
    _git: str
    _origin: str | None
    _state_dir: Path | None
    _issues: dict[int, Any]

    async def _run(self, *argv: str, cwd: Path | str | None = None) -> Any: ...

    # --- the scratch repository -----------------------------------------------------------------
    async def _origin_url(self) -> str:
        if self._origin:
            return self._origin
        if self.path is not None:
            found = await self._run(self._git, "remote", "get-url", "origin", cwd=self.path)
            if found.returncode == 0 and found.text.strip():
                self._origin = found.text.strip()
                return self._origin
        raise ForgeError(f"repo '{self.repo.name}' has no origin to open pull requests on",
                         "give the operator's clone an `origin` remote (plain-git repos merge "
                         "by pushing to it)")

    async def _scratch(self) -> Path:
        if self._state_dir is not None:
            where = self._state_dir / "forge" / f"{self.repo.name}.git"
        else:  # no state dir: a scratch repo that lives (and is removed) with this object
            if getattr(self, "_tmp", None) is None:
                self._tmp = tempfile.TemporaryDirectory(prefix="coordssh-forge-")
            where = Path(self._tmp.name) / "scratch.git"
        if not (where / "HEAD").exists():
            where.mkdir(parents=True, exist_ok=True, mode=0o700)
            await self._git_ok(where, "init", "-q", "--bare")
        return where

    async def _sync(self) -> Path:
        """Fetch origin's branches into the scratch repo (pruning deleted ones)."""
        where = await self._scratch()
        await self._git_ok(where, "fetch", "-q", "--prune", await self._origin_url(),
                           "+refs/heads/*:refs/heads/*")
        return where

    async def _git_ok(self, where: Path | str, *args: str) -> str:
        result = await self._run(self._git, *args, cwd=where)
        if result.returncode != 0:
            raise ForgeError(f"`git {' '.join(args[:3])}` failed for repo '{self.repo.name}': "
                             f"{result.stderr_text.strip()[:300]}",
                             "check that origin exists and this machine can reach it")
        return result.text

    async def _sha(self, where: Path, branch: str) -> str:
        found = await self._run(self._git, "rev-parse", "--verify", "-q",
                                f"refs/heads/{branch}^{{commit}}", cwd=where)
        return found.text.strip() if found.returncode == 0 else ""

    async def _merge_tree(self, where: Path, base: str, head: str) -> tuple[str, tuple[str, ...]]:
        """(tree, ()) when head merges cleanly into base, else ("", conflicting files)."""
        found = await self._run(self._git, "merge-tree", "--write-tree", "--name-only",
                                "--no-messages", base, head, cwd=where)
        lines = found.text.splitlines()
        if found.returncode == 0:
            return lines[0], ()
        if found.returncode == 1:
            return "", tuple(lines[1:])
        raise ForgeError(f"`git merge-tree` failed for repo '{self.repo.name}': "
                         f"{found.stderr_text.strip()[:300]}", "git 2.38 or newer is needed")

    # --- pull requests --------------------------------------------------------------------------
    def _record(self, number: int) -> dict[str, Any]:
        rec = self.store.read()["pulls"].get(str(int(number)))
        if rec is None:
            raise ForgeNotFound(f"pull request #{number} not found for repo '{self.repo.name}'",
                                "`coordssh pr ID` opens one for a work item's branch")
        return rec

    async def pr_view(self, number: int) -> PullRequest:
        rec = self._record(number)
        head_sha, mergeable, conflicts = rec.get("head_sha", ""), "UNKNOWN", ()
        adds, dels, pr_state = rec.get("additions", 0), rec.get("deletions", 0), rec["state"]
        if pr_state == "OPEN":
            where = await self._sync()
            head_sha = await self._sha(where, rec["head"])
            if not head_sha:  # the branch is gone from origin: closed, as GitHub does
                head_sha, pr_state = rec.get("head_sha", ""), "CLOSED"
            elif await self._sha(where, rec["base"]):
                tree, conflicts = await self._merge_tree(where, rec["base"], rec["head"])
                mergeable = "MERGEABLE" if tree else "CONFLICTING"
                adds, dels = await self._numstat(where, rec["base"], rec["head"])
        state = {"MERGEABLE": "CLEAN", "CONFLICTING": "DIRTY"}.get(mergeable, "UNKNOWN")
        if pr_state == "OPEN" and rec.get("draft"):
            state = "DRAFT"
        return PullRequest(
            number=int(number), state=pr_state, url=rec.get("url", ""), title=rec["title"],
            head=rec["head"], base=rec["base"], head_sha=head_sha, mergeable=mergeable,
            merge_state=state, checks=CheckSummary(), review_decision=self._decision(number),
            draft=bool(rec.get("draft")), additions=adds, deletions=dels,
            created_at=rec.get("created_at", ""), conflicts=tuple(conflicts))

    def _decision(self, number: int) -> str:
        reviews = self.store.read()["reviews"].get(str(int(number)), [])
        return {"approve": "APPROVED", "request_changes": "CHANGES_REQUESTED"}.get(
            reviews[-1]["event"], "") if reviews else ""

    async def _numstat(self, where: Path, base: str, head: str) -> tuple[int, int]:
        text = await self._git_ok(where, "diff", "--numstat", f"{base}...{head}")
        adds = dels = 0
        for line in text.splitlines():
            add, dele, _ = line.split("\t", 2)
            adds += int(add) if add.isdigit() else 0
            dels += int(dele) if dele.isdigit() else 0
        return adds, dels

    async def open_pulls(self, limit: int = 200) -> list[PullRequest]:
        """The PRs recorded open whose branch is still on origin (one fetch)."""
        pulls = sorted(((int(n), rec) for n, rec in self.store.read()["pulls"].items()
                        if rec["state"] == "OPEN"), key=lambda pair: -pair[0])[: int(limit)]
        if not pulls:
            return []
        where = await self._sync()
        found = []
        for number, rec in pulls:
            sha = await self._sha(where, rec["head"])
            if sha:
                found.append(PullRequest(number=number, state="OPEN", url=rec.get("url", ""),
                                         title=rec["title"], head=rec["head"], base=rec["base"],
                                         head_sha=sha))
        return found

    async def pr_close(self, number: int) -> None:
        rec = self._record(number)
        if rec["state"] == "MERGED":
            raise ForgeError(f"pull request #{number} of repo '{self.repo.name}' can't be "
                             "closed because it was already merged", "nothing to close")
        if rec["state"] == "OPEN":
            with self.store.edit() as data:
                data["pulls"][str(int(number))]["state"] = "CLOSED"

    async def pr_for_branch(self, branch: str) -> PullRequest | None:
        rows = [(rec["state"] == "OPEN", int(n))
                for n, rec in self.store.read()["pulls"].items() if rec["head"] == branch]
        return await self.pr_view(max(rows)[1]) if rows else None

    async def pr_create(self, branch: str, base: str, title: str, body: str,
                        draft: bool = False) -> PullRequest:
        for n, rec in self.store.read()["pulls"].items():
            if rec["head"] == branch and rec["base"] == base and rec["state"] == "OPEN":
                return await self.pr_view(int(n))
        where = await self._sync()
        if not await self._sha(where, branch):
            raise PullRequestRefused(f"branch {branch} is not on origin of repo "
                                     f"'{self.repo.name}'", "push the branch first", "no_branch")
        ahead = await self._git_ok(where, "rev-list", "--count", f"{base}..{branch}")
        if ahead.strip() == "0":
            raise PullRequestRefused(f"branch {branch} has no commits over {base} in repo "
                                     f"'{self.repo.name}'", "push commits first", "no_commits")
        with self.store.edit() as data:
            taken = [*map(int, data["issues"]), *map(int, data["pulls"]), *self._issues]
            number = max(taken, default=0) + 1
            data["pulls"][str(number)] = {
                "head": branch, "base": base, "title": title, "body": body, "state": "OPEN",
                "draft": bool(draft), "created_at": now(), "head_sha": await self._sha(where, branch),
                "url": f"{await self._origin_url()}#pull/{number}"}
        return await self.pr_view(number)

    async def pr_review(self, number: int, event: str, body: str) -> None:
        if event not in ("approve", "request_changes"):
            raise ValueError(f"review event must be approve or request_changes, not {event!r}")
        pr = await self.pr_view(number)
        with self.store.edit() as data:
            data["reviews"].setdefault(str(int(number)), []).append(
                {"event": event, "body": body, "sha": pr.head_sha, "created_at": now()})

    async def find_review(self, number: int, marker: str) -> Comment | None:
        reviews = self.store.read()["reviews"].get(str(int(number)), [])
        return next((Comment(id=f"review-{i}", body=r["body"], created_at=r["created_at"])
                     for i, r in enumerate(reviews, 1) if marker in r.get("body", "")), None)

    async def delete_branch(self, branch: str) -> bool:
        origin = await self._origin_url()
        heads = await self._run(self._git, "ls-remote", "--heads", origin, f"refs/heads/{branch}")
        if not heads.text.strip():
            return False
        await self._git_ok(await self._scratch(), "push", "-q", origin, "--delete", branch)
        return True
