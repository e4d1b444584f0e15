"""Rough edges of the command line a new user hits: -h, --config before the command, the
version in the help, README's command table, end of input at a prompt, a config path that is
not a file, absurd values, a briefing too long for the command line."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from coordssh.cli.main import main
from coordssh.errors import EXIT_USAGE
from tests.support.dispatch import FAKE_CLAUDE
from tests.support.dispatch import world  # noqa: F401 (fixture)

README = Path(__file__).resolve().parents[1] / "README.md"
NO_ANSWER = "no answer to read (stdin is closed); pass --yes to answer yes"


def commands() -> dict:
    import typer

    from coordssh.cli.app import build_app

    return typer.main.get_command(build_app()).commands


def run(*args: str, stdin=subprocess.DEVNULL, cwd: Path | None = None, env=None):
    return subprocess.run([sys.executable, "-m", "coordssh", *args], stdin=stdin,
                          capture_output=True, text=True, timeout=120, cwd=cwd, env=env)


def empty_config(tmp_path: Path) -> Path:
    path = tmp_path / "coordinator.yml"
    path.write_text("repos: []\nmachines: []\n")
    return path


# --- help ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["", *sorted(commands())])
def test_dash_h_is_help_everywhere(name: str, capsys) -> None:
    argv = [name, "-h"] if name else ["-h"]
    assert main(argv) == 0
    assert "Usage: coordssh" in capsys.readouterr().out


def test_the_help_shows_the_version_and_the_config_option(capsys) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "--version" in out and re.search(r"^\s+version\s", out, re.M)
    assert "--config" in out


def test_config_before_the_command(tmp_path: Path, capsys) -> None:
    config = empty_config(tmp_path)
    assert main(["--config", str(config), "config", "--check"]) == 0
    assert f"config: {config}" in capsys.readouterr().out
    assert main([f"--config={config}", "status", "--json"]) == 0
    assert '"machines": []' in capsys.readouterr().out
    done = run("--config", str(config), "status")  # through the typer-free path too
    assert done.returncode == 0 and str(config) in done.stdout, done.stderr


def readme_rows() -> dict[str, str]:
    """README's command table: {command name: the row's command cell}."""
    rows = {}
    for line in README.read_text().splitlines():
        if line.startswith("| `coordssh "):
            first_cell = re.match(r"\|((?:[^|\\]|\\.)*)\|", line).group(1)
            for match in re.finditer(r"`coordssh ([a-z-]+)([^`]*)`", first_cell):
                rows[match.group(1)] = match.group(0)
    return rows


def test_readme_command_table_matches_the_commands() -> None:
    rows = readme_rows()
    registered = commands()
    assert set(registered) | {"--version"} == set(rows)
    for name, command in registered.items():
        for param in command.params:
            flags = [f for f in param.opts if f.startswith("-")]
            if not flags or flags == ["--config"]:  # --config: one line under the table
                continue
            assert any(re.search(rf"{re.escape(f)}\b", rows[name]) for f in flags), \
                f"README's row for {name} lacks {flags[0]}"
        known = {f for p in command.params for f in p.opts}
        for flag in re.findall(r"(?<![\w-])(--?[a-z][a-z-]*)", rows[name]):
            assert flag in known, f"README's row for {name} lists {flag}, which it does not take"


# --- prompts ------------------------------------------------------------------------------------
def test_init_with_stdin_closed_says_there_is_no_answer(tmp_path: Path) -> None:
    env = {**os.environ, "HOME": str(tmp_path)}
    subprocess.run(["git", "init", "-q", str(tmp_path / "api")], check=True)
    done = run("init", "--path", str(tmp_path), stdin=subprocess.DEVNULL, env=env)
    assert done.returncode == EXIT_USAGE, done.stderr
    assert NO_ANSWER in done.stderr and "aborted" not in done.stderr
    assert not (tmp_path / "coordinator.yml").exists()


@pytest.mark.ssh
def test_trust_with_stdin_closed_says_there_is_no_answer(ssh_home, sshd, tmp_path: Path) -> None:
    known = tmp_path / "kh"
    config = tmp_path / "coordinator.yml"
    config.write_text(
        "repos: []\nmachines:\n"
        f"  - name: box\n    host: {sshd.host}\n    connection: ssh\n    port: {sshd.port}\n"
        f"    user: {sshd.user}\n    identity_file: {sshd.client_key}\n"
        f"    known_hosts: {known}\n")
    done = run("trust", "box", "--config", str(config), stdin=subprocess.DEVNULL)
    assert done.returncode == EXIT_USAGE, done.stderr
    assert NO_ANSWER in done.stderr
    assert not known.exists()


# --- the config path ----------------------------------------------------------------------------
def test_a_config_path_that_is_not_a_file_says_what_it_is(tmp_path: Path, capsys) -> None:
    fifo = tmp_path / "fifo.yml"
    os.mkfifo(fifo)
    cases = {str(tmp_path): "is a directory", str(fifo): "is not a regular file",
             "/dev/null": "is not a regular file", str(tmp_path / "nope.yml"): "does not exist"}
    for path, what in cases.items():
        assert main(["config", "--check", "--config", path]) == EXIT_USAGE
        err = capsys.readouterr().err
        assert f"{path} {what}" in err, err


def test_coordssh_config_env_that_is_a_directory(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("COORDSSH_CONFIG", str(tmp_path))
    assert main(["config", "--check"]) == EXIT_USAGE
    assert f"COORDSSH_CONFIG points to {tmp_path}, which is a directory" in capsys.readouterr().err


# --- absurd values ------------------------------------------------------------------------------
@pytest.mark.parametrize("text, expected", [
    ("concurrency:\n  max_workers: 99999999999999999999999\n", "concurrency.max_workers"),
    ("concurrency:\n  max_connections: 100000\n", "concurrency.max_connections"),
    ("runs:\n  max_runtime: -5\n", "runs.max_runtime"),
    ("runs:\n  max_runtime: 99999999999999999\n", "runs.max_runtime"),
    ("runs:\n  result_grace: .inf\n", "runs.result_grace"),
    ("runs:\n  stop_grace: .nan\n", "runs.stop_grace"),
    ("concurrency:\n  stagger_seconds: 1.0e+300\n", "concurrency.stagger_seconds"),
])
def test_absurd_values_are_refused(tmp_path: Path, capsys, text: str, expected: str) -> None:
    config = tmp_path / "coordinator.yml"
    config.write_text("repos: []\nmachines: []\n" + text)
    assert main(["config", "--check", "--config", str(config)]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert expected in err, err
    assert any(why in err for why in ("between", "at most", "finite", "greater")), err


def test_a_machine_max_workers_past_the_bound(tmp_path: Path, capsys) -> None:
    config = tmp_path / "coordinator.yml"
    config.write_text("repos: []\nmachines:\n  - name: box\n    connection: local\n"
                      "    max_workers: 99999999999999999999999\n")
    assert main(["config", "--check", "--config", str(config)]) == EXIT_USAGE
    assert "machines[0].max_workers: must be between 1 and 1024" in capsys.readouterr().err


def test_an_issue_number_past_2_31_is_refused(tmp_path: Path, capsys) -> None:
    config = empty_config(tmp_path)
    assert main(["assign", "box", "demo", str(2**31), "--config", str(config)]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "'issue'" in err and "2147483647" in err


# --- --briefing-file ----------------------------------------------------------------------------
def briefing_config(tmp_path: Path, world) -> Path:
    path = tmp_path / "coordinator.yml"
    path.write_text(
        "repos:\n  - name: demo\nmachines:\n  - name: box\n    connection: local\n"
        f"    claude_command: {FAKE_CLAUDE}\n"
        f"    worktree_root: {tmp_path / 'wt'}\n    run_root: {tmp_path / 'runs'}\n"
        f"    repo_paths:\n      demo: {world.clone}\n")
    return path


def test_briefing_file_and_stdin_carry_a_briefing_past_the_argument_limit(tmp_path, world):
    config = briefing_config(tmp_path, world)
    long = "Only the tokenizer. " * 10_000 + "THE-END"  # ~200 KiB: over Linux's 128 KiB per argument
    brief = tmp_path / "brief.md"
    brief.write_text(long)
    base = ["assign", "box", "demo", "4", "--title", "Plan only", "--dry-run", "--config",
            str(config)]
    from_file = run(*base, "--briefing-file", str(brief))
    assert from_file.returncode == 0, from_file.stderr
    assert "THE-END" in from_file.stdout and from_file.stdout.count("Only the tokenizer.") == 10_000
    from_stdin = subprocess.run([sys.executable, "-m", "coordssh", *base, "--briefing-file", "-"],
                                input=long, capture_output=True, text=True, timeout=120)
    assert from_stdin.returncode == 0, from_stdin.stderr
    assert "THE-END" in from_stdin.stdout


def test_briefing_file_errors(tmp_path, world, capsys):
    config = briefing_config(tmp_path, world)
    base = ["assign", "box", "demo", "4", "--title", "T", "--dry-run", "--config", str(config)]
    assert main([*base, "--briefing-file", str(tmp_path / "missing.md")]) == EXIT_USAGE
    assert "missing.md" in capsys.readouterr().err
    brief = tmp_path / "b.md"
    brief.write_text("x")
    assert main([*base, "--briefing-file", str(brief), "--briefing", "y"]) == EXIT_USAGE
    assert "--briefing-file" in capsys.readouterr().err
