"""Where claude keeps a session's transcript on a worker, for `coordssh continue` (`--resume`).

The CLI writes `<config dir>/projects/<cwd slug>/<session>.jsonl`, the config dir being
`$CLAUDE_CONFIG_DIR` or `$HOME/.claude` of the run: so the check runs under the machine's `env`
(a HOME set there is the run's HOME). The slug is the cwd with every character outside
[A-Za-z0-9] replaced by `-`; `--resume` finds the session from the same cwd, which is why a
continued run reuses the earlier run's worktree path.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from coordssh.remote.envelope import env_command
from coordssh.shell.command import sh_script
from coordssh.transport.base import Transport

TIMEOUT = 30.0
FIND_SCRIPT = r'''
dir=${CLAUDE_CONFIG_DIR:-$HOME/.claude}/projects
for f in "$dir"/*/"$1.jsonl"; do
  [ -f "$f" ] && printf 'found %s\n' "$f"
done
printf 'dir %s\n' "$dir"
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
