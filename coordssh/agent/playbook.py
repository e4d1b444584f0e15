"""Role playbooks: YAML files the user may edit (role, model, permissions, tools, limits, prompt).

Where they live: the shipped playbooks are package data in `coordssh/data/playbooks/`, covered
by the `data/**/*` package-data pattern in pyproject.toml, so `pip install .` copies them into
the wheel and `pip install -e .` reads them in place. The top-level `playbooks/` directory of a
checkout is a symlink to that directory, so they are easy to find and edit there too. A
`playbooks_dir` in coordinator.yml is searched first; a role it lacks comes from the shipped set.

The prompt is a `string.Template` (`$name`, `${name}`, `$$` for a dollar). It is checked when the
playbook is loaded (an unknown placeholder or a stray `$` is a ConfigError naming the file and
key) and rendered in one pass, so a value (an issue body containing `$branch`, say) is never
expanded again. Never `str.format`: user text is full of braces. The operator's briefing (and a
follow-up's guidance) is appended under its own heading, unless the prompt places `$briefing`
(`$guidance`) itself.

Every role says which tools its run may use (`allowed_tools`) and whether its branch may be
pushed afterwards (`push`, default true; coordssh pushes, the agent never does). A role that
runs no model (`test`) has no prompt.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Any

from coordssh.agent.claude import PERMISSION_MODES
from coordssh.config.yaml_lines import Parsed, format_path, parse_yaml
from coordssh.errors import ConfigError, NotFound

SHIPPED_DIR = Path(__file__).resolve().parent.parent / "data" / "playbooks"
VARIABLES = ("issue_number", "issue_title", "issue_body", "issue_url", "branch", "base_branch",
             "repo_name", "repo_notes", "briefing", "head_sha", "failure", "guidance")
# the reviewer's (services/review.py): what to review and how to answer
VARIABLES += ("diff_range", "checklist", "claude_md", "verdict_instructions", "reviewer_note")
KEYS = ("role", "description", "model", "permission_mode", "allowed_tools", "max_turns",
        "max_budget_usd", "push", "prompt")
BRIEFING_HEADING = "## Operator briefing"
GUIDANCE_HEADING = "## Operator guidance"
# appended under their heading unless the prompt places them itself
APPENDED = (("briefing", BRIEFING_HEADING), ("guidance", GUIDANCE_HEADING))
# roles that run no model: their playbook has no prompt (`coordssh test` runs the repo's commands)
PROMPTLESS_ROLES = frozenset({"test"})
_ROLE = re.compile(r"[a-z][a-z0-9_-]*")


@dataclass(frozen=True)
class Playbook:
    role: str
    prompt: str
    path: Path
    description: str = ""
    model: str | None = None
    permission_mode: str = "acceptEdits"
    allowed_tools: tuple[str, ...] = ()
    max_turns: int | None = None
    max_budget_usd: float | None = None
    push: bool = True                # may its run's branch be pushed (coordssh pushes, never the agent)

    def render(self, variables: Mapping[str, Any]) -> str:
        """The prompt with `variables` (a subset of VARIABLES; missing or None ones are "")."""
        unknown = set(variables) - set(VARIABLES)
        if unknown:
            raise ValueError(f"unknown prompt variables: {', '.join(sorted(unknown))}")
        values = {name: _text(variables.get(name)) for name in VARIABLES}
        template = Template(self.prompt)
        prompt = template.substitute(values).strip()
        placed = set(template.get_identifiers())
        for name, heading in APPENDED:
            text = values[name].strip()
            if text and name not in placed:
                prompt += f"\n\n{heading}\n\n{text}"
        return prompt + "\n"


def load_playbook(role: str, directory: Path | None = None) -> Playbook:
    """The playbook for `role`: from `directory` if it has one, else the shipped one."""
    if not _ROLE.fullmatch(role):
        raise NotFound(f"invalid role name {role!r}",
                       hint="roles are lowercase words, e.g. implement")
    path = find_playbook(role, directory)
    if path is None:
        raise NotFound(f"no playbook for role '{role}'",
                       hint=f"roles: {', '.join(available_roles(directory)) or '(none)'}")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"{path}: cannot read: {err.strerror}") from err
    return parse_playbook(text, path)


def find_playbook(role: str, directory: Path | None = None) -> Path | None:
    for base in ([directory] if directory else []) + [SHIPPED_DIR]:
        for suffix in (".yml", ".yaml"):
            candidate = base / f"{role}{suffix}"
            if candidate.is_file():
                return candidate
    return None


def available_roles(directory: Path | None = None) -> list[str]:
    roles = set()
    for base in ([directory] if directory else []) + [SHIPPED_DIR]:
        if base.is_dir():
            roles |= {p.stem for p in base.iterdir() if p.suffix in (".yml", ".yaml")}
    return sorted(roles)


def parse_playbook(text: str, path: Path) -> Playbook:
    """Validate the YAML `text` of `path`; every problem is reported at once."""
    parsed = parse_yaml(text, path)
    if not isinstance(parsed.data, dict):
        raise ConfigError(f"{path}:1: the playbook must be a mapping of {', '.join(KEYS)}",
                          hint="see the shipped playbooks/implement.yml for the shape")
    data = parsed.data
    problems: list[str] = []

    def problem(key: str, message: str) -> None:
        line = parsed.key_lines.get((key,), parsed.value_lines.get((), 1))
        problems.append(f"{path}:{line}: {key}: {message}")

    for key in data:
        if key not in KEYS:
            problem(key, f"unknown key (known: {', '.join(KEYS)})")
    fields = _fields(data, path, problem, parsed)
    if problems:
        raise ConfigError(problems[0] if len(problems) == 1 else
                          f"{path}: {len(problems)} problems in the playbook",
                          hint="fix the playbook, or delete it to use the shipped one",
                          problems=problems)
    return Playbook(path=path, **fields)


def _fields(data: dict, path: Path, problem, parsed: Parsed) -> dict[str, Any]:
    role = data.get("role", path.stem)
    if role != path.stem:
        problem("role", f"is {role!r} but the file is named for {path.stem!r}")
    model = data.get("model")
    if model is not None and (not isinstance(model, str) or not model.strip()):
        problem("model", "must be a model alias or id, or null")
    mode = data.get("permission_mode", "acceptEdits")
    if mode not in PERMISSION_MODES:
        problem("permission_mode", f"must be one of {', '.join(PERMISSION_MODES)}")
    return {
        "role": str(role), "model": model, "permission_mode": str(mode),
        "description": str(data.get("description") or ""),
        "allowed_tools": _tools(data.get("allowed_tools", []), problem, parsed),
        "max_turns": _positive(data.get("max_turns"), "max_turns", int, problem),
        "max_budget_usd": _positive(data.get("max_budget_usd"), "max_budget_usd", float, problem),
        "push": _flag(data.get("push", True), "push", problem),
        "prompt": _prompt(data.get("prompt"), problem, promptless=str(role) in PROMPTLESS_ROLES),
    }


def _flag(value: Any, key: str, problem) -> bool:
    if not isinstance(value, bool):
        problem(key, "must be true or false")
        return True
    return value


def _tools(value: Any, problem, parsed: Parsed) -> tuple[str, ...]:
    if not isinstance(value, list):
        problem("allowed_tools", "must be a list of tool rules, e.g. - Bash(git diff *)")
        return ()
    for i, tool in enumerate(value):
        if not isinstance(tool, str) or not tool.strip() or "," in tool or "\n" in tool:
            where = format_path(("allowed_tools", i))
            problem("allowed_tools", f"{where} = {tool!r}: one rule per item, without commas")
    return tuple(t.strip() for t in value if isinstance(t, str))


def _positive(value: Any, key: str, kind: type, problem) -> Any:
    if value is None:
        return None
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0
    if not ok or (kind is int and not isinstance(value, int)):
        problem(key, f"must be a positive {'integer' if kind is int else 'number'} or null")
        return None
    return kind(value)


def _prompt(value: Any, problem, *, promptless: bool = False) -> str:
    if promptless:
        if value is not None:
            problem("prompt", "this role runs no model: leave the prompt out")
        return ""
    if not isinstance(value, str) or not value.strip():
        problem("prompt", "must be a non-empty text (use `prompt: |` for several lines)")
        return ""
    template = Template(value)
    if not template.is_valid():
        problem("prompt", "has a `$` that starts no placeholder; write `$$` for a dollar sign")
        return value
    unknown = [name for name in template.get_identifiers() if name not in VARIABLES]
    if unknown:
        problem("prompt", f"unknown placeholder(s) {', '.join('$' + n for n in unknown)}; "
                          f"available: {', '.join('$' + v for v in VARIABLES)}")
    return value


def _text(value: Any) -> str:
    return "" if value is None else str(value)
