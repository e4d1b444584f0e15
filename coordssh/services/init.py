"""`coordssh init`: find the git repositories near the operator and write a first coordinator.yml.

Detection looks at the directory itself, its immediate subdirectories and `~/src/*`. For each
repository it reads the origin URL (and from it the GitHub owner/name) and the default branch:
origin's HEAD, else the current branch, else `main`. Nothing here touches the network.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from coordssh.config.discover import CONFIG_NAME
from coordssh.config.load import config_from_text, load_config
from coordssh.config.repo_names import github_slug
from coordssh.config.schema import Config
from coordssh.errors import UsageError
from coordssh.shell.command import cmd

GIT_TIMEOUT_S = 10
_NAME_BAD_CHARS = re.compile(r"[^A-Za-z0-9._-]+")
_PLAIN_SCALAR = re.compile(r"^[A-Za-z0-9~/][A-Za-z0-9_./~+-]*$")


@dataclass(frozen=True)
class FoundRepo:
    name: str
    path: Path
    origin_url: str | None = None
    github: str | None = None          # owner/name when origin is on GitHub
    default_branch: str = "main"


@dataclass(frozen=True)
class InitPlan:
    repos: tuple[FoundRepo, ...]
    machine: str = "localhost"
    max_workers: int = 2
    launcher: str = "nohup"


# --- detection ------------------------------------------------------------------------------------
def candidate_dirs(cwd: Path, home: Path) -> list[Path]:
    """cwd, its immediate subdirectories, then ~/src/*: each once, in that order."""
    found: list[Path] = []
    seen: set[Path] = set()
    for folder in (cwd, *_subdirs(cwd), *_subdirs(home / "src")):
        real = folder.resolve()
        if real not in seen and (folder / ".git").exists():
            seen.add(real)
            found.append(real)
    return found


def _subdirs(folder: Path) -> list[Path]:
    try:
        return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError:  # ~/src missing or unreadable: nothing to find there
        return []


def detect_repos(cwd: Path, home: Path, *, git: str = "git") -> list[FoundRepo]:
    """Every git repository in cwd, its subdirectories and ~/src/*, with unique names."""
    repos: list[FoundRepo] = []
    names: set[str] = set()
    for path in candidate_dirs(cwd, home):
        origin = _git(git, path, "remote", "get-url", "origin")
        name = _unique(_repo_name(path), names)
        names.add(name)
        repos.append(FoundRepo(name=name, path=path, origin_url=origin,
                               github=github_slug(origin) if origin else None,
                               default_branch=default_branch(path, git=git)))
    return repos


def default_branch(path: Path, *, git: str = "git") -> str:
    """origin's HEAD (`origin/main` -> `main`), else the current branch, else `main`."""
    origin_head = _git(git, path, "symbolic-ref", "--quiet", "--short", "refs/remotes/origin/HEAD")
    if origin_head and "/" in origin_head:
        return origin_head.split("/", 1)[1]
    return _git(git, path, "symbolic-ref", "--quiet", "--short", "HEAD") or "main"


def _git(git: str, path: Path, *args: str) -> str | None:
    """stdout of `git -C path args...` stripped, or None when git fails or is missing."""
    argv = cmd(git, "-C", str(path), *args).argv()
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=GIT_TIMEOUT_S,
                              stdin=subprocess.DEVNULL, env={**os.environ, "GIT_TERMINAL_PROMPT": "0"})
    except (OSError, subprocess.TimeoutExpired):
        return None
    out = done.stdout.strip()
    return out if done.returncode == 0 and out else None


def _repo_name(path: Path) -> str:
    name = _NAME_BAD_CHARS.sub("-", path.name).strip("-._")
    return name or "repo"


def _unique(name: str, taken: set[str]) -> str:
    candidate, n = name, 2
    while candidate in taken:
        candidate, n = f"{name}-{n}", n + 1
    return candidate


def default_launcher(which: Callable[[str], str | None] = shutil.which) -> str:
    """tmux when it is installed here (runs can then be attached to), else nohup."""
    return "tmux" if which("tmux") else "nohup"


def default_plan(cwd: Path, home: Path, *, git: str = "git",
                 which: Callable[[str], str | None] = shutil.which) -> InitPlan:
    """Every detected repo on one local machine: what `init --yes` writes."""
    repos = detect_repos(cwd, home, git=git)
    if not repos:
        raise UsageError(f"no git repositories in {cwd}, its subdirectories or {home / 'src'}",
                         hint="run `coordssh init` inside a repository (or its parent directory), "
                              "or copy coordinator.example.yml and edit it")
    return InitPlan(repos=tuple(repos), launcher=default_launcher(which))


# --- writing ----------------------------------------------------------------------------------------
def config_target(directory: Path, *, force: bool) -> Path:
    """Where init writes; refuses an existing file unless `force` (checked before any question)."""
    target = directory.resolve() / CONFIG_NAME
    if target.exists() and not force:
        raise UsageError(f"{target} already exists",
                         hint="pass --force to overwrite it, or edit it and run `coordssh config --check`")
    return target


def write_config(plan: InitPlan, target: Path, *, home: Path) -> Config:
    """Render, validate (before anything is replaced), then write coordinator.yml; return it loaded."""
    if not plan.repos:
        raise UsageError("no repositories chosen, so there is nothing to coordinate",
                         hint="run `coordssh init` inside a git repository or its parent directory")
    text = render_config(plan, home=home)
    config_from_text(text, target)  # a bad answer (machine name, ...) fails here, file untouched
    target.write_text(text, encoding="utf-8")
    return load_config(target, environ={})


def render_config(plan: InitPlan, *, home: Path) -> str:
    lines = [
        f"# {CONFIG_NAME}, written by `coordssh init`. Every key is explained in",
        "# coordinator.example.yml; check your edits with `coordssh config --check`.",
        "",
        "repos:",
    ]
    for repo in plan.repos:
        lines += _repo_lines(repo)
    lines += [
        "",
        "machines:",
        f"  - name: {_scalar(plan.machine)}",
        "    host: localhost",
        "    connection: local",
        f"    launcher: {plan.launcher}",
        f"    max_workers: {plan.max_workers}",
        "    repo_paths:",
        *(f"      {_scalar(r.name)}: {_scalar(worker_path(r.path, home))}" for r in plan.repos),
        "",
        "concurrency:",
        f"  max_workers: {plan.max_workers}",
        "",
    ]
    return "\n".join(lines)


def _repo_lines(repo: FoundRepo) -> list[str]:
    lines = [f"  - name: {_scalar(repo.name)}"]
    if repo.github:
        lines.append(f"    github: {_scalar(repo.github)}")
    elif repo.origin_url:
        lines.append(f"    # origin is {repo.origin_url} (not GitHub: plain git)")
    lines.append(f"    default_branch: {_scalar(repo.default_branch)}")
    return lines


def worker_path(path: Path, home: Path) -> str:
    """`~/...` for a path under home (the worker's shell expands it), else the absolute path."""
    try:
        return "~/" + path.relative_to(home.resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def _scalar(text: str) -> str:
    """A YAML scalar: plain when that reads back as the same string, else double-quoted."""
    import yaml

    if _PLAIN_SCALAR.match(text) and yaml.safe_load(text) == text:
        return text
    return json.dumps(text)  # a JSON string is a valid YAML double-quoted scalar

