"""Turn a failed `gh` call (exit status + stderr) into a ForgeError. Pure: no I/O.

The texts matched here are the substrings listed in /work/shared/contracts/gh.md (§1, §2.2, §7);
they are the same in gh 2.23 and current gh. Exit 4 means "no token at all".
"""

from __future__ import annotations

import re

from coordssh.errors import (ForgeAuthFailed, ForgeError, ForgeMissing, ForgeNotFound,
                             ForgeRateLimited, ForgeUnreachable, MergeRefused,
                             PullRequestRefused, SelfReviewRefused)

AUTH_HINT = "run `gh auth login` on this machine (or set GH_TOKEN), then `gh auth status`"
RATE_HINT = ("GitHub is rate-limiting this token: wait a few minutes before retrying "
             "(coordssh backs off at least 60 s); fewer parallel gh calls help")
INSTALL_HINT = ("install the GitHub CLI (https://cli.github.com; Debian/Ubuntu: `apt install gh`), "
                "or drop `github:` from the repo in coordinator.yml to use plain git")

RATE_LIMIT_TEXTS = ("secondary rate limit", "rate limit exceeded", "was submitted too quickly",
                    "HTTP 429")
_RESOLVE = re.compile(r"Could not resolve to (?:an? )?(?P<what>[\w ]+?) with the "
                      r"(?:number of|name) '?(?P<key>[^']+?)'?\.")


def translate(returncode: int, stderr: str, *, action: str, repo: str) -> ForgeError:
    """The error for `gh` exiting `returncode` with `stderr` while doing `action` on `repo`."""
    text = stderr.strip()
    first = _first_line(text)
    if returncode == 4 or ("gh auth login" in text and "Bad credentials" not in text):
        return ForgeAuthFailed(f"gh is not logged in to GitHub ({action} on {repo})", AUTH_HINT)
    if "Bad credentials" in text or "HTTP 401" in text:
        return ForgeAuthFailed(f"gh's GitHub token was refused (HTTP 401 Bad credentials) while "
                               f"trying to {action} on {repo}", AUTH_HINT)
    if any(marker.lower() in text.lower() for marker in RATE_LIMIT_TEXTS):
        return ForgeRateLimited(f"GitHub rate limit hit while trying to {action} on {repo}: {first}",
                                RATE_HINT)
    refused = _refusal(text, first, action=action, repo=repo)
    if refused is not None:
        return refused
    found = _RESOLVE.search(text)
    if found:
        return _not_found(found.group("what"), found.group("key"), action=action, repo=repo)
    if "error connecting to" in text:
        return ForgeUnreachable(f"gh could not reach GitHub while trying to {action} on "
                                f"{repo}", "check the network connection "
                                           "(https://githubstatus.com)")
    return ForgeError(f"gh failed (exit {returncode}) while trying to {action} on {repo}"
                      + (f": {first}" if first else ""),
                      "run the same gh command by hand to see the whole error")


# substring -> (MergeRefused reason, retryable); the first that matches wins
_MERGE_TEXTS = (("Head branch was modified", "head_changed", False),
                ("Base branch was modified", "base_modified", True),
                ("still a draft", "draft", False),
                ("Pull Request is closed", "closed", False),
                ("cannot be cleanly created", "conflict", False),
                ("base branch policy prohibits", "policy", False),
                ("not up to date with the base branch", "behind", False),
                ("is not mergeable", "not_mergeable", True))
_MERGE_HINT = "see `coordssh merge --dry-run` for the gate that holds it back"


def _refusal(text: str, first: str, *, action: str, repo: str) -> ForgeError | None:
    """The typed refusals of pr create / pr review / pr merge (contract §3.1, §3.4)."""
    if "your own pull request" in text:
        return SelfReviewRefused(f"GitHub refused to {action} on {repo}: the PR's author cannot "
                                 "review it", "the review is posted as a PR comment instead")
    if "Head ref must be a branch" in text or "Head sha can't be blank" in text:
        return PullRequestRefused(f"cannot {action} on {repo}: the branch is not on GitHub",
                                  "push the branch first", "no_branch")
    if "No commits between" in text:
        return PullRequestRefused(f"cannot {action} on {repo}: the branch has no commits over "
                                  "its base", "push commits to the branch first", "no_commits")
    for needle, reason, retryable in _MERGE_TEXTS:
        if needle in text:
            return MergeRefused(f"GitHub refused to {action} on {repo}: {first.lstrip('X ')}",
                                _MERGE_HINT, reason, retryable)
    return None


def _not_found(what: str, key: str, *, action: str, repo: str) -> ForgeNotFound:
    what = what.lower()
    if what == "repository":
        return ForgeNotFound(f"GitHub repository {repo} not found (or this token cannot see it)",
                             "check `github:` for this repo in coordinator.yml and the token's access")
    if what.startswith("pull"):
        return ForgeNotFound(f"pull request #{key} not found in {repo}",
                             f"list the open ones with `gh pr list --repo {repo}`")
    return ForgeNotFound(f"issue #{key} not found in {repo}",
                         f"check the number; list open issues with `gh issue list --repo {repo}`")


def _first_line(text: str) -> str:
    return text.splitlines()[0].strip() if text else ""


def missing_gh(gh: str) -> ForgeError:
    return ForgeMissing(f"the GitHub CLI `{gh}` was not found on this machine", INSTALL_HINT)
