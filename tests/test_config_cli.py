"""`coordssh config` and `coordssh init` through the real entry point: exit codes and output."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from coordssh.cli.main import main
from coordssh.config.load import load_config

GOOD = """\
repos:
  - name: api
    github: acme/api
machines:
  - name: laptop
    env:
      GH_TOKEN: ghp_secret
      LANG: C.UTF-8
    repo_paths:
      api: ~/src/api
"""


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "coordinator.yml"
    path.write_text(GOOD)
    return path


def test_config_prints_the_path_first_then_the_config(config_file, capsys):
    assert main(["config", "--config", str(config_file)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == f"config: {config_file.resolve()}"
    assert "  github: acme/api" in out and "connection: local" in out
    assert "GH_TOKEN: '***'" in out and "ghp_secret" not in out


def test_check_ok(config_file, capsys):
    assert main(["config", "--config", str(config_file), "--check"]) == 0
    assert capsys.readouterr().out == f"config: {config_file.resolve()}\nok: 1 repo, 1 machine\n"


def test_json_has_the_path_and_masks_secrets(config_file, capsys):
    assert main(["config", "--config", str(config_file), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["path"] == str(config_file.resolve())
    assert data["machines"][0]["env"] == {"GH_TOKEN": "***", "LANG": "C.UTF-8"}
    assert data["state_dir"] == str(config_file.resolve().parent / ".coordssh")


def test_config_is_found_through_the_environment_and_the_cwd(config_file, tmp_path, capsys, monkeypatch):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.setenv("COORDSSH_CONFIG", str(config_file))
    assert main(["config", "--check"]) == 0
    monkeypatch.delenv("COORDSSH_CONFIG")
    (elsewhere / "sub").mkdir()
    monkeypatch.chdir(elsewhere / "sub")          # found two directories up
    assert main(["config", "--check"]) == 0
    assert capsys.readouterr().out.count(f"config: {config_file.resolve()}\nok: 1 repo, 1 machine") == 2


def test_check_reports_every_problem(tmp_path, capsys):
    path = tmp_path / "coordinator.yml"
    path.write_text(GOOD + "    launcher: screen\n    max_worker: 3\n")
    assert main(["config", "--config", str(path), "--check"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [
        f"coordssh: {path.resolve()} has 2 problems:",
        "  coordinator.yml:11: machines[0].launcher: 'screen' is not one of: tmux, nohup",
        "  coordinator.yml:12: machines[0].max_worker: unknown key (did you mean 'max_workers'?)",
        f"  hint: fix {path.resolve()}, then check it with `coordssh config --check`",
    ]


def test_one_problem_is_one_line(tmp_path, capsys):
    path = tmp_path / "coordinator.yml"
    path.write_text(GOOD.replace("~/src/api", "src/api"))
    assert main(["config", "--config", str(path)]) == 2
    assert capsys.readouterr().err.splitlines()[0] == (
        "coordssh: coordinator.yml:10: machines[0].repo_paths.api: 'src/api' is a relative path; worker paths "
        "must be absolute or start with ~ (use '~/src/api' or an absolute path)")


def test_missing_config_file(tmp_path, capsys):
    assert main(["config", "--config", str(tmp_path / "nope.yml")]) == 2
    assert f"config file {tmp_path / 'nope.yml'} does not exist" in capsys.readouterr().err


# --- init -------------------------------------------------------------------------------------------
@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """HOME with an empty ~/src, and a work directory holding one git repository with a GitHub origin."""
    home = tmp_path / "home"
    (home / "src").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    work = tmp_path / "work"
    subprocess.run(["git", "init", "-q", "-b", "main", str(work / "api")], check=True)
    subprocess.run(["git", "-C", str(work / "api"), "remote", "add", "origin", "git@github.com:acme/api.git"],
                   check=True)
    return work


def test_init_yes_writes_a_config_that_loads(workspace, capsys):
    assert main(["init", "--yes", "--path", str(workspace)]) == 0
    target = workspace.resolve() / "coordinator.yml"
    out = capsys.readouterr().out
    assert out.startswith(f"wrote {target}: 1 repo (api), machine 'localhost' (local, ")
    config = load_config(target, environ={})
    assert config.repo("api").github == "acme/api"
    assert config.machine("localhost").repo_paths == {"api": str((workspace / "api").resolve())}
    assert main(["config", "--config", str(target), "--check"]) == 0


def test_init_refuses_to_overwrite_without_force(workspace, capsys):
    (workspace / "coordinator.yml").write_text("mine\n")
    assert main(["init", "--yes", "--path", str(workspace)]) == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [
        f"coordssh: {workspace.resolve() / 'coordinator.yml'} already exists",
        "  hint: pass --force to overwrite it, or edit it and run `coordssh config --check`",
    ]
    assert (workspace / "coordinator.yml").read_text() == "mine\n"
    assert main(["init", "--yes", "--force", "--path", str(workspace)]) == 0
    assert "name: api" in (workspace / "coordinator.yml").read_text()


def test_init_without_repositories(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert main(["init", "--yes", "--path", str(tmp_path)]) == 2
    assert "no git repositories in" in capsys.readouterr().err


def test_init_asks_and_re_asks_bad_answers(workspace, monkeypatch, capsys):
    # include api? / machine name / max workers (bad, then 3) / launcher (bad, then tmux) /
    # the slash command? (no)
    monkeypatch.setattr(sys, "stdin", io.StringIO("y\nlaptop\nmany\n3\nscreen\ntmux\nn\n"))
    assert main(["init", "--path", str(workspace)]) == 0
    out = capsys.readouterr().out
    assert "'many' is not a whole number" in out and "choose tmux or nohup" in out
    laptop = load_config(workspace / "coordinator.yml", environ={}).machine("laptop")
    assert (laptop.max_workers, laptop.launcher) == (3, "tmux")
