"""Real git repos for dispatch tests: a bare `origin` and the worker's clone of it.

    world = GitWorld.create(tmp_path)         # origin.git (bare, branch main) + clone
    world.heads()                             # {"main": sha, ...} on origin (git ls-remote)
    world.push_branch("issue-7-x", merged=False)
    world.refs(world.clone)                   # every ref of a repo, to prove nothing changed

Plus `wait_for(predicate, timeout)`: polling with a generous deadline, never a timed assertion.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com",
           "GIT_CONFIG_NOSYSTEM": "1"}

REPO_ROOT = Path(__file__).resolve().parents[2]
FAKE_CLAUDE = REPO_ROOT / "tests" / "bin" / "claude"


def git(*args: str, cwd: Path | None = None) -> str:
    env = {**os.environ, **GIT_ENV}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True,
                          text=True).stdout


def wait_for(predicate: Callable[[], object], timeout: float = 120.0, interval: float = 0.2):
    """Poll until `predicate()` is truthy; its value, or AssertionError after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout:g}s: {predicate}")
        time.sleep(interval)


@dataclass
class GitWorld:
    root: Path
    origin: Path          # bare repository
    clone: Path           # the worker's clone (repo_paths points here)
    seed: Path            # a second clone to change origin behind the worker's back

    @classmethod
    def create(cls, root: Path) -> GitWorld:
        origin, clone, seed = root / "origin.git", root / "worker" / "repo", root / "seed"
        git("init", "-q", "--bare", "-b", "main", str(origin))
        git("clone", "-q", str(origin), str(seed))
        (seed / "README.md").write_text("# demo\n")
        git("add", "README.md", cwd=seed)
        git("commit", "-q", "-m", "initial", cwd=seed)
        git("push", "-q", "origin", "main", cwd=seed)
        git("clone", "-q", str(origin), str(clone))
        return cls(root, origin, clone, seed)

    def heads(self) -> dict[str, str]:
        out = git("ls-remote", "--heads", str(self.origin))
        return {ref.removeprefix("refs/heads/"): sha
                for sha, ref in (line.split("\t") for line in out.splitlines())}

    def refs(self, repo: Path) -> str:
        return git("for-each-ref", "--format=%(refname) %(objectname)", cwd=repo)

    def advance_main(self, name: str = "later.txt") -> str:
        """A new commit on origin's main that the worker's clone has not fetched yet."""
        (self.seed / name).write_text("later\n")
        git("add", name, cwd=self.seed)
        git("commit", "-q", "-m", f"add {name}", cwd=self.seed)
        git("push", "-q", "origin", "main", cwd=self.seed)
        return git("rev-parse", "HEAD", cwd=self.seed).strip()

    def push_branch(self, branch: str, *, merged: bool) -> str:
        """A branch on origin; `merged` also merges it into main (fast-forward)."""
        git("checkout", "-q", "-b", branch, "origin/main", cwd=self.seed)
        (self.seed / f"{branch}.txt").write_text(branch + "\n")
        git("add", ".", cwd=self.seed)
        git("commit", "-q", "-m", f"work on {branch}", cwd=self.seed)
        git("push", "-q", "origin", branch, cwd=self.seed)
        sha = git("rev-parse", "HEAD", cwd=self.seed).strip()
        if merged:
            git("push", "-q", "origin", f"{sha}:refs/heads/main", cwd=self.seed)
        git("checkout", "-q", "main", cwd=self.seed)
        git("pull", "-q", "--ff-only", cwd=self.seed)
        return sha

    def break_origin(self) -> None:
        """Make origin unreachable from the worker's clone (its URL points nowhere)."""
        git("remote", "set-url", "origin", str(self.root / "gone.git"), cwd=self.clone)


def tree_snapshot(*roots: Path) -> dict[str, tuple[int, int]]:
    """Every path under `roots` with its mode and size: to prove a dry run wrote nothing."""
    found: dict[str, tuple[int, int]] = {}
    for root in roots:
        if not root.exists():
            continue
        for path in [root, *root.rglob("*")]:
            st = path.lstat()
            found[str(path)] = (st.st_mode, st.st_size if path.is_file() else 0)
    return found


def dispatch_context(state_dir: Path, machine, world: GitWorld, *, launcher: str = "nohup",
                     max_workers: int = 2, env: dict[str, str] | None = None,
                     result_grace_s: float = 30, max_runtime_s: float = 600,
                     github: str | None = None, forge_factory=None, models=None,
                     claude_command: str | None = None):
    """A Context whose one machine serves repo `demo` (the world's clone) with the stand-in, or
    with `claude_command` (e.g. the real CLI: the `claude_bin` fixture, with
    env=claude_env.overrides(server); see tests/support/real_claude.py)."""
    from dataclasses import replace

    from coordssh.board.store import Board
    from coordssh.config.schema import Config, Models, Repo, Runs
    from coordssh.forge import forge_for
    from coordssh.services.context import Context
    from coordssh.transport.connect import Connector

    worker = replace(machine, repos=("demo",), repo_paths={"demo": str(world.clone)},
                     claude_command=str(claude_command or FAKE_CLAUDE), launcher=launcher,
                     max_workers=max_workers,
                     env=dict(env or {}))
    repo = Repo(name="demo", github=github)
    config = Config(path=state_dir.parent / "coordinator.yml", state_dir=state_dir,
                    repos={"demo": repo}, machines={worker.name: worker},
                    models=models or Models(),
                    runs=Runs(result_grace_s=result_grace_s, max_runtime_s=max_runtime_s))
    return Context(config=config, board=Board.open(state_dir), connector=Connector(),
                   forge_factory=forge_factory or (lambda r: forge_for(r)))


def reap(board) -> None:
    """End every run the board knows (its wrapper's and claude's groups, its tmux session)."""
    import signal

    for row in board.list(include_archived=True):
        finished = (Path(row.run_dir) / "finished_at").exists()   # its groups are gone already
        for name in () if finished else ("claude_pid", "pid"):
            path = Path(row.run_dir) / name
            try:
                os.killpg(int(path.read_text().strip()), signal.SIGKILL)
            except (OSError, ValueError):
                pass
        subprocess.run(["tmux", "kill-session", "-t", f"=coordssh-{row.id}"],
                       capture_output=True, check=False)


def envelope_file(run_dir: str, name: str) -> str:
    return (Path(run_dir) / name).read_text().strip()


def finished(run_dir: str) -> bool:
    """The wrapper's trap wrote finished_at (last): the envelope is complete."""
    return (Path(run_dir) / "finished_at").exists()


# --- fixtures (import them into a test module to use them) --------------------------------------
import pytest  # noqa: E402


@pytest.fixture
def world(tmp_path):
    return GitWorld.create(tmp_path / "git")


@pytest.fixture
def contexts(tmp_path, world):
    """contexts(machine, **options) -> a dispatch Context; every run it started is reaped."""
    made = []

    def make(machine, **options):
        ctx = dispatch_context(tmp_path / "state", machine, world, **options)
        made.append(ctx)
        return ctx

    yield make
    for ctx in made:
        reap(ctx.board)
