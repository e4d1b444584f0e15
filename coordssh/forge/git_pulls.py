"""Pull requests of a plain-git repo: the PR is the branch itself on `origin`.

The PR's record (number, head, base, title, body, state) is kept in the forge store; every
look at it fetches origin's branches into a private bare scratch repository
(`<state_dir>/forge/<repo>.git`) where `git merge-tree --write-tree` says whether it merges and
which files conflict. Merging happens there with plumbing (merge-tree + commit-tree; a rebase in
a temporary worktree) and the result is pushed to origin's base branch as a fast-forward, so a
base that moved meanwhile refuses the push instead of losing work. A mixin of GitForge.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from coordssh.errors import ForgeError, ForgeNotFound, MergeRefused, PullRequestRefused
from coordssh.forge.types import CheckSummary, PullRequest

CLOSES = re.compile(r"(?i)\b(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?)\s+#(\d+)\b")
_HINT = "see `coordssh merge --dry-run` for the gate that holds it back"


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

    def _all_issues(self) -> dict[int, Any]: ...

    async def _run(self, *argv: str, cwd: Path | str | None = None) -> Any: ...

    async def issue_close(self, number: int) -> None: ...

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
        else:
            where = Path(getattr(self, "_tmp", None) or tempfile.mkdtemp(prefix="coordssh-forge-"))
            self._tmp = str(where)
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
        head_sha, mergeable, conflicts, adds, dels = rec.get("head_sha", ""), "UNKNOWN", (), 0, 0
        if rec["state"] == "OPEN":
            where = await self._sync()
            head_sha = await self._sha(where, rec["head"]) or head_sha
            if await self._sha(where, rec["head"]) and await self._sha(where, rec["base"]):
                tree, conflicts = await self._merge_tree(where, rec["base"], rec["head"])
                mergeable = "MERGEABLE" if tree else "CONFLICTING"
                adds, dels = await self._numstat(where, rec["base"], rec["head"])
        else:
            adds, dels = rec.get("additions", 0), rec.get("deletions", 0)
        state = {"MERGEABLE": "CLEAN", "CONFLICTING": "DIRTY"}.get(mergeable, "UNKNOWN")
        if rec["state"] == "OPEN" and rec.get("draft"):
            state = "DRAFT"
        return PullRequest(
            number=int(number), state=rec["state"], url=rec.get("url", ""), title=rec["title"],
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

    async def delete_branch(self, branch: str) -> bool:
        origin = await self._origin_url()
        heads = await self._run(self._git, "ls-remote", "--heads", origin, f"refs/heads/{branch}")
        if not heads.text.strip():
            return False
        await self._git_ok(await self._scratch(), "push", "-q", origin, "--delete", branch)
        return True

    async def pr_merge(self, number: int, method: str = "merge", head_sha: str | None = None,
                       delete_branch: bool = True) -> PullRequest:
        if method not in ("merge", "squash", "rebase"):
            raise ValueError(f"merge method must be merge, squash or rebase, not {method!r}")
        pr = await self.pr_view(number)
        if pr.state == "MERGED":
            return pr
        self._refuse_unless_mergeable(pr, head_sha)
        where = await self._scratch()
        base_sha = await self._sha(where, pr.base)
        new = await self._merged_commit(where, pr, base_sha, method)
        pushed = await self._run(self._git, "push", "-q", await self._origin_url(),
                                 f"{new}:refs/heads/{pr.base}", cwd=where)
        if pushed.returncode != 0:
            raise MergeRefused(f"{pr.base} moved while merging pull request #{number} of "
                               f"'{self.repo.name}'", "ask again: the queue re-checks it",
                               "base_modified", retryable=True)
        with self.store.edit() as data:
            data["pulls"][str(int(number))].update(
                state="MERGED", merge_sha=new, head_sha=pr.head_sha, merged_at=now(),
                additions=pr.additions, deletions=pr.deletions)
        if delete_branch:
            await self.delete_branch(pr.head)
        if pr.base == self.repo.default_branch:
            for ref in CLOSES.findall(self._record(number).get("body", "")):
                if int(ref) in self._all_issues():
                    await self.issue_close(int(ref))
        return await self.pr_view(number)

    def _refuse_unless_mergeable(self, pr: PullRequest, head_sha: str | None) -> None:
        name = f"pull request #{pr.number} of '{self.repo.name}'"
        if pr.state == "CLOSED":
            raise MergeRefused(f"{name} is closed", "open a new one", "closed")
        if pr.draft:
            raise MergeRefused(f"{name} is still a draft", _HINT, "draft")
        if head_sha and not pr.head_sha.startswith(head_sha):
            raise MergeRefused(f"{name}: the head is {pr.head_sha[:7]}, not {head_sha[:7]}",
                               "test and review the new head first", "head_changed")
        if pr.mergeable == "CONFLICTING":
            raise MergeRefused(f"{name} conflicts with {pr.base} in {', '.join(pr.conflicts)}",
                               "merge the base into the branch and resolve", "conflict")
        if pr.mergeable != "MERGEABLE":
            raise MergeRefused(f"{name}: its branch {pr.head} is not on origin", _HINT,
                               "not_mergeable")

    async def _merged_commit(self, where: Path, pr: PullRequest, base_sha: str,
                             method: str) -> str:
        if method == "rebase":
            return await self._rebased(where, base_sha, pr.head_sha)
        tree, _ = await self._merge_tree(where, base_sha, pr.head_sha)
        if method == "merge":
            message = f"Merge branch '{pr.head}' (#{pr.number})\n\n{pr.title}"
            parents = ["-p", base_sha, "-p", pr.head_sha]
        else:
            log = await self._git_ok(where, "log", "--format=* %s", f"{base_sha}..{pr.head_sha}")
            message = f"{pr.title} (#{pr.number})\n\n{log}"
            parents = ["-p", base_sha]
        return (await self._git_ok(where, "commit-tree", tree, *parents, "-m", message)).strip()

    async def _rebased(self, where: Path, base_sha: str, head_sha: str) -> str:
        """The head's commits replayed onto the base, in a temporary worktree."""
        tmp = tempfile.mkdtemp(prefix="coordssh-rebase-")
        try:
            await self._git_ok(where, "worktree", "add", "-q", "--detach", tmp, head_sha)
            done = await self._run(self._git, "rebase", "-q", base_sha, cwd=tmp)
            if done.returncode != 0:
                await self._run(self._git, "rebase", "--abort", cwd=tmp)
                raise MergeRefused(f"the commits of {head_sha[:7]} do not rebase cleanly onto "
                                   f"{base_sha[:7]}", "merge with --method merge or squash",
                                   "conflict")
            return (await self._git_ok(tmp, "rev-parse", "HEAD")).strip()
        finally:
            await self._run(self._git, "worktree", "remove", "--force", tmp, cwd=where)
            shutil.rmtree(tmp, ignore_errors=True)
            await self._run(self._git, "worktree", "prune", cwd=where)
