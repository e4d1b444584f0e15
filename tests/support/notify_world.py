"""A dispatch Context with a `pipeline:` policy and a repo test command, for the driver's tests;
and a coordinator.yml for running `coordssh notify` as a real process."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import yaml

from tests.support.dispatch import FAKE_CLAUDE, REPO_ROOT


def with_pipeline(ctx, *, test_command: str = "true", account: str | None = None,
                  hooks: dict | None = None, **pipeline):
    """The context with `pipeline:` keys (as if written) and the repo's test command."""
    from coordssh.config.schema import Budgets, Pipeline

    budgets = Budgets(**pipeline.pop("budgets", {}))
    section = Pipeline(**pipeline, budgets=budgets, given=frozenset(pipeline))
    repo = replace(ctx.config.repos["demo"], test_command=test_command)
    machines = {name: replace(mc, account=account) for name, mc in ctx.config.machines.items()}
    ctx.config = replace(ctx.config, pipeline=section, repos={"demo": repo}, machines=machines,
                         hooks=hooks or {})
    return ctx


def minimal_config(root: Path, *, github: str | None = None):
    """A Config with repo `demo` and no machines (for pieces that never connect)."""
    from coordssh.config.schema import Config, Repo

    return Config(path=root / "coordinator.yml", state_dir=root / "state",
                  repos={"demo": Repo(name="demo", github=github)}, machines={})


def write_config(path: Path, machine, world, *, state_dir: Path, pipeline: dict,
                 github: str | None = None) -> Path:
    """coordinator.yml for the one local machine serving repo `demo` with the stand-in."""
    data = {
        "state_dir": str(state_dir),
        "repos": [{"name": "demo", "test_command": "true",
                   **({"github": github} if github else {})}],
        "machines": [{"name": machine.name, "worktree_root": machine.worktree_root,
                      "run_root": machine.run_root, "claude_command": str(FAKE_CLAUDE),
                      "repo_paths": {"demo": str(world.clone)}}],
        "pipeline": pipeline,
    }
    path.write_text(yaml.safe_dump(data))
    return path


def run_cli(config: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "coordssh", *args, "--config", str(config)],
                          capture_output=True, text=True, cwd=REPO_ROOT,
                          env={**os.environ, "PYTHONPATH": str(REPO_ROOT), **(env or {})},
                          timeout=300)


def start_cli(config: Path, *args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "coordssh", *args, "--config", str(config)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=REPO_ROOT,
                            env={**os.environ, "PYTHONPATH": str(REPO_ROOT), **(env or {})})


__all__ = ["minimal_config", "run_cli", "start_cli", "with_pipeline", "write_config"]
