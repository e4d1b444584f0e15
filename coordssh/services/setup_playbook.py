"""The machine setup playbook: `setup/machine.yml`, the user's copy or the shipped one.

It lives in a `setup/` subdirectory of the playbooks so it is never taken for a role playbook.
Steps are data choosing coordssh's own operations (`step:`) and their options; every problem of
the file is reported at once, with its line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from coordssh.agent.playbook import SHIPPED_DIR
from coordssh.config.yaml_lines import format_path, parse_yaml
from coordssh.errors import ConfigError

SETUP_FILE = Path("setup") / "machine.yml"
ROOTS = ("worktree_root", "run_root")
DEFAULT_SLOT_ROOT = "~/.coordssh/claude-slots"
DEFAULT_AUTH_ARGS = ("auth", "status")
# step kind -> its option keys besides `step` and `name`
STEP_KEYS: dict[str, tuple[str, ...]] = {
    "package": ("command", "package", "install", "only_with_launcher"),
    "directories": ("paths",),
    "clones": (),
    "git_identity": ("user_name", "user_email"),
    "claude": (),
    "claude_config_dirs": ("enabled", "root"),
    "claude_auth": ("args",),
}


@dataclass(frozen=True)
class SetupStep:
    kind: str
    name: str
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SetupPlaybook:
    path: Path
    steps: tuple[SetupStep, ...]


def find_setup_playbook(directory: Path | None = None) -> Path:
    for base in ([directory] if directory else []) + [SHIPPED_DIR]:
        if (base / SETUP_FILE).is_file():
            return base / SETUP_FILE
    return SHIPPED_DIR / SETUP_FILE


def load_setup_playbook(directory: Path | None = None) -> SetupPlaybook:
    path = find_setup_playbook(directory)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"{path}: cannot read: {err.strerror}") from err
    return parse_setup_playbook(text, path)


def parse_setup_playbook(text: str, path: Path) -> SetupPlaybook:
    parsed = parse_yaml(text, path)
    problems: list[str] = []

    def problem(where: tuple, message: str) -> None:
        line = parsed.value_lines.get(where, parsed.key_lines.get(where, 1))
        problems.append(f"{path.name}:{line}: {format_path(where)}: {message}")

    data = parsed.data
    raw_steps = data.get("steps") if isinstance(data, dict) else None
    if not isinstance(raw_steps, list) or not raw_steps:
        raise ConfigError(f"{path}:1: the setup playbook needs `steps:`, a list of steps",
                          hint="see the shipped coordssh/data/playbooks/setup/machine.yml")
    steps = [_step(raw, ("steps", i), problem) for i, raw in enumerate(raw_steps)]
    if problems:
        raise ConfigError(problems[0] if len(problems) == 1 else
                          f"{path}: {len(problems)} problems in the setup playbook",
                          hint="fix the playbook, or delete it to use the shipped one",
                          problems=problems)
    return SetupPlaybook(path, tuple(s for s in steps if s is not None))


def _step(raw: Any, where: tuple, problem) -> SetupStep | None:
    if not isinstance(raw, dict):
        problem(where, "each step is a mapping with `step:` and its options")
        return None
    kind = raw.get("step")
    if kind not in STEP_KEYS:
        problem((*where, "step"), f"{kind!r} is not a step; known: {', '.join(STEP_KEYS)}")
        return None
    options = {k: v for k, v in raw.items() if k not in ("step", "name")}
    for key in options:
        if key not in STEP_KEYS[kind]:
            known = ", ".join(("name", *STEP_KEYS[kind]))
            problem((*where, key), f"unknown option of a {kind} step (known: {known})")
    options = _checked(kind, options, where, problem)
    return SetupStep(kind, str(raw.get("name") or kind), options)


def _checked(kind: str, options: dict, where: tuple, problem) -> dict:
    if kind == "package":
        if not _word(options.get("command")):
            problem((*where, "command"), "needs the program to look for, e.g. git")
        options.setdefault("package", options.get("command"))
        if not _word(options.get("package")):
            problem((*where, "package"), "must be a Debian package name")
        _flag(options, "install", where, problem)
        launcher = options.get("only_with_launcher")
        if launcher not in (None, "tmux", "nohup"):
            problem((*where, "only_with_launcher"), "must be tmux or nohup")
    elif kind == "directories":
        paths = options.get("paths", list(ROOTS))
        if not isinstance(paths, list) or any(p not in ROOTS for p in paths):
            problem((*where, "paths"), f"a list of {' and '.join(ROOTS)}")
        options["paths"] = paths
    elif kind == "git_identity":
        for key in ("user_name", "user_email"):
            value = options.setdefault(key, "")
            if not isinstance(value, str) or "\n" in value:
                problem((*where, key), "one line of text (or leave it out)")
        if bool(options["user_name"]) != bool(options["user_email"]):
            problem((*where, "user_email" if options["user_name"] else "user_name"),
                    "give both user_name and user_email, or neither")
    elif kind == "claude_config_dirs":
        _flag(options, "enabled", where, problem)
        root = options.setdefault("root", DEFAULT_SLOT_ROOT)
        if not isinstance(root, str) or not root.startswith(("/", "~/")) or "\n" in root:
            problem((*where, "root"), "a worker path, absolute or starting with ~/")
    elif kind == "claude_auth":
        args = options.setdefault("args", list(DEFAULT_AUTH_ARGS))
        if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
            problem((*where, "args"), "a list of arguments for claude, e.g. [auth, status]")
    return options


def _flag(options: dict, key: str, where: tuple, problem) -> None:
    value = options.setdefault(key, False)
    if not isinstance(value, bool):
        problem((*where, key), "must be true or false")


def _word(value: Any) -> bool:
    return isinstance(value, str) and bool(value) and not value.startswith("-") and \
        not any(ch.isspace() for ch in value)
