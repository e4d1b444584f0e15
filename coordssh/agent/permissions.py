"""A repo's own permission rules for its runs: its build and test commands, and
`worker_permissions` from coordinator.yml.

The CLI judges a compound command (`a && b`, `a; b`, `a | b`) part by part, so each part of a
build or test command becomes its own pair of rules: `Bash(part)` (exactly it) and
`Bash(part *)` (it with more arguments). A part that cannot be a rule (a comma: every rule of a
run travels in one comma-joined argument) is left out; `worker_permissions.allow` can name it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from coordssh.config.schema import Repo

_SEPARATORS = re.compile(r"&&|\|\||;|\||\n")


@dataclass(frozen=True)
class RepoRules:
    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()


def repo_rules(repo: Repo) -> RepoRules:
    """The rules a run of `repo` gets on top of its playbook's allowed tools."""
    allow: list[str] = []
    for command in (repo.build_command, repo.test_command):
        allow += command_rules(command or "")
    allow += repo.worker_permissions.allow
    return RepoRules(tuple(dict.fromkeys(allow)), tuple(dict.fromkeys(repo.worker_permissions.deny)))


def command_rules(command: str) -> list[str]:
    """`Bash(part)` and `Bash(part *)` for each part of a shell command line."""
    rules = []
    for part in _SEPARATORS.split(command):
        part = " ".join(part.split())
        if not part or "," in part or "(" in part or ")" in part:
            continue
        rules += [f"Bash({part})", f"Bash({part} *)"]
    return rules
