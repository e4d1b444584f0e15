"""The `Forge` interface every service holds: GitHub (`GitHubForge`) or plain git (`GitForge`).

Both implementations pass one contract suite (tests/test_forge_contract.py). Errors are the
ForgeError family of coordssh/errors.py: ForgeNotFound, ForgeAuthFailed, ForgeRateLimited (after
the forge's own bounded back-off), ForgeMissing, PullRequestRefused, MergeRefused(reason,
retryable), SelfReviewRefused.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:
    from coordssh.config.schema import Repo
    from coordssh.forge.issue import Issue
    from coordssh.forge.types import Comment, PullRequest

ReviewEvent = Literal["approve", "request_changes"]
MergeMethod = Literal["merge", "squash", "rebase"]


@runtime_checkable
class Forge(Protocol):
    kind: str                          # "github" | "git"
    repo: Repo

    # --- issues ---------------------------------------------------------------------------------
    async def issue_view(self, number: int) -> Issue: ...

    async def issue_list(self, labels: Sequence[str] = (), state: str = "open",
                         limit: int = 100) -> list[Issue]:
        """Issues carrying every label in `labels`; state open | closed | all. On GitHub a
        label filter reads the lagging search index: confirm with `issue_view`."""
        ...

    async def issue_create(self, title: str, body: str, labels: Sequence[str] = ()) -> Issue: ...

    async def issue_append_body(self, number: int, text: str) -> Issue:
        """Append `text` to the issue's body (never replaces it); no-op if already there."""
        ...

    async def issue_close(self, number: int) -> None:
        """Close the issue; closing a closed issue is fine."""
        ...

    # --- comments (on an issue, or on a PR with pr=True) ----------------------------------------
    async def issue_comment(self, number: int, body: str) -> Comment: ...

    async def pr_comment(self, number: int, body: str) -> Comment: ...

    async def list_comments(self, number: int, *, pr: bool = False) -> list[Comment]: ...

    async def find_comment(self, number: int, marker: str, *,
                           pr: bool = False) -> Comment | None:
        """The first comment whose body contains `marker`, or None."""
        ...

    # --- pull requests --------------------------------------------------------------------------
    async def pr_for_branch(self, branch: str) -> PullRequest | None:
        """The open PR whose head is `branch`, else the newest closed/merged one, else None."""
        ...

    async def pr_create(self, branch: str, base: str, title: str, body: str,
                        draft: bool = False) -> PullRequest:
        """Open a PR, or return the open one that already exists for `branch` into `base`.
        PullRequestRefused when the branch is not pushed or has no commits over `base`."""
        ...

    async def pr_view(self, number: int) -> PullRequest: ...

    async def open_pulls(self, limit: int = 200) -> list[PullRequest]:
        """The open PRs (number, state, head, url; the newest `limit`), in one call: what the
        driver compares its work items' PRs with (services/forge_watch.py)."""
        ...

    async def pr_close(self, number: int) -> None:
        """Close the PR without merging, its branch kept; closing a closed PR is fine.
        ForgeError for a merged one."""
        ...

    async def pr_review(self, number: int, event: ReviewEvent, body: str) -> None:
        """SelfReviewRefused when the forge will not take a review from the PR's author."""
        ...

    async def find_review(self, number: int, marker: str) -> Comment | None:
        """The first review of PR `number` whose body contains `marker`, or None."""
        ...

    async def pr_merge(self, number: int, method: MergeMethod = "merge",
                       head_sha: str | None = None, delete_branch: bool = True) -> PullRequest:
        """Merge (only if the head is still `head_sha`), delete the branch, return the PR as
        the forge sees it afterwards (state MERGED; OPEN if a merge queue took it)."""
        ...

    async def delete_branch(self, branch: str) -> bool:
        """Delete the branch on origin; False if it was already gone."""
        ...
