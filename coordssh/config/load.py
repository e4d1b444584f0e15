"""Load coordinator.yml: find it, parse it, validate everything, freeze it.

`load_config` is the only reader of coordinator.yml. Validation reports every problem at once
(ConfigError.problems, exit code 2), each as `file:line: path: message`. It never looks at a
worker's filesystem: worker paths are checked for shape only.

Line numbers are only needed for problems, and the line-tracking parse is the slow one: the
file is parsed with LibYAML first (`parse_yaml_fast`, the same data) and validated; only when
that finds a problem is it parsed again with line numbers and validated again for the messages.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from coordssh.config.discover import find_config_path
from coordssh.config.intake import build_intake
from coordssh.config.machines import MachineDefaults, build_machines, build_repos
from coordssh.config.pipeline_section import build_pipeline
from coordssh.config.schema import DEFAULT_CLAUDE_COMMAND, Config
from coordssh.config.sections import (
    build_concurrency,
    build_hooks,
    build_models,
    build_reviews,
    build_runs,
    build_smoke_tests,
)
from coordssh.config.validate import Checker, describe
from coordssh.config.yaml_lines import EMPTY_HINT, Parsed, parse_yaml, parse_yaml_fast
from coordssh.errors import ConfigError

TOP_LEVEL_KEYS = ("repos", "machines", "concurrency", "models", "runs", "hooks", "reviews",
                  "smoke_tests", "pipeline", "intake", "claude_command", "state_dir",
                  "playbooks_dir")
STATE_DIR_NAME = ".coordssh"


def load_config(explicit_path: str | os.PathLike | None = None, *,
                environ: Mapping[str, str] | None = None, cwd: Path | None = None) -> Config:
    """Find coordinator.yml (--config, then $COORDSSH_CONFIG, then cwd and parents) and load it."""
    path = find_config_path(explicit_path, cwd=cwd, environ=environ)  # type: ignore[arg-type]
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"cannot read {path}: {err}",
                          hint="check the file's permissions and that it is UTF-8 text") from None
    return config_from_text(text, path)


def config_from_text(text: str, path: Path) -> Config:
    """Validate YAML text as if it were the file at `path` (used before writing one)."""
    path = Path(path).absolute()
    fast = parse_yaml_fast(text, path)
    if fast is not None:
        try:
            return _validate(fast, path)
        except ConfigError:
            pass  # parse again with line numbers: the messages need them
    return _validate(parse_yaml(text, path), path)


def config_from_dict(data: dict, path: Path) -> Config:
    """Build a Config from data shaped like coordinator.yml (same validation, no line numbers).

    `path` is where the config notionally lives: relative paths and the state directory are
    resolved beside it.
    """
    return _validate(Parsed(data=data), Path(path).absolute())


def _validate(parsed: Parsed, path: Path) -> Config:
    c = Checker(path, parsed)
    data = parsed.data
    if data is None:
        raise ConfigError(f"{path.name}: the file is empty", hint=EMPTY_HINT)
    if not isinstance(data, dict):
        c.add((), f"the top level must be a mapping (repos:, machines:, ...), got {describe(data)}")
        _raise_if_problems(c)
    for dup, first_line in parsed.duplicate_keys:
        c.add(dup, f"duplicate key (also on line {first_line}; YAML would keep only the last)", key=True)
    config = _build(c, c.mapping(data, (), TOP_LEVEL_KEYS), path)
    _raise_if_problems(c)
    return config


def _build(c: Checker, data: dict[str, Any], path: Path) -> Config:
    # A missing section is most likely a typo; an explicit `machines: []` is an empty fleet
    # (status shows nothing, assign refuses the unknown machine), which is a fine place to start.
    for section in ("repos", "machines"):
        if section not in data:
            c.add((), f"missing '{section}' (write `{section}: []` for none yet; see "
                      "coordinator.example.yml)")
        elif data[section] is None:
            c.add((section,), f"has no value (write `{section}: []` for none yet)")
    claude_command = c.string(data, (), "claude_command", DEFAULT_CLAUDE_COMMAND) or DEFAULT_CLAUDE_COMMAND
    concurrency = build_concurrency(c, data.get("concurrency"))
    repos = build_repos(c, data.get("repos"))
    raw_repos = data.get("repos")
    whole = isinstance(raw_repos, list) and all(isinstance(item, dict) for item in raw_repos)
    known_repos = tuple(repos) if whole else None  # None: skip reference checks (false alarms)
    defaults = MachineDefaults(claude_command=claude_command, max_workers=concurrency.max_workers,
                               repos=known_repos)
    return Config(
        path=path,
        state_dir=c.local_path(data, (), "state_dir") or path.parent / STATE_DIR_NAME,
        repos=repos,
        machines=build_machines(c, data.get("machines"), defaults),
        concurrency=concurrency,
        models=build_models(c, data.get("models")),
        runs=build_runs(c, data.get("runs")),
        hooks=build_hooks(c, data.get("hooks")),
        reviews=build_reviews(c, data.get("reviews"), known_repos),
        smoke_tests=build_smoke_tests(c, data.get("smoke_tests")),
        intake=build_intake(c, data.get("intake")),
        pipeline=build_pipeline(c, data.get("pipeline")),
        claude_command=claude_command,
        playbooks_dir=c.local_path(data, (), "playbooks_dir"),
    )


def _raise_if_problems(c: Checker) -> None:
    problems = c.problems
    if not problems:
        return
    hint = f"fix {c.path}, then check it with `coordssh config --check`"
    if len(problems) == 1:
        raise ConfigError(problems[0], hint=hint, problems=problems)
    raise ConfigError(f"{c.path} has {len(problems)} problems:", hint=hint, problems=problems)
