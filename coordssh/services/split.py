"""`coordssh split REPO#ISSUE|ID [--apply]`: sub-issues from an issue's task list.

The proposal is the issue's open task-list items (`- [ ] ...`), else its numbered items
(`1. ...`). `--apply` creates each missing one with the `sub-task` label and a link to the
parent (`Part of #N`), then APPENDS a task list of them to the parent's body through
`issue_append_body` (never a replacement: the seed destroyed parent bodies). Idempotent: a
sub-issue already listed in the parent's appended block, or an issue with the same title that
links the parent, is reused; an identical block is not appended again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from coordssh.errors import ForgeError, Refused
from coordssh.forge.marker import marker
from coordssh.services import pipeline
from coordssh.services.context import Context

LABEL = "sub-task"
_TASK = re.compile(r"^\s{0,3}[-*+]\s+\[ \]\s+(.+?)\s*$")
_NUMBERED = re.compile(r"^\s{0,3}\d{1,3}[.)]\s+(.+?)\s*$")
_LISTED = re.compile(r"^\s*[-*+]\s+\[[ xX]\]\s+#(\d+)\b\s*(.*?)\s*$")


@dataclass(frozen=True)
class SubIssue:
    title: str
    number: int | None = None     # None: proposed, not created
    created: bool = False         # created by this call


@dataclass(frozen=True)
class SplitResult:
    repo: str
    parent: int
    source: str                   # "task list" | "numbered items" | ""
    subs: tuple[SubIssue, ...]
    applied: bool
    appended: bool = False        # the parent's body got the task list now
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        return {"repo": self.repo, "parent": self.parent, "source": self.source,
                "applied": self.applied, "appended": self.appended, "notes": list(self.notes),
                "sub_issues": [vars(sub) for sub in self.subs]}


def proposals(body: str) -> tuple[str, list[str]]:
    """(where they came from, the sub-issue titles) of an issue body."""
    lines = (body or "").splitlines()
    tasks = [m.group(1) for line in lines if (m := _TASK.match(line))
             and not _LISTED.match(line)]
    if tasks:
        return "task list", list(dict.fromkeys(tasks))
    numbered = [m.group(1) for line in lines if (m := _NUMBERED.match(line))]
    return ("numbered items", list(dict.fromkeys(numbered))) if numbered else ("", [])


def listed(body: str) -> dict[str, int]:
    """{title: number} of the sub-issues a parent's body already lists (`- [ ] #N title`)."""
    return {m.group(2): int(m.group(1)) for line in (body or "").splitlines()
            if (m := _LISTED.match(line)) and m.group(2)}


def split_marker(repo: str, parent: int) -> str:
    return marker("split", f"{repo}#{parent}")


async def split_issue(ctx: Context, which: str, *, apply: bool = False) -> SplitResult:
    repo_name, parent = _parent_of(ctx, which)
    forge = ctx.forge(ctx.config.repo(repo_name))
    issue = await forge.issue_view(parent)
    source, titles = proposals(issue.body)
    if not titles:
        raise Refused(f"{repo_name}#{parent} has no task list (`- [ ] ...`) and no numbered "
                      "items to split into sub-issues",
                      hint="add a task list to the issue, one line per sub-issue")
    known = {**await _linked(forge, parent), **listed(issue.body)}
    subs = [SubIssue(t, known.get(t)) for t in titles]
    if not apply:
        return SplitResult(repo_name, parent, source, tuple(subs), False)
    notes: list[str] = []
    made = [sub if sub.number else await _create(forge, repo_name, parent, sub.title, notes)
            for sub in subs]
    block = "\n".join(["## Sub-issues", "", split_marker(repo_name, parent),
                       *[f"- [ ] #{sub.number} {sub.title}" for sub in made]])
    before = issue.body or ""
    after = await forge.issue_append_body(parent, block)
    return SplitResult(repo_name, parent, source, tuple(made), True,
                       appended=(after.body or "") != before, notes=tuple(notes))


def _parent_of(ctx: Context, which: str) -> tuple[str, int]:
    if "#" in which:
        repo, issue = pipeline.split_key(which)
        ctx.config.repo(repo)
        return repo, issue
    row = ctx.board.find(which)
    return row.repo, row.issue


async def _linked(forge, parent: int) -> dict[str, int]:
    """Issues labelled sub-task that link the parent ({title: number}); confirmed one by one
    (GitHub's label filter reads a lagging index)."""
    found: dict[str, int] = {}
    try:
        candidates = await forge.issue_list(labels=[LABEL], state="all")
    except ForgeError:
        return found
    for candidate in candidates:
        if f"Part of #{parent}" in (candidate.body or ""):
            found.setdefault(candidate.title, candidate.number)
    return found


async def _create(forge, repo: str, parent: int, title: str, notes: list[str]) -> SubIssue:
    body = f"Part of #{parent}\n\n{split_marker(repo, parent)}\n"
    try:
        created = await forge.issue_create(title, body, labels=[LABEL])
    except ForgeError as err:
        if "label" not in err.message.lower():
            raise
        notes.append(f"the `{LABEL}` label is missing in {repo}: created without it")
        created = await forge.issue_create(title, body)
    return SubIssue(title, created.number, True)
