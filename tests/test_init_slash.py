"""`coordssh init`'s /coordinator slash command: written into real repos, the user's files kept
(merged settings, never clobbered, replaced only with --force), the questions and the flags."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from coordssh.cli.main import main
from coordssh.services.init_slash import (COMMAND_FILE, PERMISSION, SETTINGS_FILE,
                                          allow_coordssh, slash_command_text,
                                          write_slash_command)
from tests.test_config_cli import workspace  # noqa: F401 (fixture)

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.fixture
def repos(workspace: Path) -> Path:
    """test_config_cli's workspace (HOME, work/api), with a second repository work/web."""
    subprocess.run(["git", "init", "-q", "-b", "main", str(workspace / "web")], check=True)
    return workspace


def frontmatter(text: str) -> dict:
    match = re.match(r"^---\n(.*?)\n---\n", text, re.S)
    assert match, "the slash command starts with a YAML frontmatter block"
    return yaml.safe_load(match.group(1))


def test_the_command_file_is_a_claude_code_slash_command():
    text = slash_command_text()
    meta = frontmatter(text)
    assert meta["allowed-tools"] == PERMISSION and meta["description"]
    assert "$ARGUMENTS" in text
    for command in ("status", "watch", "report", "plan", "approve", "notify"):
        assert f"coordssh {command}" in text
    assert "needs a human" in text


def test_its_exit_codes_are_the_readmes():
    def codes(text: str) -> list[str]:
        table = text[text.index("## Exit codes"):]
        return re.findall(r"^\| (\d+) \|", table, re.M)

    assert codes(slash_command_text()) == codes(README.read_text()) == ["0", "1", "2", "3", "4",
                                                                        "70"]


def test_init_yes_writes_the_command_and_the_permission_into_every_repo(repos, capsys):
    assert main(["init", "--yes", "--path", str(repos)]) == 0
    out = capsys.readouterr().out
    for name in ("api", "web"):
        repo = (repos / name).resolve()
        assert (repo / COMMAND_FILE).read_text() == slash_command_text()
        settings = json.loads((repo / SETTINGS_FILE).read_text())
        assert settings == {"permissions": {"allow": [PERMISSION]}}
        assert f"written {repo / COMMAND_FILE}" in out and f"added {repo / SETTINGS_FILE}" in out
    status = subprocess.run(["git", "-C", str(repos / "api"), "status", "--porcelain"],
                            capture_output=True, text=True, check=True).stdout
    assert status.strip() == "?? .claude/"        # nothing else in the repo was touched


def test_existing_settings_are_merged_and_a_users_command_is_kept(repos, capsys):
    api = repos / "api"
    (api / ".claude" / "commands").mkdir(parents=True)
    mine = "---\ndescription: my own\n---\nmine\n"
    (api / COMMAND_FILE).write_text(mine)
    settings = {"model": "opus", "permissions": {"allow": ["Bash(npm test)"],
                                                 "deny": ["WebFetch"]},
                "env": {"X": "1"}}
    (api / SETTINGS_FILE).write_text(json.dumps(settings))
    assert main(["init", "--yes", "--path", str(repos)]) == 0
    out = capsys.readouterr().out
    assert (api / COMMAND_FILE).read_text() == mine
    assert "kept" in out and "pass --force to replace it" in out
    merged = json.loads((api / SETTINGS_FILE).read_text())
    assert merged == {**settings, "permissions": {"allow": ["Bash(npm test)", PERMISSION],
                                                  "deny": ["WebFetch"]}}
    assert allow_coordssh(api).state == "unchanged"              # idempotent
    assert json.loads((api / SETTINGS_FILE).read_text()) == merged

    assert main(["init", "--yes", "--force", "--path", str(repos)]) == 0
    assert (api / COMMAND_FILE).read_text() == slash_command_text()


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", '{"permissions": {"allow": "x"}}',
                                     '{"permissions": []}'])
def test_settings_it_cannot_read_as_claude_does_are_left_alone(tmp_path, content):
    (tmp_path / ".claude").mkdir()
    (tmp_path / SETTINGS_FILE).write_text(content)
    outcome = allow_coordssh(tmp_path)
    assert outcome.state == "refused" and PERMISSION in outcome.detail
    assert (tmp_path / SETTINGS_FILE).read_text() == content


def test_a_file_where_the_directory_should_be_is_reported(repos, capsys):
    (repos / "api" / ".claude").write_text("not a directory\n")
    assert main(["init", "--yes", "--path", str(repos)]) == 0
    out = capsys.readouterr().out
    assert f"refused {(repos / 'api').resolve() / COMMAND_FILE}: cannot write it" in out
    assert (repos / "web" / COMMAND_FILE).exists()           # the other repo goes on


def test_no_slash_command_and_the_questions(repos, monkeypatch, capsys):
    assert main(["init", "--yes", "--no-slash-command", "--path", str(repos)]) == 0
    assert not (repos / "api" / ".claude").exists()
    # include api? include web? machine / workers / launcher (defaults) / slash: yes / allow: no
    monkeypatch.setattr(sys, "stdin", io.StringIO("y\ny\n\n\n\ny\nn\n"))
    assert main(["init", "--force", "--path", str(repos)]) == 0
    assert (repos / "api" / COMMAND_FILE).exists()
    assert not (repos / "api" / SETTINGS_FILE).exists()       # the user said no
    assert write_slash_command(repos / "api").state == "unchanged"
