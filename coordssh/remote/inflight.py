"""In-flight branches of a repo, grounded in git: what each changed and which already conflict.

ONE exec per (machine, repo), in the machine's clone: fetch origin's default branch and its
`issue-*` branches (pruning deleted ones), then for every branch not in the base (by ancestry,
or by patch after a squash or rebase merge: worktree.IN_BASE_FN, as claims decide), the
files it changed (`git diff --name-only base...branch`), and for every pair of branches that
changed a common file, `git merge-tree --write-tree` (git >= 2.38) to predict a real conflict
and its files. It also lists the base's tree, so the scheduler can tell which paths an issue
mentions exist. Branch names have no spaces (git refuses them); paths are printed last on their
line, and git C-quotes the unusual ones (`"a\\tb"`), which `_path` unquotes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from coordssh.errors import RemoteCommandFailed
from coordssh.remote.failures import step_failure
from coordssh.remote.worktree import IN_BASE_FN
from coordssh.shell.command import Command, sh_script
from coordssh.shell.paths import EXPAND_HOME
from coordssh.transport.base import Transport

NO_REPO, ORIGIN_FAILED, NO_BASE, NO_TEMP = 10, 11, 12, 13
TIMEOUT = 300.0
_ISSUE = re.compile(r"^issue-(\d+)-")

SCRIPT = EXPAND_HOME + IN_BASE_FN + r'''
export GIT_TERMINAL_PROMPT=0 LC_ALL=C
repo=$(expand_home "$1"); base=$2; fetch=$3; tree=$4
{ cd "$repo" 2>/dev/null && git rev-parse --git-dir >/dev/null 2>&1; } ||
  { printf 'no git repository at %s\n' "$repo" >&2; exit 10; }
if [ "$fetch" = 1 ]; then
  err=$(git fetch --quiet --prune origin "+refs/heads/$base:refs/remotes/origin/$base" \
        "+refs/heads/issue-*:refs/remotes/origin/issue-*" </dev/null 2>&1) || {
    printf '%s\n' "$err" >&2
    case $err in *"couldn't find remote ref"*) exit 12;; esac
    exit 11; }
fi
sha=$(git rev-parse --verify -q "refs/remotes/origin/$base^{commit}") || exit 12
printf 'base %s\n' "$sha"
pairs=$(mktemp) || exit 13
trap 'rm -f "$pairs"' EXIT
git for-each-ref --format='%(objectname) %(refname:lstrip=3)' 'refs/remotes/origin/issue-*' |
while read -r h name; do
  in_base "$h" "$sha" "$fetch"
  case $? in 0|2) printf 'merged %s %s\n' "$h" "$name"; continue;; esac
  printf 'branch %s %s\n' "$h" "$name"
  git -c core.quotePath=false diff --name-only "$sha...$h" | while IFS= read -r f; do
    printf 'file %s %s\n' "$name" "$f"
    printf '%s\t%s\n' "$f" "$name" >>"$pairs"
  done
done
sort "$pairs" | awk -F '\t' '$1 != p { split("", s); n = 0; p = $1 }
  { for (i = 0; i < n; i++) print s[i] " " $2; s[n++] = $2 }' | sort -u |
while read -r a b; do
  out=$(git -c core.quotePath=false merge-tree --write-tree --name-only --no-messages \
        "refs/remotes/origin/$a" "refs/remotes/origin/$b" 2>/dev/null)
  case $? in
    0) printf 'clean %s %s\n' "$a" "$b";;
    1) printf 'conflict %s %s\n' "$a" "$b"
       printf '%s\n' "$out" | sed 1d | while IFS= read -r f; do
         [ -n "$f" ] && printf 'cfile %s %s %s\n' "$a" "$b" "$f"; done;;
    *) printf 'unknown %s %s\n' "$a" "$b";;
  esac
done
if [ "$tree" = 1 ]; then
  git -c core.quotePath=false ls-tree -r --name-only "$sha" | sed 's/^/tree /'
fi
'''


@dataclass(frozen=True)
class Branch:
    name: str
    sha: str
    issue: int | None
    files: tuple[str, ...] = ()


@dataclass(frozen=True)
class BranchConflict:
    a: str
    b: str
    files: tuple[str, ...]


@dataclass(frozen=True)
class InFlightFacts:
    base_sha: str
    branches: tuple[Branch, ...] = ()            # not merged into the base
    merged: tuple[str, ...] = ()                 # issue branches already in the base
    conflicts: tuple[BranchConflict, ...] = ()   # merge-tree predicts these
    unknown_pairs: tuple[tuple[str, str], ...] = ()  # merge-tree could not tell (git < 2.38)
    tree: frozenset[str] | None = None
    checked_pairs: int = 0
    notes: tuple[str, ...] = field(default_factory=tuple)


def issue_of(branch: str) -> int | None:
    found = _ISSUE.match(branch)
    return int(found.group(1)) if found else None


def inflight_command(repo_path: str, base_branch: str, *, fetch: bool = True,
                     tree: bool = True) -> Command:
    return sh_script(SCRIPT, repo_path, base_branch, "1" if fetch else "0", "1" if tree else "0")


def parse_inflight(text: str) -> InFlightFacts:
    base = ""
    shas: dict[str, str] = {}
    files: dict[str, list[str]] = {}
    merged, clean, unknown, tree = [], 0, [], []
    conflicts: dict[tuple[str, str], list[str]] = {}
    for line in text.splitlines():
        kind, _, rest = line.partition(" ")
        if kind == "base":
            base = rest.strip()
        elif kind == "branch":
            sha, _, name = rest.partition(" ")
            shas[name] = sha
            files.setdefault(name, [])
        elif kind == "merged":
            merged.append(rest.partition(" ")[2])
        elif kind == "file":
            name, _, path = rest.partition(" ")
            files.setdefault(name, []).append(_path(path))
        elif kind == "conflict":
            a, _, b = rest.partition(" ")
            conflicts.setdefault((a, b), [])
        elif kind == "cfile":
            a, b, path = rest.split(" ", 2)
            conflicts.setdefault((a, b), []).append(_path(path))
        elif kind == "clean":
            clean += 1
        elif kind == "unknown":
            a, _, b = rest.partition(" ")
            unknown.append((a, b))
        elif kind == "tree":
            tree.append(_path(rest))
    if not base:
        raise ValueError(f"in-flight facts without a base: {text[:200]!r}")
    branches = tuple(Branch(n, shas[n], issue_of(n), tuple(files.get(n, ()))) for n in sorted(shas))
    return InFlightFacts(
        base, branches, tuple(sorted(merged)),
        tuple(BranchConflict(a, b, tuple(f)) for (a, b), f in sorted(conflicts.items())),
        tuple(unknown), frozenset(tree) if tree else None,
        checked_pairs=clean + len(conflicts) + len(unknown))


def _path(text: str) -> str:
    """A path as git printed it: C-quoted (`"a\\"b"`) when unusual."""
    if len(text) >= 2 and text[0] == text[-1] == '"':
        raw = text[1:-1].encode("latin-1", "backslashreplace").decode("unicode_escape")
        return raw.encode("latin-1", "ignore").decode("utf-8", "replace")
    return text


async def inflight(transport: Transport, repo_path: str, base_branch: str, *,
                   fetch: bool = True, tree: bool = True) -> InFlightFacts:
    """The repo's in-flight branches on `transport`'s clone (one exec)."""
    result = await transport.run(inflight_command(repo_path, base_branch, fetch=fetch, tree=tree),
                                 timeout=TIMEOUT)
    if result.returncode != 0:
        raise step_failure(transport.name, result, {
            NO_REPO: (f"on {transport.name}: {repo_path} is not a git repository",
                      "clone the repo there, or fix repo_paths for this machine"),
            ORIGIN_FAILED: (f"on {transport.name}: cannot fetch origin of {repo_path}",
                            "check the worker's network and git credentials"),
            NO_BASE: (f"on {transport.name}: origin of {repo_path} has no branch "
                      f"'{base_branch}'", "set default_branch for this repo in coordinator.yml"),
            NO_TEMP: (f"on {transport.name}: mktemp failed", "check the worker's $TMPDIR"),
        }, "the in-flight branch check")
    try:
        return parse_inflight(result.text)
    except ValueError as exc:
        raise RemoteCommandFailed(
            f"on {transport.name}: the in-flight branch check printed something unexpected",
            hint="run `coordssh doctor`; the login shell may print text on startup",
            machine=transport.name, command=result.args, exit_status=0) from exc
