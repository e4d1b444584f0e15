"""Branches and worktrees on a worker: the slug, the origin facts, and the worktree step.

Facts first (`origin_facts`): one exec that fetches `<default_branch>` and the issue's
`issue-<N>-*` branches from origin (or, for a dry run, only reads them with `git ls-remote`,
which changes nothing), and reports the fetched SHA, every branch of the issue on origin (merged
or not), the worker's own branches of the issue (in the base? ahead of origin's?) and the
worktrees that hold them (clean, dirty, gone). remote/checkout.py decides from them where the
run starts. The worktree itself is created by `CREATE_WORKTREE_FN`, a shell function the
dispatch script (launcher.py) calls: a new branch always at the fetched SHA (never a stale local
ref), an existing one only moved forward.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from coordssh.errors import RemoteCommandFailed
from coordssh.shell.command import Command, sh_script
from coordssh.shell.paths import EXPAND_HOME, join
from coordssh.remote.failures import step_failure
from coordssh.transport.base import RunResult, Transport

SLUG_MAX = 40
SLUG_FALLBACK = "task"
FETCH_TIMEOUT = 300.0          # a first fetch of a large repo is slow; a hang still ends

_NON_SLUG = re.compile(r"[^a-z0-9]+")


def slugify(title: str, limit: int = SLUG_MAX) -> str:
    """ASCII slug of `title`: lowercase [a-z0-9-], at most `limit` chars, no dash at either end."""
    ascii_text = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode("ascii")
    slug = _NON_SLUG.sub("-", ascii_text.lower()).strip("-")
    slug = slug[:limit].rstrip("-")
    return slug or SLUG_FALLBACK


def branch_name(issue: int, title: str) -> str:
    return f"issue-{int(issue)}-{slugify(title)}"


def claim_pattern(issue: int) -> str:
    """The ls-remote glob for every branch of `issue` (`issue-7-*` never matches `issue-77-x`)."""
    return f"refs/heads/issue-{int(issue)}-*"


def worktree_path(worktree_root: str, repo: str, assignment_id: str) -> str:
    return join(worktree_root, repo, assignment_id)


# --- origin facts -------------------------------------------------------------------------------
# exit codes of ORIGIN_SCRIPT
NO_REPO, ORIGIN_FAILED, NO_BASE = 10, 11, 12

# `in_base BRANCH_SHA BASE_SHA WRITE_OK`: is every change of the branch already in the base?
# 0: an ancestor (merged, or no commits of its own); 2: not an ancestor, but each of its commits
# has a patch-equivalent in the base (`git cherry`: a rebase merge), or, with WRITE_OK=1, its
# whole diff does (a squash merge: one throwaway commit of the branch's tree on the merge base,
# compared with `git cherry`; it writes one unreferenced object, so never for a dry run); 1: not.
IN_BASE_FN = r'''
in_base() {
  git merge-base --is-ancestor "$1" "$2" 2>/dev/null && return 0
  mb=$(git merge-base "$2" "$1" 2>/dev/null) || return 1
  case $(git cherry "$2" "$1" "$mb" 2>/dev/null) in *+*) ;; *) return 2;; esac
  [ "$3" = 1 ] || return 1
  t=$(GIT_AUTHOR_NAME=coordssh GIT_AUTHOR_EMAIL=coordssh@localhost GIT_COMMITTER_NAME=coordssh \
      GIT_COMMITTER_EMAIL=coordssh@localhost git commit-tree "$1^{tree}" -p "$mb" -m squash \
      </dev/null 2>/dev/null) || return 1
  case $(git cherry "$2" "$t" "$mb" 2>/dev/null) in -*) return 2;; esac
  return 1
}
'''

ORIGIN_SCRIPT = EXPAND_HOME + IN_BASE_FN + r'''
export GIT_TERMINAL_PROMPT=0
repo=$(expand_home "$1"); base=$2; pattern=$3; fetch=$4
{ cd "$repo" 2>/dev/null && git rev-parse --git-dir >/dev/null 2>&1; } ||
  { printf 'no git repository at %s\n' "$repo" >&2; exit 10; }
printf 'home=%s\n' "$HOME"
if [ "$fetch" = 1 ]; then
  if ! err=$(LC_ALL=C git fetch --quiet origin "+refs/heads/$base:refs/remotes/origin/$base" \
      </dev/null 2>&1); then
    printf '%s\n' "$err" >&2
    case $err in *"couldn't find remote ref"*) exit 12;; esac
    exit 11
  fi
  sha=$(git rev-parse --verify -q "refs/remotes/origin/$base^{commit}") || exit 12
else
  out=$(git ls-remote origin "refs/heads/$base" </dev/null) || exit 11
  sha=${out%%[!0-9a-f]*}
  [ -n "$sha" ] || exit 12
fi
printf 'base=%s\n' "$sha"
heads=$(git ls-remote origin "$pattern" </dev/null) || exit 11
if [ "$fetch" = 1 ] && [ -n "$heads" ]; then
  git fetch --quiet origin "+$pattern:refs/remotes/origin/${pattern#refs/heads/}" </dev/null || exit 11
fi
printf '%s\n' "$heads" | while read -r h ref; do
  [ -n "$h" ] || continue
  m='?'
  if git cat-file -e "$sha^{commit}" 2>/dev/null; then
    in_base "$h" "$sha" "$fetch"; r=$?
    if [ "$r" != 1 ]; then m=$((r / 2 + 1))
    elif [ "$fetch" = 1 ] || git cat-file -e "$h^{commit}" 2>/dev/null; then m=0; fi
  fi
  printf 'claim %s %s %s\n' "$m" "$h" "${ref#refs/heads/}"
done
# the worker's own branches of the issue: in base?, relation to origin's, and who holds them
git for-each-ref --format='%(objectname) %(refname)' "$pattern" | while read -r l ref; do
  o=$(printf '%s\n' "$heads" | while read -r h r; do [ "$r" = "$ref" ] && printf '%s' "$h"; done)
  rel=none
  if [ -n "$o" ]; then
    if [ "$o" = "$l" ]; then rel=same
    elif ! git cat-file -e "$o^{commit}" 2>/dev/null; then rel='?'
    elif git merge-base --is-ancestor "$l" "$o"; then rel=behind
    elif git merge-base --is-ancestor "$o" "$l"; then rel=ahead
    else rel=diverged; fi
  fi
  in_base "$l" "$sha" "$fetch"; r=$?
  b=0; [ "$r" != 1 ] && b=$((r / 2 + 1))
  printf 'local %s %s %s %s\n' "$b" "$rel" "$l" "${ref#refs/heads/}"
done
git worktree list --porcelain 2>/dev/null | while IFS= read -r line; do
  case $line in
    "worktree "*) wt=${line#worktree };;
    "branch "$pattern)
      st=clean
      if [ ! -d "$wt" ]; then st=gone
      elif [ -n "$(git -C "$wt" --no-optional-locks status --porcelain 2>/dev/null | head -c 1)" ]
      then st=dirty; fi
      printf 'held %s %s %s\n' "$st" "${line#branch refs/heads/}" "$wt";;
  esac
done
'''


@dataclass(frozen=True)
class RemoteBranch:
    name: str
    sha: str
    merged: bool | None          # None: unknown (a dry run did not fetch the objects)
    squashed: bool = False       # merged by patch (a squash or rebase merge), not by ancestry


@dataclass(frozen=True)
class LocalBranch:
    """The worker clone's own branch of the issue."""

    name: str
    sha: str
    in_base: bool                # its changes are in the fresh base: no commits of its own, merged
    relation: str                # to origin's branch: same|behind|ahead|diverged|none|? (unknown)
    squashed: bool = False       # in the base by patch only (squash or rebase merge)


@dataclass(frozen=True)
class HeldBy:
    """A worktree that has the issue's branch checked out."""

    branch: str
    path: str
    state: str                   # clean | dirty | gone (its directory no longer exists)


@dataclass(frozen=True)
class OriginFacts:
    home: str                    # the worker's $HOME, to make worker paths absolute
    base_sha: str                # origin/<default_branch>, freshly fetched (or ls-remote'd)
    branches: tuple[RemoteBranch, ...] = field(default_factory=tuple)
    local: tuple[LocalBranch, ...] = field(default_factory=tuple)
    held: tuple[HeldBy, ...] = field(default_factory=tuple)

    def open_branches(self) -> tuple[RemoteBranch, ...]:
        """Branches on origin not known to be merged."""
        return tuple(b for b in self.branches if b.merged is not True)

    def origin(self, name: str) -> RemoteBranch | None:
        return next((b for b in self.branches if b.name == name), None)

    def local_branch(self, name: str) -> LocalBranch | None:
        return next((b for b in self.local if b.name == name), None)

    def holder(self, name: str) -> HeldBy | None:
        return next((h for h in self.held if h.branch == name and h.state != "gone"), None)

    def existing(self) -> list[str]:
        """Every branch of the issue, on origin or on the worker (sorted)."""
        return sorted({b.name for b in self.branches} | {b.name for b in self.local})

    def squashed(self, name: str) -> bool:
        """`name` is merged by patch only: the base has its changes but not its commits, so it
        cannot move forward to the base (a new run needs a new branch)."""
        remote, local = self.origin(name), self.local_branch(name)
        return bool((remote and remote.squashed) or (local and local.squashed))

    def unmerged(self) -> list[str]:
        """Branches of the issue that carry commits the base does not have."""
        names = {b.name for b in self.branches if b.merged is not True}
        names |= {b.name for b in self.local if not b.in_base}
        return sorted(names)


def origin_facts_command(repo_path: str, base_branch: str, issue: int, *, fetch: bool) -> Command:
    return sh_script(ORIGIN_SCRIPT, repo_path, base_branch, claim_pattern(issue),
                     "1" if fetch else "0")


def parse_origin_facts(text: str) -> OriginFacts:
    home = base = ""
    branches: list[RemoteBranch] = []
    local: list[LocalBranch] = []
    held: list[HeldBy] = []
    for line in text.splitlines():
        if line.startswith("home="):
            home = line[5:]
        elif line.startswith("base="):
            base = line[5:].strip()
        elif line.startswith("claim "):
            _, merged, sha, name = line.split(" ", 3)
            branches.append(RemoteBranch(name, sha, {"1": True, "2": True, "0": False}.get(merged),
                                         squashed=merged == "2"))
        elif line.startswith("local "):
            _, in_base, relation, sha, name = line.split(" ", 4)
            local.append(LocalBranch(name, sha, in_base in ("1", "2"), relation,
                                     squashed=in_base == "2"))
        elif line.startswith("held "):
            _, state, name, path = line.split(" ", 3)
            held.append(HeldBy(name, path, state))
    if not home or not base:
        raise ValueError(f"origin facts without home/base: {text[:200]!r}")
    return OriginFacts(home, base, tuple(branches), tuple(local), tuple(held))


async def origin_facts(transport: Transport, repo_path: str, base_branch: str, issue: int,
                       *, fetch: bool) -> OriginFacts:
    """Fetch (or only read) origin's default branch and list the issue's branches on origin."""
    result = await transport.run(origin_facts_command(repo_path, base_branch, issue, fetch=fetch),
                                 timeout=FETCH_TIMEOUT)
    if result.returncode != 0:
        raise _origin_error(transport.name, repo_path, base_branch, result)
    try:
        return parse_origin_facts(result.text)
    except ValueError as exc:
        raise RemoteCommandFailed(
            f"on {transport.name}: the origin check printed something unexpected",
            hint="run `coordssh doctor`; the login shell may print text on startup",
            machine=transport.name, command=result.args, exit_status=0) from exc


def _origin_error(machine: str, repo_path: str, base: str, result: RunResult) -> RemoteCommandFailed:
    return step_failure(machine, result, {
        NO_REPO: (f"on {machine}: {repo_path} is not a git repository",
                  "clone the repo there, or fix repo_paths for this machine in coordinator.yml"),
        ORIGIN_FAILED: (f"on {machine}: cannot reach origin of {repo_path}",
                        "check the worker's network and git credentials (`git fetch origin` in "
                        "that clone); coordssh never branches from stale local refs"),
        NO_BASE: (f"on {machine}: origin of {repo_path} has no branch '{base}'",
                  "set default_branch for this repo in coordinator.yml"),
    }, "the origin check")


# --- the worktree step of the dispatch script ---------------------------------------------------
# `create_worktree REPO WORKTREE BRANCH SHA [FREE]` (absolute paths); exit WORKTREE_FAILED on
# error. An existing BRANCH is checked out after moving it forward to SHA, never backwards or
# sideways (that would lose commits). FREE: a stale clean worktree that holds BRANCH, removed
# first (`git worktree remove` without --force refuses if it became dirty meanwhile). FREE equal
# to WORKTREE: that worktree is reused as it is, if it still has BRANCH checked out (`coordssh
# continue`: `claude --resume` finds its session from the same cwd).
WORKTREE_FAILED = 22

CREATE_WORKTREE_FN = r'''
create_worktree() {
  cd "$1" || return 22
  if [ -n "$5" ] && [ "$5" = "$2" ] && [ -e "$2" ]; then
    [ "$(git -C "$2" symbolic-ref -q HEAD)" = "refs/heads/$3" ] && return 0
    printf 'worktree %s no longer has branch %s checked out\n' "$2" "$3" >&2; return 22
  fi
  if [ -e "$2" ]; then printf 'worktree path %s already exists\n' "$2" >&2; return 22; fi
  git worktree prune 2>/dev/null
  if [ -n "$5" ]; then git worktree remove "$5" </dev/null || return 22; fi
  mkdir -p "${2%/*}" || return 22
  if old=$(git rev-parse -q --verify "refs/heads/$3^{commit}"); then
    if [ "$old" != "$4" ]; then
      git merge-base --is-ancestor "$old" "$4" || {
        printf 'branch %s is at %s, which %s does not contain: moving it would lose commits\n' \
          "$3" "$old" "$4" >&2; return 22; }
      git update-ref "refs/heads/$3" "$4" "$old" || return 22
    fi
    git worktree add --quiet "$2" "$3" </dev/null || return 22
  else
    git worktree add --quiet -b "$3" "$2" "$4" </dev/null || return 22
  fi
}
'''
