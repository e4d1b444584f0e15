"""Branches with real commits for the plan tests: files changed on origin, real conflicts.

    base_files(world, {"src/a.py": "...", ...})         # on origin's main
    branch_with(world, "issue-4-x", {"src/a.py": "x"})  # a branch off main that changes them
"""

from __future__ import annotations

from tests.support.dispatch import GitWorld, git


def base_files(world: GitWorld, files: dict[str, str], message: str = "base files") -> str:
    for path, text in files.items():
        target = world.seed / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    git("add", "-A", cwd=world.seed)
    git("commit", "-q", "-m", message, cwd=world.seed)
    git("push", "-q", "origin", "main", cwd=world.seed)
    return git("rev-parse", "HEAD", cwd=world.seed).strip()


def branch_with(world: GitWorld, branch: str, files: dict[str, str], *,
                merged: bool = False) -> str:
    """A branch off origin/main on origin whose commit writes `files`; `merged` also
    fast-forwards main to it."""
    git("fetch", "-q", "origin", cwd=world.seed)
    git("checkout", "-q", "-b", branch, "origin/main", cwd=world.seed)
    for path, text in files.items():
        target = world.seed / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    git("add", "-A", cwd=world.seed)
    git("commit", "-q", "-m", f"work on {branch}", cwd=world.seed)
    git("push", "-q", "origin", branch, cwd=world.seed)
    sha = git("rev-parse", "HEAD", cwd=world.seed).strip()
    if merged:
        git("push", "-q", "origin", f"{sha}:refs/heads/main", cwd=world.seed)
    git("checkout", "-q", "main", cwd=world.seed)
    git("pull", "-q", "--ff-only", "origin", "main", cwd=world.seed)
    return sha


LINES = "".join(f"line {n}\n" for n in range(1, 21))


def edit_line(n: int, text: str) -> str:
    """LINES with line `n` replaced: two edits of different lines merge cleanly."""
    lines = LINES.splitlines(keepends=True)
    lines[n - 1] = text + "\n"
    return "".join(lines)
