"""The normalized config as plain data (for `config --json` and the readable listing).

Keys are spelled as in coordinator.yml, so the output (without `path`) loads again with
`config_from_dict`. Secrets never leave: machine `env` values whose name looks secret are masked.
"""

from __future__ import annotations

import re
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from coordssh.config.pipeline_section import pipeline_to_dict
from coordssh.config.schema import Config, Machine

MASK = "***"
_SECRET_NAME_RE = re.compile(r"TOKEN|KEY|SECRET|PASSWORD|PASSWD|CREDENTIAL", re.IGNORECASE)


def is_secret_name(name: str) -> bool:
    return bool(_SECRET_NAME_RE.search(name))


def masked_env(env: dict[str, str]) -> dict[str, str]:
    return {key: MASK if is_secret_name(key) else value for key, value in env.items()}


def config_to_dict(config: Config) -> dict[str, Any]:
    return {
        "path": str(config.path),
        "state_dir": str(config.state_dir),
        "playbooks_dir": str(config.playbooks_dir) if config.playbooks_dir else None,
        "claude_command": config.claude_command,
        "repos": [_plain(asdict(repo)) for repo in config.repos.values()],
        "machines": [machine_to_dict(m) for m in config.machines.values()],
        "concurrency": _plain(asdict(config.concurrency)),
        "models": _plain(asdict(config.models)),
        "runs": {"max_runtime": config.runs.max_runtime_s, "result_grace": config.runs.result_grace_s,
                 "stop_grace": config.runs.stop_grace_s},
        "hooks": _plain(config.hooks),
        "reviews": _plain(asdict(config.reviews)),
        "smoke_tests": _plain(asdict(config.smoke_tests)),
        "intake": _plain(asdict(config.intake)),
        "pipeline": pipeline_to_dict(config.pipeline),
    }


def machine_to_dict(machine: Machine) -> dict[str, Any]:
    data = {f.name: getattr(machine, f.name) for f in fields(machine)}
    data["env"] = masked_env(machine.env)
    return _plain(data)


def _plain(value: Any) -> Any:
    """Tuples to lists, Paths to strings, recursively: JSON-serializable."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value
