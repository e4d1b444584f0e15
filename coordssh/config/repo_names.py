"""GitHub `owner/name` slugs: the form coordinator.yml wants, and reading one out of a git URL."""

from __future__ import annotations

import re

# GitHub owners: letters, digits and single hyphens (up to 39); repo names: letters, digits, . _ -
GITHUB_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]+$")

# https://github.com/o/r(.git), git@github.com:o/r(.git), ssh://git@github.com[:22]/o/r(.git)
_GITHUB_URL_RE = re.compile(
    r"^(?:(?:https?|git|ssh)://(?:[^@/]+@)?github\.com(?::\d+)?/|[^@/\s]+@github\.com:|github\.com[:/])"
    r"(?P<slug>[^/\s]+/[^/\s]+?)(?:\.git)?/?$"
)


def github_slug(url: str) -> str | None:
    """`owner/name` when `url` is a GitHub remote URL (https or ssh form), else None."""
    match = _GITHUB_URL_RE.match(url.strip())
    if not match:
        return None
    slug = match.group("slug")
    return slug if GITHUB_RE.match(slug) else None
