"""`coordssh setup`: check, apply, check again, against the real sshd and a local machine, with
real git origins and the real claude CLI (`claude auth status` under the machine's env)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from coordssh.board.store import Board
from coordssh.cli.context import context_for
from coordssh.cli.main import main
from coordssh.config.load import load_config
from coordssh.errors import EXIT_USAGE, ConfigError
from coordssh.remote.claude_path import claude_path_key
from coordssh.services.setup import config_dirs_key, run_setup
from coordssh.services.setup_playbook import (find_setup_playbook, load_setup_playbook,
                                              parse_setup_playbook)
from coordssh.agent.playbook import available_roles
from tests.support.dispatch import git
from tests.support.real_claude import make_home, run_overrides

NO_ANSWER = "no answer to read (stdin is closed); pass --yes to answer yes"


def bare_origin(root: Path) -> Path:
    origin, seed = root / "origin.git", root / "seed"
    git("init", "-q", "--bare", "-b", "main", str(origin))
    git("init", "-q", "-b", "main", str(seed))
    (seed / "README.md").write_text("# demo\n")
    git("add", "README.md", cwd=seed)
    git("commit", "-q", "-m", "initial", cwd=seed)
    git("push", "-q", str(origin), "main", cwd=seed)
    return origin


def write_config(tmp_path: Path, machine_lines: list[str], *, url: str, env: dict,
                 extra_top: str = "") -> Path:
    worker = tmp_path / "worker"
    lines = ["repos:", "  - name: api", f"    url: {json.dumps(url)}", "machines:",
             *machine_lines,
             f"    worktree_root: {worker / 'wt'}", f"    run_root: {worker / 'runs'}",
             f"    repo_paths: {{api: {worker / 'src' / 'api'}}}",
             "    env:", *(f"      {k}: {json.dumps(v)}" for k, v in env.items()), extra_top]
    path = tmp_path / "coordinator.yml"
    path.write_text("\n".join(lines) + "\n")
    return path


def claude_env(tmp_path: Path) -> dict:
    return run_overrides(make_home(tmp_path / "claude-home"), "http://127.0.0.1:9")


def setup_json(capsys, *args: str) -> tuple[int, dict]:
    code = main(["setup", *args, "--json"])
    return code, json.loads(capsys.readouterr().out)


def states(report: dict) -> dict[str, str]:
    return {s["name"]: s["state"] for m in report["machines"] for s in m["steps"]}


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.ssh
def test_check_then_setup_then_check_over_ssh(tmp_path, sshd, ssh_home, claude_bin, capsys):
    origin = bare_origin(tmp_path)
    config = write_config(tmp_path, [
        "  - name: sshbox", f"    host: {sshd.host}", "    connection: ssh",
        f"    port: {sshd.port}", f"    user: {sshd.user}", f"    identity_file: {sshd.client_key}",
        f"    known_hosts: {ssh_home / '.ssh' / 'known_hosts'}", "    launcher: tmux",
        f"    claude_command: {claude_bin}", "    connect_timeout: 15"],
        url=str(origin), env=claude_env(tmp_path))
    worker = tmp_path / "worker"

    code, first = setup_json(capsys, "sshbox", "--check", "--config", str(config))
    assert code == 0 and first["check"] is True
    assert states(first) == {"git": "ok", "tmux": "ok", "worktree_root and run_root": "changed",
                             "repos cloned": "changed", "git identity": "ok",
                             "claude found": "ok",
                             "a claude config dir per worker slot": "skipped",
                             "claude logged in": "ok"}
    assert first["changes"] == 2
    assert not worker.exists()                      # --check changed nothing
    board = Board.open(tmp_path / ".coordssh")
    assert board.kv_get(claude_path_key("sshbox")) is None

    code, applied = setup_json(capsys, "sshbox", "--yes", "--config", str(config))
    assert code == 0 and applied["changes"] == 2, applied
    assert mode(worker / "wt") == 0o700 and mode(worker / "runs") == 0o700
    clone = worker / "src" / "api"
    assert (clone / "README.md").read_text() == "# demo\n"
    assert git("remote", "get-url", "origin", cwd=clone).strip() == str(origin)
    assert board.kv_get(claude_path_key("sshbox")) == str(claude_bin)

    code, again = setup_json(capsys, "sshbox", "--check", "--config", str(config))
    assert code == 0 and again["changes"] == 0
    assert set(states(again).values()) == {"ok", "skipped"}


def local_config(tmp_path: Path, claude_bin: Path, *, logged_in: bool = True,
                 max_workers: int = 2) -> Path:
    env = claude_env(tmp_path) if logged_in else {"HOME": str(make_home(tmp_path / "nobody"))}
    return write_config(tmp_path, ["  - name: here", "    connection: local",
                                   f"    max_workers: {max_workers}",
                                   f"    claude_command: {claude_bin}"],
                        url=str(bare_origin(tmp_path)), env=env)


def run(config: Path, *, check: bool, playbook=None):
    ctx = context_for(load_config(config, environ={}))
    return asyncio.run(run_setup(ctx, ["here"], check=check, playbook=playbook))


SLOTS = """
steps:
  - step: package
    name: a tool nobody has
    command: coordssh-no-such-tool
    package: coordssh-no-such-tool
  - step: directories
  - step: clones
  - step: claude
  - step: claude_config_dirs
    enabled: true
    root: {root}
  - step: claude_auth
"""


def test_local_machine_private_modes_slots_and_refusals(tmp_path, claude_bin, monkeypatch):
    for name in ("ANTHROPIC_API_KEY", "CLAUDE_CONFIG_DIR", "CLAUDECODE"):
        monkeypatch.delenv(name, raising=False)
    config = local_config(tmp_path, claude_bin, max_workers=2)
    (tmp_path / "worker" / "wt").mkdir(parents=True, mode=0o755)
    os.chmod(tmp_path / "worker" / "wt", 0o755)         # exists, but not private
    slots = tmp_path / "worker" / "slots"
    book = parse_setup_playbook(SLOTS.format(root=slots), tmp_path / "machine.yml")

    report = run(config, check=False, playbook=book)
    (machine,) = report.machines
    by_name = {s.name: s for s in machine.steps}
    tool = by_name["a tool nobody has"]
    assert tool.state == "failed" and "--install" in tool.items[0].message  # never silently
    dirs = {i.item: i for i in by_name["directories"].items}
    assert dirs[str(tmp_path / "worker" / "wt")].message == "mode 755 changed to 0700"
    assert mode(tmp_path / "worker" / "wt") == 0o700
    assert [mode(slots / f"slot-{n}") for n in (1, 2)] == [0o700, 0o700]
    auth = by_name["claude_auth"]
    assert [i.item for i in auth.items] == [str(slots / "slot-1"), str(slots / "slot-2")]
    assert all(i.state == "ok" for i in auth.items)
    assert not report.ok                                   # the missing tool
    board = Board.open(tmp_path / ".coordssh")
    assert board.kv_get(config_dirs_key("here")) == [str(slots / "slot-1"), str(slots / "slot-2")]

    again = run(config, check=True, playbook=book)
    assert {s.name: s.state for s in again.machines[0].steps} == {
        "a tool nobody has": "failed", "directories": "ok", "clones": "ok", "claude": "ok",
        "claude_config_dirs": "ok", "claude_auth": "ok"}


def test_not_logged_in_and_a_path_that_is_not_a_repo(tmp_path, claude_bin, monkeypatch, capsys):
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CONFIG_DIR"):
        monkeypatch.delenv(name, raising=False)
    config = local_config(tmp_path, claude_bin, logged_in=False)
    (tmp_path / "worker" / "src" / "api").mkdir(parents=True)   # a plain directory
    code = main(["setup", "here", "--yes", "--config", str(config)])
    out = capsys.readouterr().out
    assert code == 1
    assert "is not a git repository" in out and "not logged in" in out
    assert "ANTHROPIC_API_KEY" in out                            # the fix is named


def test_setup_asks_first_and_changes_nothing_without_an_answer(tmp_path, claude_bin):
    config = local_config(tmp_path, claude_bin)
    done = subprocess.run([sys.executable, "-m", "coordssh", "setup", "here", "--config",
                           str(config)], stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == EXIT_USAGE and NO_ANSWER in done.stderr
    assert "would change" in done.stdout
    assert not (tmp_path / "worker").exists()
    done = subprocess.run([sys.executable, "-m", "coordssh", "setup", "here", "--json",
                           "--config", str(config)], capture_output=True, text=True, timeout=60)
    assert done.returncode == EXIT_USAGE and "--check" in done.stderr


def test_the_playbook_is_not_a_role_and_problems_name_their_line(tmp_path):
    assert "setup" not in available_roles() and "machine" not in available_roles()
    shipped = load_setup_playbook()
    assert [s.kind for s in shipped.steps][:2] == ["package", "package"]
    (tmp_path / "setup").mkdir()
    (tmp_path / "setup" / "machine.yml").write_text("steps:\n  - step: clones\n")
    assert find_setup_playbook(tmp_path) == tmp_path / "setup" / "machine.yml"
    with pytest.raises(ConfigError) as err:
        parse_setup_playbook("steps:\n  - step: clones\n  - step: shell\n    run: rm -rf /\n"
                             "  - step: package\n    command: git\n    install: yes please\n"
                             "  - step: git_identity\n    user_name: me\n",
                             tmp_path / "machine.yml")
    problems = "\n".join(err.value.problems)
    assert "machine.yml:3: steps[1].step: 'shell' is not a step" in problems
    assert "machine.yml:7: steps[2].install: must be true or false" in problems
    assert ("steps[3].user_email: give both user_name and user_email, or neither"
            in problems)


def test_an_unreachable_machine_is_reported_and_the_others_go_on(tmp_path, claude_bin, capsys):
    config = local_config(tmp_path, claude_bin)
    text = config.read_text().replace("machines:\n", "machines:\n  - name: gone\n"
                                      "    host: 127.0.0.1\n    connection: ssh\n    port: 1\n"
                                      "    connect_timeout: 5\n", 1)
    config.write_text(text)
    code = main(["setup", "gone", "here", "--yes", "--config", str(config)])
    out = capsys.readouterr().out
    assert code == 1
    assert re.search(r"unreachable\s+.*gone|gone.*\n\s+unreachable", out), out
    assert "here: ok=" in out and (tmp_path / "worker" / "src" / "api" / ".git").is_dir()


def test_a_repo_url_that_is_an_option_is_refused(tmp_path):
    path = tmp_path / "coordinator.yml"
    path.write_text("repos:\n  - name: api\n    url: --upload-pack=touch /tmp/x\nmachines: []\n")
    with pytest.raises(ConfigError, match=r"coordinator.yml:3: repos\[0\].url: .* is not a git URL"):
        load_config(path, environ={})
