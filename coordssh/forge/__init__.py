"""The forge of a repo: GitHub through `gh` (github.py), or plain git (git.py).

Both implement the `Forge` protocol (base.py), so services never ask which one they hold.
`forge_for` is the factory the composition root hands to the Context.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from coordssh.config.schema import Repo
from coordssh.forge.base import Forge
from coordssh.forge.git import GitForge, local_issue
from coordssh.forge.github import GitHubForge
from coordssh.forge.issue import Issue
from coordssh.forge.marker import marker, parse_markers, post_once
from coordssh.forge.pacing import Backoff, Pacer
from coordssh.forge.types import CheckSummary, Comment, PullRequest

__all__ = ["Backoff", "CheckSummary", "Comment", "Forge", "GitForge", "GitHubForge", "Issue", "Pacer", "PullRequest",
           "forge_for", "local_issue", "marker", "parse_markers", "post_once"]


def forge_for(repo: Repo, *, gh: str = "gh", env: Mapping[str, str] | None = None,
              path: Path | None = None, issues: Iterable[Issue] = (),
              state_dir: Path | None = None, origin: str | None = None,
              backoff: Backoff | None = None, pacer: Pacer | None = None) -> Forge:
    """GitHubForge when the repo names a `github:` owner/name (rate limits backed off per
    `backoff`, mutations paced by `pacer`: defaults 60 s doubling x3, 1/s per token), else
    GitForge (whose PRs, comments and reviews are kept under `state_dir`, merged by pushing to
    `origin`, or to the `origin` remote of the operator's clone at `path`)."""
    if repo.github:
        return GitHubForge(repo, gh=gh, env=env, backoff=backoff or Backoff(), pacer=pacer)
    return GitForge(repo, path, issues=issues, env=env, state_dir=state_dir, origin=origin)
