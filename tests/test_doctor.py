"""`coordssh doctor` against real machines: a local one and one behind the real sshd fixture."""

from __future__ import annotations

import json
import stat
import subprocess
from pathlib import Path

import pytest

from coordssh.board.store import Board
from coordssh.cli.main import main
from coordssh.config.schema import Machine, Repo
from coordssh.remote.claude_path import claude_path_key
from coordssh.remote.doctor_probe import parse_probe
from coordssh.services.doctor_checks import WARNING, assess
from coordssh.services.slots import config_dirs_key
from tests.support.sshd import free_port

GH_STANDIN = Path(__file__).parent / "bin" / "gh"
MACHINE_FIELDS = ("name", "host", "connection", "port", "user", "identity_file", "known_hosts",
                  "worktree_root", "run_root", "connect_timeout")


# --- real things to check ----------------------------------------------------------------------
def git(*args: str, cwd: Path | None = None) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def repo_with_origin(base: Path, name: str = "app") -> Path:
    origin, clone = base / f"{name}.git", base / name
    git("init", "-q", "--bare", "-b", "main", str(origin))
    git("clone", "-q", str(origin), str(clone))
    (clone / "README").write_text("hello\n")
    git("add", "README", cwd=clone)
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "first", cwd=clone)
    git("push", "-q", "origin", "main", cwd=clone)
    return clone


def fake_claude(path: Path, version: str = "2.1.0 (Claude Code)") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'#!/bin/sh\n[ "$1" = --version ] && echo "{version}" && exit 0\nexit 2\n')
    path.chmod(0o755)
    return path


def machine_entry(machine: Machine, **extra) -> dict:
    entry = {k: getattr(machine, k) for k in MACHINE_FIELDS if getattr(machine, k) is not None}
    entry.update(extra)
    return entry


def write_config(tmp_path: Path, machines: list[dict], repos: list[dict] | None = None) -> Path:
    names = {r for m in machines for r in m.get("repo_paths", {})}
    data = {"state_dir": str(tmp_path / "state"),
            "repos": repos or [{"name": n} for n in sorted(names)] or [{"name": "app"}],
            "machines": machines}
    path = tmp_path / "coordinator.yml"
    path.write_text(json.dumps(data))  # JSON is YAML
    return path


def doctor_json(config: Path, capsys, *names: str) -> tuple[int, dict]:
    code = main(["doctor", "--json", "--config", str(config), *names])
    out = capsys.readouterr().out
    return code, json.loads(out)


def by_name(report: dict) -> dict[str, dict]:
    return {m["name"]: m for m in report["machines"]}


# --- end to end --------------------------------------------------------------------------------
def test_healthy_machine(machine: Machine, tmp_path: Path, capsys) -> None:
    clone = repo_with_origin(tmp_path / "src")
    claude = fake_claude(tmp_path / "bin" / "claude")
    config = write_config(tmp_path, [machine_entry(
        machine, claude_command=str(claude), repo_paths={"app": str(clone)})])

    code, report = doctor_json(config, capsys)

    assert code == 0 and report["ok"] is True
    m = by_name(report)[machine.name]
    # warnings depend on the host (its ~/.bashrc, its free disk); errors must not appear
    assert m["reachable"] is True and [p for p in m["problems"] if p["severity"] == "error"] == []
    assert m["connect_ms"] >= 0 and m["shell_ms"] > 0
    assert m["git"] and m["disk_free_bytes"] > 0
    assert m["claude"] == {"state": "ok", "path": str(claude), "via": "configured",
                           "version": "2.1.0 (Claude Code)"}
    assert m["repos"] == [{"name": "app", "state": "ok", "path": str(clone),
                           "origin": str(tmp_path / "src" / "app.git")}]
    assert m["worktree_root"] == {"state": "created", "path": machine.worktree_root}
    assert m["run_root"] == {"state": "created", "path": machine.run_root}
    assert stat.S_IMODE(Path(machine.run_root).stat().st_mode) == 0o700
    assert Board.open(tmp_path / "state").kv_get(claude_path_key(machine.name)) == str(claude)

    code, report = doctor_json(config, capsys)  # the roots now exist
    assert code == 0 and by_name(report)[machine.name]["run_root"]["state"] == "ok"
    assert not any("config slots" in p["message"] for p in by_name(report)[machine.name]["problems"])

    assert machine.max_workers > 1            # setup made one slot, then max_workers was raised
    board = Board.open(tmp_path / "state")
    with board.transaction() as tx:
        tx.kv_set(config_dirs_key(machine.name), [str(tmp_path / "slots" / "slot-1")])
    code, report = doctor_json(config, capsys)
    [slots] = [p for p in by_name(report)[machine.name]["problems"] if "config slots" in p["message"]]
    assert code == 0 and slots["severity"] == "warning"
    assert slots["message"] == (f"{machine.name} has 1 claude config slots for max_workers "
                                f"{machine.max_workers}: runs beyond 1 at once are refused")
    assert f"coordssh setup {machine.name}" in slots["fix"]


def test_broken_machine_reports_each_problem_with_a_fix(machine: Machine, tmp_path: Path,
                                                        capsys) -> None:
    no_origin = tmp_path / "src" / "lonely"
    git("init", "-q", "-b", "main", str(no_origin))
    (tmp_path / "src" / "plain").mkdir()
    missing_claude = tmp_path / "bin" / "claude"
    config = write_config(tmp_path, [machine_entry(
        machine, claude_command=str(missing_claude),
        repo_paths={"gone": str(tmp_path / "src" / "gone"), "plain": str(tmp_path / "src" / "plain"),
                    "lonely": str(no_origin)})])

    code, report = doctor_json(config, capsys)

    assert code == 1 and report["ok"] is False
    m = by_name(report)[machine.name]
    assert m["reachable"] is True and m["ok"] is False
    assert m["claude"]["state"] == "missing" and m["claude"]["path"] == str(missing_claude)
    assert {r["name"]: r["state"] for r in m["repos"]} == {
        "gone": "missing", "plain": "not_git", "lonely": "no_origin"}
    messages = "\n".join(p["message"] for p in m["problems"])
    assert f"claude_command {missing_claude} does not exist" in messages
    assert "repo_paths.gone" in messages and "does not exist" in messages
    assert "repo_paths.plain" in messages and "not a git repository" in messages
    assert "repo_paths.lonely" in messages and "no `origin` remote" in messages
    assert all(p["fix"] for p in m["problems"])
    assert sum(p["severity"] == "error" for p in m["problems"]) == 4
    assert Board.open(tmp_path / "state").kv_get(claude_path_key(machine.name)) is None

    assert main(["doctor", "--config", str(config)]) == 1  # the human form says the same
    text = capsys.readouterr().out
    assert "no `origin` remote" in text and f"git -C {no_origin} remote add origin" in text


@pytest.mark.ssh
def test_unreachable_machine_is_reported_and_others_still_checked(
        ssh_machine_factory, local_machine: Machine, tmp_path: Path, capsys) -> None:
    closed = ssh_machine_factory(name="ghost", port=free_port(), connect_timeout=5.0)
    claude = fake_claude(tmp_path / "bin" / "claude")
    config = write_config(tmp_path, [
        machine_entry(closed, repo_paths={"app": "/nowhere"}),
        machine_entry(local_machine, claude_command=str(claude),
                      repo_paths={"app": str(repo_with_origin(tmp_path / "src"))})])

    code, report = doctor_json(config, capsys)

    assert code == 1
    ghost, local = by_name(report)["ghost"], by_name(report)[local_machine.name]
    assert ghost["reachable"] is False and ghost["connect_ms"] is None
    assert "ghost" in ghost["problems"][0]["message"] and ghost["problems"][0]["fix"]
    assert local["ok"] is True

    code, report = doctor_json(config, capsys, local_machine.name)  # only the named machine
    assert code == 0 and [m["name"] for m in report["machines"]] == [local_machine.name]


def test_unknown_machine_name_is_a_usage_error(local_machine: Machine, tmp_path: Path,
                                               capsys) -> None:
    config = write_config(tmp_path, [machine_entry(local_machine, repo_paths={"app": "/x"})])
    assert main(["doctor", "--config", str(config), "nope"]) == 2
    assert "unknown machine 'nope'" in capsys.readouterr().err


# --- resolving claude on a thin PATH (local machine, a home of our own) ------------------------
@pytest.fixture
def thin_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("SHELL", "/bin/sh")       # its login form reads only ~/.profile
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # no claude here
    return home


def test_claude_found_in_a_known_location(thin_home: Path, local_machine: Machine,
                                          tmp_path: Path, capsys) -> None:
    claude = fake_claude(thin_home / ".local" / "bin" / "claude")
    config = write_config(tmp_path, [machine_entry(local_machine, repo_paths={"app": "/x"})])
    _, report = doctor_json(config, capsys)
    assert by_name(report)[local_machine.name]["claude"] == {
        "state": "ok", "path": str(claude), "via": "known-location",
        "version": "2.1.0 (Claude Code)"}


def test_claude_found_by_the_login_shell(thin_home: Path, local_machine: Machine,
                                         tmp_path: Path, capsys) -> None:
    claude = fake_claude(tmp_path / "opt" / "claude-bin" / "claude")
    (thin_home / ".profile").write_text(f'echo "welcome"\nPATH="{claude.parent}:$PATH"\n')
    config = write_config(tmp_path, [machine_entry(local_machine, repo_paths={"app": "/x"})])
    _, report = doctor_json(config, capsys)
    found = by_name(report)[local_machine.name]["claude"]
    assert (found["path"], found["via"]) == (str(claude), "login-shell")
    assert Board.open(tmp_path / "state").kv_get(claude_path_key(local_machine.name)) == str(claude)


def test_claude_not_found_anywhere(thin_home: Path, local_machine: Machine, tmp_path: Path,
                                   capsys) -> None:
    config = write_config(tmp_path, [machine_entry(local_machine, repo_paths={"app": "/x"})])
    code, report = doctor_json(config, capsys)
    m = by_name(report)[local_machine.name]
    assert code == 1 and m["claude"]["state"] == "missing"
    problem = next(p for p in m["problems"] if "claude" in p["message"])
    assert "~/.local/bin" in problem["message"] and "absolute path" in problem["fix"]


# --- the operator's gh -------------------------------------------------------------------------
@pytest.mark.parametrize(("auth", "expected", "code"), [("ok", "ok", 0),
                                                         ("none", "not_authenticated", 1)])
def test_gh_auth_is_checked_when_a_repo_is_on_github(
        auth: str, expected: str, code: int, local_machine: Machine, tmp_path: Path, capsys,
        monkeypatch: pytest.MonkeyPatch) -> None:
    state = tmp_path / "gh-state.json"
    state.write_text(json.dumps({"auth": auth}))
    monkeypatch.setenv("COORDSSH_GH", str(GH_STANDIN))
    monkeypatch.setenv("FAKE_GH_STATE", str(state))
    monkeypatch.setenv("FAKE_GH_LOG", str(tmp_path / "gh-log.jsonl"))
    claude = fake_claude(tmp_path / "bin" / "claude")
    config = write_config(
        tmp_path, [machine_entry(local_machine, claude_command=str(claude),
                                 repo_paths={"app": str(repo_with_origin(tmp_path / "src"))})],
        repos=[{"name": "app", "github": "acme/app"}])

    result, report = doctor_json(config, capsys)

    assert (result, report["operator"]["gh"]) == (code, expected)
    assert bool(report["operator"]["problems"]) == (auth != "ok")
    calls = [json.loads(line)["argv"] for line in (tmp_path / "gh-log.jsonl").read_text().splitlines()]
    assert calls == [["auth", "status", "--hostname", "github.com"]]


# --- pure parts --------------------------------------------------------------------------------
PROBE_OUTPUT = (
    "home\t/home/dev\n"
    "git\tgit version 2.43.0\n"
    "ident\tDev Eloper <dev@example.com>\n"
    "tmux\t\n"
    "claude\tok\tlogin-shell\t/home/dev/.local/bin/claude\t2.0.14 (Claude Code)\n"
    "root\tworktree\tcreated\t/home/dev/.coordssh/worktrees\n"
    "root\trun\tnot_writable\t/srv/runs\n"
    "disk\t1048576\n"
    "repo\tapi\tok\t/home/dev/src/api\thttps://dev:ghp_secret@github.com/acme/api.git\n"
    "repo\tweb\tnot_git\t/home/dev/src/web\tfatal: detected dubious ownership\n"
    "end\n")


def test_parse_probe_reads_every_record_and_masks_credentials() -> None:
    facts = parse_probe(PROBE_OUTPUT)
    assert facts.complete and facts.home == "/home/dev"
    assert (facts.git, facts.tmux) == ("2.43.0", None)
    assert facts.git_identity == "Dev Eloper <dev@example.com>"
    assert (facts.claude_state, facts.claude_via, facts.claude_path, facts.claude_version) == (
        "ok", "login-shell", "/home/dev/.local/bin/claude", "2.0.14 (Claude Code)")
    assert facts.roots["run"].state == "not_writable"
    assert facts.disk_free_kb == 1048576
    assert facts.repos["api"].detail == "https://***@github.com/acme/api.git"
    assert facts.repos["web"].detail == "fatal: detected dubious ownership"


def test_parse_probe_without_end_is_incomplete() -> None:
    assert not parse_probe(PROBE_OUTPUT.replace("end\n", "")).complete


def test_assess_warns_about_shell_cost_disk_and_missing_tmux() -> None:
    machine = Machine(name="box", launcher="tmux", repo_paths={"api": "~/src/api"})
    facts = parse_probe(PROBE_OUTPUT)
    problems = assess(machine, facts, 0.075, {"api": Repo("api"), "web": Repo("web")})
    text = {p.message: p for p in problems}
    slow = next(p for m, p in text.items() if "75 ms" in m)
    assert slow.severity == WARNING and "bashrc" in slow.fix
    assert any("1.0 GiB free" in m for m in text)
    assert any("tmux is not installed" in m for m in text)
    assert any("run_root /srv/runs" in m and "not writable" in m for m in text)
    assert any("repo_paths.web" in m and "dubious ownership" in m for m in text)
    assert all(p.machine == "box" for p in problems)
    assert not any("git has no identity" in m for m in text)


def test_assess_warns_when_git_cannot_commit() -> None:
    machine = Machine(name="box")
    facts = parse_probe(PROBE_OUTPUT.replace("ident\tDev Eloper <dev@example.com>\n", "ident\t\n"))
    [problem] = [p for p in assess(machine, facts, None, {}) if "identity" in p.message]
    assert problem.severity == WARNING
    assert problem.message.startswith("git has no identity for the SSH user on box")
    assert "coordssh setup box" in problem.fix
