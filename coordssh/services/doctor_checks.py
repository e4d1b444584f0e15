"""What the doctor concludes from a machine's probe facts: problems, each with its fix. Pure."""

from __future__ import annotations

from dataclasses import dataclass

from coordssh.config.schema import Machine, Repo
from coordssh.errors import CoordError
from coordssh.remote.doctor_probe import ProbeFacts, RepoFacts

ERROR = "error"
WARNING = "warning"

SLOW_SHELL_S = 0.020            # a bare `true` costing more means heavy shell startup files
LOW_DISK_KB = 5 * 1024 * 1024   # worktrees (and their node_modules) fill disks fast
KNOWN_LOCATIONS = ("PATH", "a login shell", "~/.local/bin", "~/.npm-global/bin",
                   "~/.nvm/versions/node/*/bin", "/usr/local/bin")


@dataclass(frozen=True)
class Problem:
    severity: str         # error | warning
    message: str
    fix: str
    machine: str | None = None   # None: the operator's side (gh)

    def to_dict(self) -> dict[str, str | None]:
        return {"severity": self.severity, "machine": self.machine, "message": self.message,
                "fix": self.fix}


def from_error(err: CoordError, machine: str | None = None) -> Problem:
    return Problem(ERROR, err.message, err.hint or "", machine)


def assess(machine: Machine, facts: ProbeFacts, shell_s: float | None,
           repos: dict[str, Repo]) -> list[Problem]:
    name = machine.name
    found = [*_tools(machine, facts), *_claude(machine, facts), *_roots(machine, facts),
             *filter(None, (_repo(machine, f, repos.get(f.name)) for f in facts.repos.values()))]
    if shell_s is not None and shell_s > SLOW_SHELL_S:
        found.append(Problem(
            WARNING, f"every command on {name} waits {shell_s * 1000:.0f} ms for the remote shell "
                     "to start (its startup files are heavy)",
            "make ~/.bashrc return early when not interactive: put `case $- in *i*) ;; *) "
            "return;; esac` at its top (pyenv/nvm/conda init below it)"))
    if facts.disk_free_kb is not None and facts.disk_free_kb < LOW_DISK_KB:
        found.append(Problem(
            WARNING, f"only {facts.disk_free_kb / 1024 / 1024:.1f} GiB free under "
                     f"{machine.worktree_root} on {name}",
            f"free some space on {name}, or point worktree_root at a larger disk"))
    return [p if p.machine else Problem(p.severity, p.message, p.fix, name) for p in found]


def slot_problems(machine: Machine, capacity: int) -> list[Problem]:
    """Fewer claude config slots recorded by setup than the machine's max_workers
    (`services/slots.capacity`): the runs beyond them are refused."""
    if capacity >= machine.max_workers:
        return []
    return [Problem(WARNING, f"{machine.name} has {capacity} claude config slots for "
                             f"max_workers {machine.max_workers}: runs beyond {capacity} at "
                             "once are refused",
                    f"`coordssh setup {machine.name}` makes the missing slots (each needs its "
                    "own login), or lower max_workers", machine.name)]


def _tools(machine: Machine, facts: ProbeFacts) -> list[Problem]:
    found = []
    if not facts.git:
        found.append(Problem(ERROR, f"git is not installed on {machine.name}",
                             f"install git on {machine.name} (apt-get install git)"))
    if facts.git and not facts.git_identity:
        found.append(Problem(
            WARNING, f"git has no identity for the SSH user on {machine.name}: the agent's "
                     "commits fail (its work is kept only by coordssh's rescue commit)",
            f"`coordssh setup {machine.name}` with user_name and user_email in the setup "
            f"playbook's git_identity step, or `git config --global user.name ...` and "
            f"`user.email ...` on {machine.name}"))
    if machine.launcher == "tmux" and not facts.tmux:
        found.append(Problem(ERROR, f"launcher is tmux but tmux is not installed on {machine.name}",
                             f"install tmux on {machine.name}, or set `launcher: nohup`"))
    return found


def _claude(machine: Machine, facts: ProbeFacts) -> list[Problem]:
    configured, name, path = machine.claude_command, machine.name, facts.claude_path
    state = facts.claude_state
    if state == "ok":
        return []
    if state == "missing" and facts.claude_via != "configured":
        return [Problem(ERROR, f"`{configured}` not found on {name} (looked in "
                               f"{', '.join(KNOWN_LOCATIONS)})",
                        f"install Claude Code on {name}, or set claude_command for {name} to "
                        "its absolute path (`command -v claude` in a login shell there)")]
    if state == "missing":
        return [Problem(ERROR, f"claude_command {path} does not exist on {name}",
                        f"fix claude_command for {name} (`command -v claude` in a login shell "
                        "there prints the path), or install Claude Code")]
    if state == "not_executable":
        return [Problem(ERROR, f"claude_command {path} on {name} is not an executable file",
                        f"point claude_command for {name} at the claude executable")]
    return [Problem(ERROR, f"`{path} --version` failed on {name}: {facts.claude_version or '?'}",
                    f"run `{path} --version` on {name} to see why; reinstall Claude Code if needed")]


def _roots(machine: Machine, facts: ProbeFacts) -> list[Problem]:
    found = []
    for kind, setting in (("worktree", "worktree_root"), ("run", "run_root")):
        root = facts.roots.get(kind)
        if root is None or root.state in ("ok", "created"):
            continue
        verb = "cannot be created" if root.state == "cannot_create" else "is not writable"
        found.append(Problem(ERROR, f"{setting} {root.path} on {machine.name} {verb}",
                             f"fix its permissions on {machine.name}, or set {setting} to a "
                             "directory the SSH user can write"))
    return found


def _repo(machine: Machine, fact: RepoFacts, repo: Repo | None) -> Problem | None:
    where = f"repo_paths.{fact.name} ({fact.path}) on {machine.name}"
    if fact.state == "ok":
        return None
    if fact.state == "missing":
        source = f"https://github.com/{repo.github}.git" if repo and repo.github else "<url>"
        return Problem(ERROR, f"{where} does not exist",
                       f"clone it there (git clone {source} {fact.path}), or fix repo_paths")
    if fact.state == "not_git":
        why = f" ({fact.detail})" if fact.detail else ""
        return Problem(ERROR, f"{where} is not a git repository{why}",
                       "point repo_paths at the clone's top directory")
    return Problem(ERROR, f"{where} has no `origin` remote: branches cannot be fetched or pushed",
                   f"git -C {fact.path} remote add origin <url>")
