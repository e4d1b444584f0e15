"""Which files an issue is likely to touch, whether two sets of files meet, and what that needs.

Likely files are the paths an issue's title or body mentions that exist in the repo's tree (the
default branch, as the worker's clone has it): `src/a.py` exactly; `a.py` when it names at most
`MAX_SUFFIX_MATCHES` files of the tree (at a `/` boundary); `src/gtk/` (a directory of the
tree) as a prefix. Nothing is guessed when the tree is unknown. Pure.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

MAX_SUFFIX_MATCHES = 3
MAX_FILES = 50
_TOKEN = re.compile(r"[A-Za-z0-9_.\-/]*[A-Za-z0-9_\-/][A-Za-z0-9_.\-/]*")
_TRIM = "./"


@dataclass(frozen=True)
class Overlap:
    path: str        # the file both touch (the longer of a directory and a file in it)
    mine: str
    theirs: str


class TreeIndex:
    """A repo's files by base name, and its directories (with a trailing `/`)."""

    def __init__(self, tree: Iterable[str]) -> None:
        self.files = frozenset(tree)
        self.by_name: dict[str, list[str]] = {}
        self.dirs: set[str] = set()
        for path in self.files:
            self.by_name.setdefault(path.rsplit("/", 1)[-1], []).append(path)
            parts = path.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                self.dirs.add("/".join(parts[:i]) + "/")

    def match(self, token: str) -> list[str]:
        token = token.strip().lstrip("/")
        while token.startswith("./"):
            token = token[2:]
        token = token.rstrip(".:,;")
        if not token:
            return []
        if token in self.files:
            return [token]
        if token.rstrip("/") + "/" in self.dirs and ("/" in token or token.endswith("/")):
            return [token.rstrip("/") + "/"]
        name = token.rsplit("/", 1)[-1]
        found = [p for p in self.by_name.get(name, ()) if p.endswith("/" + token)]
        return sorted(found) if 0 < len(found) <= MAX_SUFFIX_MATCHES else []


_INDEXES: dict[int, TreeIndex] = {}


def likely_files(text: str, tree: frozenset[str] | None) -> tuple[str, ...]:
    """The tree's paths `text` mentions, in order of first mention (at most MAX_FILES)."""
    if not tree:
        return ()
    index = _INDEXES.get(id(tree))
    if index is None or index.files is not tree:     # built once per tree (many issues, one repo)
        if len(_INDEXES) > 64:
            _INDEXES.clear()
        index = _INDEXES[id(tree)] = TreeIndex(tree)
    found: dict[str, None] = {}
    for token in _TOKEN.findall(text):
        if "/" not in token and "." not in token.strip(_TRIM):
            continue           # a plain word, not a path
        for path in index.match(token):
            found.setdefault(path, None)
        if len(found) >= MAX_FILES:
            break
    return tuple(found)[:MAX_FILES]


def first_overlap(mine: Sequence[str], theirs: Sequence[str]) -> Overlap | None:
    """The first of `mine` that `theirs` touches too: the same file, or a file under a
    directory (`src/gtk/`) the other names."""
    theirs_set = set(theirs)
    for a in mine:
        if a in theirs_set:
            return Overlap(a, a, a)
        for b in theirs:
            if a.endswith("/") and b.startswith(a):
                return Overlap(b, a, b)
            if b.endswith("/") and a.startswith(b):
                return Overlap(a, a, b)
    return None


def needed_capabilities(labels: Sequence[str], files: Sequence[str],
                        label_capabilities: Mapping[str, Sequence[str]],
                        rules: Iterable[Mapping[str, Sequence[str]]]) -> tuple[str, ...]:
    """Capabilities the run needs: its labels' (intake.label_capabilities, case-insensitive)
    and smoke_tests.capability_rules on its likely files (a file under a rule's prefix)."""
    folded = {k.casefold(): v for k, v in label_capabilities.items()}
    needed: set[str] = set()
    for label in labels:
        needed.update(folded.get(label.casefold(), ()))
    for rule in rules:
        prefixes = [str(p) for p in rule.get("files", ())]
        if any(f.startswith(p) or p.startswith(f) and f.endswith("/")
               for f in files for p in prefixes):
            needed.update(str(c) for c in rule.get("requires", ()))
    return tuple(sorted(needed))
