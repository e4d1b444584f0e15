"""Merging a plain-git pull request, for real.

In the scratch repository (git_pulls.py): `git merge-tree --write-tree` + `commit-tree` for a
merge commit or a squash, a temporary worktree for a rebase; the result is pushed to origin's
base branch as a plain fast-forward push, so a base that moved meanwhile refuses the push
(MergeRefused `base_modified`, retryable) instead of losing anyone's work. Then the branch is
deleted and, on the default branch, the issues the body `Closes #N` are closed, as on GitHub.
A mixin of GitForge, after GitPulls.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from coordssh.errors import MergeRefused
from coordssh.forge.git_pulls import GitPulls, now
from coordssh.forge.types import PullRequest

CLOSES = re.compile(r"(?i)\b(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?)\s+#(\d+)\b")
_HINT = "see `coordssh merge --dry-run` for the gate that holds it back"


def merge_refusal(pr: PullRequest, head_sha: str | None, repo: str) -> MergeRefused | None:
    """Why a plain-git PR may not be merged now (the checks gh and GitHub make), or None."""
    name = f"pull request #{pr.number} of '{repo}'"
    if pr.state == "CLOSED":
        return MergeRefused(f"{name} is closed (its branch {pr.head} is gone from origin)",
                            "push the branch again, or open a new PR", "closed")
    if pr.draft:
        return MergeRefused(f"{name} is still a draft", _HINT, "draft")
    if head_sha and not pr.head_sha.startswith(head_sha):
        return MergeRefused(f"{name}: the head is {pr.head_sha[:7]}, not {head_sha[:7]}",
                            "test and review the new head first", "head_changed")
    if pr.mergeable == "CONFLICTING":
        return MergeRefused(f"{name} conflicts with {pr.base} in {', '.join(pr.conflicts)}",
                            "merge the base into the branch and resolve", "conflict")
    if pr.mergeable != "MERGEABLE":
        return MergeRefused(f"{name}: its base {pr.base} is not on origin", _HINT,
                            "not_mergeable")
    return None



class GitMerges(GitPulls):
    def _all_issues(self) -> dict[int, Any]: ...

    async def issue_close(self, number: int) -> None: ...

    async def pr_merge(self, number: int, method: str = "merge", head_sha: str | None = None,
                       delete_branch: bool = True) -> PullRequest:
        if method not in ("merge", "squash", "rebase"):
            raise ValueError(f"merge method must be merge, squash or rebase, not {method!r}")
        pr = await self.pr_view(number)
        if pr.state == "MERGED":
            return pr
        refused = merge_refusal(pr, head_sha, self.repo.name)
        if refused is not None:
            raise refused
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
