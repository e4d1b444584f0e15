"""The `repos:` and `machines:` sections: names, references between them, worker paths."""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from coordssh.config.repo_names import GITHUB_RE, github_slug
from coordssh.config.schema import (DEFAULT_RUN_ROOT, DEFAULT_WORKTREE_ROOT, LOCAL_HOSTS, Machine,
                                    Repo, WorkerPermissions)
from coordssh.config.suggest import did_you_mean
from coordssh.config.validate import MAX_WORKERS, Checker
from coordssh.config.yaml_lines import YamlPath, format_path

REPO_KEYS = ("name", "github", "url", "default_branch", "build_command", "test_command", "depends_on", "notes",
             "worker_permissions")
PERMISSION_KEYS = ("allow", "deny")
MACHINE_KEYS = ("name", "host", "connection", "user", "port", "identity_file", "known_hosts",
                "launcher", "claude_command", "worktree_root", "run_root", "max_workers", "env",
                "connect_timeout", "capabilities", "repos", "repo_paths", "account")
SSH_ONLY_KEYS = ("port", "user", "identity_file", "known_hosts")
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_BAD_HOST_RE = re.compile(r"^-|[\s/'\"`$;&|]")


@dataclass(frozen=True)
class MachineDefaults:
    claude_command: str
    max_workers: int
    repos: tuple[str, ...] | None   # the names defined under repos: (None: that section is broken)


def build_repos(c: Checker, raw: Any) -> dict[str, Repo]:
    repos, paths = _named_entries(c, raw, "repos", "repo", REPO_KEYS, _build_repo)
    for name, repo in repos.items():
        _check_depends_on(c, paths[name], repo, repos)
    return repos


def _named_entries(c: Checker, raw: Any, section: str, kind: str, keys: tuple[str, ...],
                   build: Callable[[Checker, dict, YamlPath], Any]) -> tuple[dict, dict[str, YamlPath]]:
    """Build each `- name: ...` entry of a section; names must be unique. Returns name -> entry
    and name -> its YAML path."""
    entries: dict[str, Any] = {}
    first_seen: dict[str, YamlPath] = {}
    for i, item in enumerate(c.sequence(raw, (section,), example="a list of '- name: ...' entries")):
        path: YamlPath = (section, i)
        if isinstance(item, str):  # `repos: [api, web]`: the shape of a machine's repos list
            c.add(path, f"expected a mapping, got the string '{item}' (write '- name: {item}')")
            continue
        m = c.mapping(item, path, keys)
        entry = build(c, m, path) if isinstance(item, dict) else None
        if entry is None:
            continue
        if entry.name in entries:
            c.add((*path, "name"), f"duplicate {kind} name '{entry.name}' "
                                   f"(also {format_path(first_seen[entry.name])})")
            continue
        entries[entry.name] = entry
        first_seen[entry.name] = path
    return entries, first_seen


def _build_repo(c: Checker, m: dict, path: YamlPath) -> Repo | None:
    name = c.name(m, path)
    if "name" not in m:
        c.add(path, "missing 'name' (every repo needs one)")
    github = c.string(m, path, "github")
    if github is not None and not GITHUB_RE.match(github):
        slug = github_slug(github)
        tip = f" (did you mean '{slug}'?)" if slug else ""
        c.add((*path, "github"), f"'{github}' is not a GitHub owner/name{tip}")
        github = None
    repo = Repo(
        name=name or "",
        github=github,
        url=_clone_url(c, m, path),
        default_branch=c.string(m, path, "default_branch", "main") or "main",
        build_command=c.string(m, path, "build_command"),
        test_command=c.string(m, path, "test_command"),
        depends_on=c.strings(m, path, "depends_on"),
        notes=c.string(m, path, "notes"),
        worker_permissions=_worker_permissions(c, m.get("worker_permissions"),
                                               (*path, "worker_permissions")),
    )
    return repo if name else None


def _clone_url(c: Checker, m: dict, path: YamlPath) -> str | None:
    """Where a worker clones the repo from: any URL or path git accepts, never an option."""
    url = c.string(m, path, "url")
    if url is not None and (not url.strip() or url.startswith("-") or "\n" in url):
        c.add((*path, "url"), f"'{url}' is not a git URL (e.g. git@host:owner/name.git)")
        return None
    return url


def _worker_permissions(c: Checker, raw: Any, path: YamlPath) -> WorkerPermissions:
    """`{allow: [rule, ...], deny: [rule, ...]}`: each rule one line without commas (all rules of
    a run travel as one comma-joined argument), e.g. `Bash(npm ci)` or `WebFetch`."""
    m = c.mapping(raw, path, PERMISSION_KEYS)
    rules = {}
    for key in PERMISSION_KEYS:
        good = []
        for i, rule in enumerate(c.strings(m, path, key)):
            if not rule.strip() or "," in rule or "\n" in rule:
                c.add((*path, key, i), f"'{rule}' is not a permission rule: one rule per item, "
                                       "without commas, e.g. 'Bash(npm ci)'")
            else:
                good.append(rule.strip())
        rules[key] = tuple(good)
    return WorkerPermissions(**rules)


def _check_depends_on(c: Checker, path: YamlPath, repo: Repo, repos: dict[str, Repo]) -> None:
    for i, dep in enumerate(repo.depends_on):
        if dep == repo.name:
            c.add((*path, "depends_on", i), f"repo '{dep}' cannot depend on itself")
        else:
            check_repo_ref(c, (*path, "depends_on", i), dep, repos)


def check_repo_ref(c: Checker, path: YamlPath, name: str, defined: Collection[str] | None, *,
                   key: bool = False) -> bool:
    """Report `name` unless it is a defined repo. With `defined` None (the repos section itself
    is broken) nothing is reported: every reference would be a false alarm."""
    if defined is None or name in defined:
        return True
    c.add(path, f"repo '{name}' is not defined in repos{did_you_mean(name, defined)}", key=key)
    return False


def build_machines(c: Checker, raw: Any, defaults: MachineDefaults) -> dict[str, Machine]:
    def build(c: Checker, m: dict, path: YamlPath) -> Machine | None:
        return _build_machine(c, m, path, defaults)

    return _named_entries(c, raw, "machines", "machine", MACHINE_KEYS, build)[0]


def _build_machine(c: Checker, m: dict, path: YamlPath, d: MachineDefaults) -> Machine | None:
    name = c.name(m, path)
    if "name" not in m:
        c.add(path, "missing 'name' (every machine needs one)")
    host = _host(c, m, path)
    ssh_keys = [key for key in SSH_ONLY_KEYS if m.get(key) is not None]
    # localhost means "run here" unless SSH settings say otherwise (a test sshd on 127.0.0.1:2222)
    default = "local" if host in LOCAL_HOSTS and not ssh_keys else "ssh"
    connection = c.choice(m, path, "connection", ("local", "ssh"), default)
    if connection == "local" and ssh_keys:
        c.add((*path, ssh_keys[0]), f"only applies to `connection: ssh` (this machine runs "
                                    f"locally); remove it, or set connection: ssh")
    identity = c.local_path(m, path, "identity_file")
    known_hosts = c.local_path(m, path, "known_hosts")
    repo_paths = _repo_paths(c, m, path, d.repos)
    repos = _machine_repos(c, m, path, d.repos, repo_paths)
    machine = Machine(
        name=name or "",
        host=host,
        connection=connection,  # type: ignore[arg-type]
        user=c.string(m, path, "user"),
        port=c.integer(m, path, "port", None, minimum=1, maximum=65535),  # type: ignore[arg-type]
        identity_file=str(identity) if identity else None,
        known_hosts=str(known_hosts) if known_hosts else None,
        launcher=c.choice(m, path, "launcher", ("tmux", "nohup"), "nohup"),  # type: ignore[arg-type]
        claude_command=c.string(m, path, "claude_command", d.claude_command) or d.claude_command,
        worktree_root=c.worker_path(m, path, "worktree_root", DEFAULT_WORKTREE_ROOT),
        run_root=c.worker_path(m, path, "run_root", DEFAULT_RUN_ROOT),
        max_workers=c.integer(m, path, "max_workers", d.max_workers, minimum=1,
                              maximum=MAX_WORKERS),
        env=_env(c, m, path),
        capabilities=c.strings(m, path, "capabilities"),
        repos=repos,
        repo_paths=repo_paths,
        connect_timeout=c.number(m, path, "connect_timeout", 5.0, positive=True, maximum=3600),
        account=c.name(m, path, "account"),
    )
    return machine if name else None


def _host(c: Checker, m: dict, path: YamlPath) -> str:
    host = c.string(m, path, "host", "localhost") or "localhost"
    if "@" in host:
        user, _, bare = host.rpartition("@")
        c.add((*path, "host"), f"'{host}' includes a user; write user: {user} and host: {bare}")
    elif _BAD_HOST_RE.search(host) or not host:
        c.add((*path, "host"), f"'{host}' is not a hostname, IP address or ~/.ssh/config alias")
    return host


def _repo_paths(c: Checker, m: dict, path: YamlPath, defined: Collection[str] | None) -> dict[str, str]:
    raw = c.mapping(m.get("repo_paths"), (*path, "repo_paths"))
    result = {}
    for repo, value in raw.items():
        where = (*path, "repo_paths", repo)
        if not check_repo_ref(c, where, repo, defined, key=True):
            continue
        worker_path = c.worker_path(m, where, None, value=value)
        if worker_path is not None:
            result[repo] = worker_path
    return result


def _machine_repos(c: Checker, m: dict, path: YamlPath, defined: Collection[str] | None,
                   repo_paths: dict[str, str]) -> tuple[str, ...]:
    """`repos`, or the keys of `repo_paths` when `repos` is not written.

    A listed repo needs a repo_paths entry; one whose path was wrong is already reported.
    """
    if "repos" not in m:
        return tuple(repo_paths)
    result = []
    for i, repo in enumerate(c.strings(m, path, "repos")):
        if not check_repo_ref(c, (*path, "repos", i), repo, defined):
            continue
        if repo not in repo_paths and repo not in (m.get("repo_paths") or {}):
            c.add((*path, "repos", i), f"repo '{repo}' has no entry in repo_paths "
                                       "(where is its clone on this machine?)")
        else:
            result.append(repo)
    return tuple(result)


def _env(c: Checker, m: dict, path: YamlPath) -> dict[str, str]:
    env = c.string_map(m, path, "env")
    for key in list(env):
        if not ENV_NAME_RE.match(key):
            c.add((*path, "env", key), f"'{key}' is not a valid environment variable name "
                                       "(letters, digits and '_', not starting with a digit)", key=True)
            del env[key]
    return env
