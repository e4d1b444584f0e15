"""The forge of a repo: GitHub through `gh` (github.py), or plain git (git.py).

Both offer the same calls (`issue_view`, `auth_status`, `version`), so services never ask which
one they hold. `forge_for` is the factory the composition root hands to the Context.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from coordssh.config.schema import Repo
from coordssh.forge.git import GitForge, local_issue
from coordssh.forge.github import GitHubForge
from coordssh.forge.issue import Issue

__all__ = ["GitForge", "GitHubForge", "Issue", "forge_for", "local_issue"]


def forge_for(repo: Repo, *, gh: str = "gh", env: Mapping[str, str] | None = None,
              path: Path | None = None, issues: Iterable[Issue] = ()) -> GitHubForge | GitForge:
    """GitHubForge when the repo names a `github:` owner/name, else GitForge."""
    if repo.github:
        return GitHubForge(repo, gh=gh, env=env)
    return GitForge(repo, path, issues=issues, env=env)
