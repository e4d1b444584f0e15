"""Where claude keeps a session's transcript on a worker, for `coordssh continue` (`--resume`).

The CLI writes `<config dir>/projects/<cwd slug>/<session>.jsonl`, the config dir being
`$CLAUDE_CONFIG_DIR` or `$HOME/.claude` of the run: so the check runs under the machine's `env`
(a HOME set there is the run's HOME). The slug is the cwd with every character outside
[A-Za-z0-9] replaced by `-`; `--resume` finds the session from the same cwd, which is why a
continued run reuses the earlier run's worktree path.

A continued run may get another config dir than the earlier one (its slot is held by another
run: services/slots.py): `carry_command` copies the transcript (and the session's own dir of
subagent and tool-result files, when there is one) into the new run's config dir, under the
same cwd slug, before it starts.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from coordssh.remote.envelope import env_command
from coordssh.remote.failures import step_failure
from coordssh.shell.command import Command, sh_script
from coordssh.transport.base import Transport

TIMEOUT = 30.0
FIND_SCRIPT = r'''
dir=${CLAUDE_CONFIG_DIR:-$HOME/.claude}/projects
for f in "$dir"/*/"$1.jsonl"; do
  [ -f "$f" ] && printf 'found %s\n' "$f"
done
printf 'dir %s\n' "$dir"
'''
CARRY_SCRIPT = r'''
umask 077
dest=${CLAUDE_CONFIG_DIR:-$HOME/.claude}/projects
for f in "$@"; do
  slug=$(basename "$(dirname "$f")"); name=$(basename "$f" .jsonl); to=$dest/$slug
  if [ "$f" -ef "$to/$name.jsonl" ]; then continue; fi
  mkdir -p "$to" && cp -p "$f" "$to/" || exit 1
  if [ -d "${f%.jsonl}" ]; then cp -Rp "${f%.jsonl}" "$to/" || exit 1; fi
  printf 'carried %s\n' "$to/$name.jsonl"
done
'''
_NOT_SLUG = re.compile(r"[^A-Za-z0-9]")


def cwd_slug(path: str) -> str:
    return _NOT_SLUG.sub("-", path)


@dataclass(frozen=True)
class Transcript:
    projects_dir: str             # where the CLI of this machine's runs keeps its projects
    paths: tuple[str, ...]        # the session's transcript(s), one per cwd it ran in

    @property
    def found(self) -> bool:
        return bool(self.paths)

    def cwds(self) -> tuple[str, ...]:
        """The cwd slugs the session ran in."""
        return tuple(p.rsplit("/", 2)[-2] for p in self.paths)

    def ran_in(self, cwd: str) -> bool:
        return cwd_slug(cwd.rstrip("/")) in self.cwds()


async def find_transcript(transport: Transport, env: Mapping[str, str],
                          session_id: str) -> Transcript:
    result = await transport.run(env_command(env, sh_script(FIND_SCRIPT, session_id)),
                                 timeout=TIMEOUT)
    paths, projects = [], ""
    for line in result.text.splitlines():
        if line.startswith("found "):
            paths.append(line[6:])
        elif line.startswith("dir "):
            projects = line[4:]
    return Transcript(projects, tuple(paths))


def carry_command(env: Mapping[str, str], paths: tuple[str, ...]) -> Command:
    """Under the new run's env: each transcript copied into its config dir (a no-op for one
    that is there already)."""
    return env_command(env, sh_script(CARRY_SCRIPT, *paths))


async def carry(transport: Transport, env: Mapping[str, str], paths: tuple[str, ...]) -> None:
    """The transcripts copied where a run under `env` looks (RemoteCommandFailed if not)."""
    if not paths:
        return
    result = await transport.run(carry_command(env, paths), timeout=TIMEOUT)
    if result.returncode != 0:
        raise step_failure(transport.name, result, {}, "copying the session's transcript "
                           "into the continued run's claude config dir")
