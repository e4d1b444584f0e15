"""The hidden marker on every comment coordssh posts, and posting a comment at most once.

    marker("merged", "w12", "a1b2c3d4", "d4e5f6a")
    -> '<!-- coordssh:event=merged work=w12 run=a1b2c3d4 sha=d4e5f6a -->'

`post_once` looks the marker up on the forge before posting, so a rerun, a second coordinator
or a lost board never posts the same comment twice: the forge itself is the ledger.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from coordssh.errors import UsageError

if TYPE_CHECKING:
    from coordssh.forge.base import Forge
    from coordssh.forge.types import Comment

_FIELDS = ("event", "work", "run", "sha")
_VALUE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/#-]*")
_MARKER = re.compile(r"<!-- coordssh:event=(\S+) work=(\S+) run=(\S+) sha=(\S+) -->")


@dataclass(frozen=True)
class Marker:
    event: str
    work: str
    run: str
    sha: str

    def __str__(self) -> str:
        return marker(self.event, self.work, self.run, self.sha)


def marker(event: str, work: str | int, run: str | None = None, sha: str | None = None) -> str:
    """The marker text; an absent run or sha is written `-`."""
    values = [str(event), str(work), run or "-", sha or "-"]
    for name, value in zip(_FIELDS, values, strict=True):
        if value != "-" and not _VALUE.fullmatch(value):
            raise UsageError(f"marker {name} {value!r} must be one word of letters, digits, "
                             "and . _ : / # -", "pass ids and SHAs, not free text")
    return "<!-- coordssh:" + " ".join(f"{n}={v}" for n, v in zip(_FIELDS, values, strict=True)) + " -->"


def parse_markers(text: str) -> list[Marker]:
    """Every marker in `text`, in order."""
    return [Marker(*found.groups()) for found in _MARKER.finditer(text or "")]


def with_marker(body: str, mark: str) -> str:
    """`body` ending with `mark` on its own line (added once)."""
    if mark in body:
        return body
    return body.rstrip("\n") + "\n\n" + mark + "\n"


async def post_once(forge: Forge, number: int, body: str, mark: str, *,
                    pr: bool = False) -> tuple[Comment, bool]:
    """Post `body` (with `mark`) on issue/PR `number` unless a comment already carries `mark`.

    Returns (the comment, True if posted now / False if it was already there).
    """
    found = await forge.find_comment(number, mark, pr=pr)
    if found is not None:
        return found, False
    text = with_marker(body, mark)
    posted = await (forge.pr_comment(number, text) if pr else forge.issue_comment(number, text))
    return posted, True
