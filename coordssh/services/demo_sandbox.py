"""The throwaway world `coordssh demo` runs in: a bare origin, a clone, a coordinator.yml.

Everything lives under one temporary directory (`coordssh-demo-XXXX` inside `parent`), including
the worktrees, the run envelopes and the board, so removing it removes every trace. The repo is
plain git (no GitHub: its pull requests are branches on the origin, merged by real git merges,
`forge/git.py`); the one machine is this computer (`connection: local`). The repo has a real
test, `check.py` (`coordssh/data/demo/`), its `test_command`; the `pipeline:` section lets
`coordssh notify` test, open the PR and merge by itself.
"""

from __future__ import annotations

import shlex
import shutil
import sys
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml

from coordssh.config.load import config_from_dict
from coordssh.config.schema import Config
from coordssh.errors import ForgeError, UsageError
from coordssh.forge.process import run_program
from coordssh.remote.scratch import create_scratch
from coordssh.shell.command import cmd
from coordssh.transport.local import LocalTransport

REPO = "demo"
MACHINE = "localhost"
README = ("# demo\n\nA throwaway repository made by `coordssh demo`: two workers change it side by "
          "side, each on its own branch and worktree.\n")
CHECK = "check.py"
PIPELINE = {"auto_test": True, "auto_pr": True, "auto_review": True, "auto_merge": True}


def default_test_command() -> str:
    """`python3 check.py`, or this Python when there is no `python3` on PATH."""
    python = "python3" if shutil.which("python3") else shlex.quote(sys.executable)
    return f"{python} {CHECK}"


@dataclass(frozen=True)
class Sandbox:
    root: Path

    @property
    def origin(self) -> Path:
        return self.root / "origin.git"

    @property
    def clone(self) -> Path:
        return self.root / "clone"

    @property
    def config_path(self) -> Path:
        return self.root / "coordinator.yml"

    @property
    def run_root(self) -> str:
        return str(self.root / "runs")

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


async def create_sandbox(parent: Path | None = None) -> Sandbox:
    """A new sandbox with `origin.git` (one commit on main) and a clone of it."""
    if parent is not None and not parent.is_dir():
        raise UsageError(f"--dir {parent}: not a directory",
                         "give an existing directory (the sandbox is created inside it)")
    sandbox = Sandbox(Path(tempfile.mkdtemp(prefix="coordssh-demo-", dir=parent)).resolve())
    try:
        await create_scratch(LocalTransport(MACHINE), str(sandbox.root.parent), sandbox.root.name,
                             who="coordssh demo", subject="Initial commit", readme=README)
        await _add_check(sandbox)
    except BaseException:
        sandbox.remove()
        raise
    return sandbox


async def _add_check(sandbox: Sandbox) -> None:
    """The repo's test, committed on main and pushed: what every change is tested with."""
    text = resources.files("coordssh").joinpath("data", "demo", CHECK).read_bytes()
    (sandbox.clone / CHECK).write_bytes(text)
    await _git("add", CHECK, cwd=sandbox.clone)
    await _git("commit", "-q", "-m", f"Add {CHECK}, the repository's test", cwd=sandbox.clone)
    await _git("push", "-q", "origin", "HEAD:refs/heads/main", cwd=sandbox.clone)


def sandbox_config(sandbox: Sandbox, claude_command: str, *, env: dict[str, str] | None = None,
                   max_runtime_s: float = 900, test_command: str | None = None) -> Config:
    """coordinator.yml for the sandbox (also written to disk, for `--keep` and curious readers)."""
    data = {
        "state_dir": str(sandbox.root / ".coordssh"),
        "repos": [{"name": REPO, "default_branch": "main",
                   "test_command": test_command or default_test_command(),
                   "notes": "A throwaway demo repository; keep changes tiny. `python3 check.py` "
                            "is its test."}],
        "machines": [{
            "name": MACHINE, "host": "localhost", "connection": "local", "launcher": "nohup",
            "claude_command": claude_command, "max_workers": 2,
            "worktree_root": str(sandbox.root / "worktrees"), "run_root": sandbox.run_root,
            "repo_paths": {REPO: str(sandbox.clone)}, "env": dict(env or {}),
        }],
        "runs": {"max_runtime": max_runtime_s, "result_grace": 10, "stop_grace": 2},
        "reviews": {"enabled": True},     # an approval gates the merge
        "pipeline": dict(PIPELINE),
    }
    sandbox.config_path.write_text(
        "# Written by `coordssh demo` for its sandbox.\n" + yaml.safe_dump(data, sort_keys=False),
        encoding="utf-8")
    return config_from_dict(data, sandbox.config_path)


async def origin_branches(sandbox: Sandbox) -> dict[str, str]:
    """Branches of the sandbox's origin -> their shas."""
    from coordssh.forge.git import parse_ls_remote

    result = await _git("ls-remote", "--heads", str(sandbox.origin), cwd=sandbox.root)
    return parse_ls_remote(result.text)


@dataclass(frozen=True)
class OnMain:
    """What origin's main says about one change (its head commit on the item's branch)."""

    main_sha: str            # origin's main
    contained: bool          # the head is an ancestor of main
    merge_sha: str           # the commit of main's first-parent line that brought it in
    merge_subject: str
    branch_left: bool        # the item's branch is still on origin


async def on_main(sandbox: Sandbox, head_sha: str, branch: str) -> OnMain:
    heads = await origin_branches(sandbox)
    main = heads.get("main", "")
    if not (main and head_sha):
        return OnMain(main, False, "", "", branch in heads)
    ancestor = await run_program(cmd("git", "merge-base", "--is-ancestor", head_sha, main),
                                 cwd=sandbox.origin, timeout=60)
    line = await _git("rev-list", "--first-parent", "--parents", main, cwd=sandbox.origin)
    merge = next((shas[0] for shas in map(str.split, line.text.splitlines())
                  if head_sha in shas[1:] or shas[0] == head_sha), "")
    subject = await commit_subject(sandbox, merge) if merge else ""
    return OnMain(main, ancestor.returncode == 0, merge, subject, branch in heads)


async def commit_subject(sandbox: Sandbox, sha: str) -> str:
    result = await _git("log", "-1", "--format=%s", sha, cwd=sandbox.origin)
    return result.text.strip()


async def _git(*args: str, cwd: Path):
    result = await run_program(cmd("git", *args), cwd=cwd, timeout=60)
    if result.returncode != 0:
        raise ForgeError(f"demo sandbox: `git {args[0]}` failed: {result.stderr_text.strip()[:300]}",
                         "check that git works on this machine (`git --version`)")
    return result
