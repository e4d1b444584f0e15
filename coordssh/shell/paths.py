"""Worker-side paths. Config keeps `~/...` as written; the worker's shell expands it.

Scripts that take a path as a positional parameter start with `EXPAND_HOME` and call
`p=$(expand_home "$1")`, so a path never needs to be quoted into a script by hand.
"""

from __future__ import annotations

import posixpath

EXPAND_HOME = r'''expand_home() { case $1 in "~") printf '%s' "$HOME";; "~/"*) printf '%s' "$HOME/${1#"~/"}";; *) printf '%s' "$1";; esac; }
'''


def join(base: str, *parts: str) -> str:
    """posixpath.join that keeps a leading `~/` (worker-side paths are POSIX)."""
    return posixpath.join(base, *parts)


def expand_with(path: str, home: str) -> str:
    """Expand a leading `~` against a known home directory (for paths used by local code)."""
    if path == "~":
        return home
    if path.startswith("~/"):
        return posixpath.join(home, path[2:])
    return path
