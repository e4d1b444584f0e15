"""Reads in a worker's clone for the PR half of the pipeline: a branch's commits over its base
(the PR's body), a file at a commit (the reviewer's CLAUDE.md), the files a branch conflicts in
with its base (the merge queue). One exec each, after fetching what it reads from origin;
the parsers are pure.
"""

from __future__ import annotations

from dataclasses import dataclass

from coordssh.remote.failures import step_failure
from coordssh.shell.command import sh_script
from coordssh.shell.paths import EXPAND_HOME
from coordssh.transport.base import RunResult, Transport

TIMEOUT = 120.0
MAX_COMMITS = 50
NO_REPO, NO_FETCH, ABSENT = 10, 11, 3

# $1 repo path, $2 base, $3 branch; then each script's own arguments
FETCH = EXPAND_HOME + r'''r=$(expand_home "$1") base=$2 branch=$3
{ cd "$r" 2>/dev/null && git rev-parse --git-dir >/dev/null 2>&1; } ||
  { printf 'no git repository at %s\n' "$r" >&2; exit 10; }
if [ -n "$branch" ]; then
  LC_ALL=C git fetch --quiet origin "+refs/heads/$branch:refs/remotes/origin/$branch" \
    "+refs/heads/$base:refs/remotes/origin/$base" </dev/null || exit 11
fi
'''
LOG = FETCH + r'''git log --reverse --max-count="$5" --format='%H%x09%s' \
  "refs/remotes/origin/$base..$4" -- </dev/null
'''
SHOW = FETCH + r'''git cat-file -e "$4:$5" 2>/dev/null || exit 3
git show "$4:$5" </dev/null
'''
CONFLICTS = FETCH + r'''git merge-tree --write-tree --name-only --no-messages \
  "refs/remotes/origin/$base" "refs/remotes/origin/$branch" </dev/null
'''


@dataclass(frozen=True)
class Commit:
    sha: str
    subject: str


def parse_log(text: str) -> tuple[Commit, ...]:
    found = []
    for line in text.splitlines():
        sha, tab, subject = line.partition("\t")
        if tab and len(sha) == 40:
            found.append(Commit(sha, subject.strip()))
    return tuple(found)


async def _run(transport: Transport, script: str, repo_path: str, base: str, branch: str,
               *more: str, what: str, ok: tuple[int, ...] = (0,)) -> RunResult:
    result = await transport.run(sh_script(script, repo_path, base, branch, *more),
                                 timeout=TIMEOUT)
    if result.returncode not in ok:
        name = transport.name
        raise step_failure(name, result, {
            NO_REPO: (f"on {name}: {repo_path} is not a git repository",
                      "fix repo_paths for this machine in coordinator.yml"),
            NO_FETCH: (f"on {name}: cannot fetch {branch} and {base} from origin",
                       "check that the branch is on origin and the worker can reach it"),
        }, what)
    return result


async def branch_commits(transport: Transport, repo_path: str, base: str, branch: str,
                         sha: str) -> tuple[Commit, ...]:
    """The commits of `branch` (at `sha`) that `base` on origin lacks, oldest first."""
    result = await _run(transport, LOG, repo_path, base, branch, sha, str(MAX_COMMITS),
                        what="reading the branch's commits")
    return parse_log(result.text)


async def file_at(transport: Transport, repo_path: str, sha: str, path: str) -> str | None:
    """The text of `path` at commit `sha` in the clone (already fetched), None if absent."""
    result = await _run(transport, SHOW, repo_path, "", "", sha, path, what=f"reading {path}",
                        ok=(0, ABSENT))
    return None if result.returncode == ABSENT else result.text


async def conflict_files(transport: Transport, repo_path: str, base: str,
                         branch: str) -> tuple[str, ...]:
    """The files `branch` conflicts in with `base` on origin (a real `git merge-tree`); () when
    it merges cleanly."""
    result = await _run(transport, CONFLICTS, repo_path, base, branch,
                        what="checking the merge for conflicts", ok=(0, 1))
    if result.returncode == 1:
        return tuple(line for line in result.text.splitlines()[1:] if line.strip())
    return ()
