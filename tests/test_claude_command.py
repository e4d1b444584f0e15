"""The `claude -p` command line (golden renderings) and model resolution."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import pytest

from coordssh.agent.claude import build_claude_command, new_session_id, resolve_model
from coordssh.config.schema import Models
from coordssh.errors import UsageError

FAKE_CLAUDE = str(Path(__file__).parent / "bin" / "claude")
SID = "5b0c9a57-3f5e-4a8c-9d7e-2f1b6c4d8e90"
BASE = dict(model="sonnet", permission_mode="acceptEdits", allowed_tools=(), max_turns=None,
            max_budget_usd=None, session_id=None)


def test_the_full_command_line():
    command = build_claude_command(
        "/home/dev/.local/bin/claude", model="opus", permission_mode="acceptEdits",
        allowed_tools=["Read", "Edit", "Bash(git diff *)", "Bash(python -m pytest *)"],
        max_turns=30, max_budget_usd=2.5, session_id=SID)
    assert command.render() == (
        "/home/dev/.local/bin/claude -p --output-format stream-json --verbose --model opus "
        "--permission-mode acceptEdits "
        "--allowedTools 'Read,Edit,Bash(git diff *),Bash(python -m pytest *)' "
        f"--max-turns 30 --max-budget-usd 2.5 --session-id {SID}")


def test_optional_flags_are_left_out_and_extra_args_come_last():
    command = build_claude_command("claude", **BASE, extra_args=["--fallback-model", "haiku"])
    assert command.argv() == ["claude", "-p", "--output-format", "stream-json", "--verbose",
                              "--model", "sonnet", "--permission-mode", "acceptEdits",
                              "--fallback-model", "haiku"]


def test_budget_keeps_its_precision():
    argv = build_claude_command("claude", **{**BASE, "max_budget_usd": 0.125}).argv()
    assert argv[argv.index("--max-budget-usd") + 1] == "0.125"
    argv = build_claude_command("claude", **{**BASE, "max_budget_usd": 10.0}).argv()
    assert argv[argv.index("--max-budget-usd") + 1] == "10"


@pytest.mark.parametrize("change, message", [
    ({"allowed_tools": ["Bash(git log --format=%h,%s *)"]}, "invalid allowed tool"),
    ({"allowed_tools": ["Read", " "]}, "invalid allowed tool"),
    ({"permission_mode": "yolo"}, "invalid permission mode"),
    ({"model": "--dangerously-skip-permissions"}, "invalid model"),
    ({"model": ""}, "invalid model"),
    ({"max_turns": 0}, "max_turns must be a positive integer"),
    ({"max_turns": True}, "max_turns must be a positive integer"),
    ({"max_budget_usd": 0}, "max_budget_usd must be positive"),
    ({"session_id": "not-a-uuid"}, "is not a UUID"),
])
def test_refusals(change, message):
    with pytest.raises(UsageError, match=message):
        build_claude_command("claude", **{**BASE, **change})


def test_new_session_ids_are_uuids():
    first, second = new_session_id(), new_session_id()
    assert first != second and str(uuid.UUID(first)) == first


MODELS = Models(default="sonnet", labels={"complex": "opus", "Trivial": "haiku", "quick": "fast"},
                aliases={"fast": "claude-haiku-4-5"})


@pytest.mark.parametrize("cli, labels, playbook, expected", [
    ("claude-fable-5", ["complex"], "haiku", ("claude-fable-5", "claude-fable-5")),
    (None, ["bug", "complex"], "haiku", ("opus", "opus")),
    (None, ["trivial"], None, ("haiku", "haiku")),          # labels match case-insensitively
    (None, ["bug"], "opus", ("opus", "opus")),
    (None, [], None, ("sonnet", "sonnet")),                 # the CLI resolves its own aliases
    (None, ["quick"], None, ("claude-haiku-4-5", "fast")),  # the user's shorthand is mapped
    ("fast", [], None, ("claude-haiku-4-5", "fast")),
])
def test_resolve_model_order(cli, labels, playbook, expected):
    """(what claude is given, what the operator asked for): no alias table of ours."""
    assert resolve_model(cli, labels, MODELS, playbook) == expected


def test_the_stand_in_accepts_the_command_we_build(tmp_path):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    command = build_claude_command(FAKE_CLAUDE, model="sonnet", permission_mode="acceptEdits",
                                   allowed_tools=["Read", "Bash(git diff *)"], max_turns=5,
                                   max_budget_usd=1.0, session_id=SID)
    done = subprocess.run(command.argv(), input=b"Say hi.\n[[fake-claude:advisory]]",
                          capture_output=True, cwd=tmp_path, env={"PATH": "/usr/bin:/bin",
                                                                   "FAKE_CLAUDE_PACE": "0"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1].startswith(b'{"type":"result"')
    assert SID.encode() in done.stdout.splitlines()[0]


def test_a_repos_build_and_test_commands_and_worker_permissions_become_rules(tmp_path):
    from coordssh.agent.claude import build_for_playbook
    from coordssh.agent.permissions import command_rules, repo_rules
    from coordssh.agent.playbook import load_playbook
    from coordssh.config.schema import Repo, WorkerPermissions

    assert command_rules("pip install -e . && python3 -m pytest -q") == [
        "Bash(pip install -e .)", "Bash(pip install -e . *)",
        "Bash(python3 -m pytest -q)", "Bash(python3 -m pytest -q *)"]
    assert command_rules("make a,b; ./check | tee log") == [
        "Bash(./check)", "Bash(./check *)", "Bash(tee log)", "Bash(tee log *)"]
    repo = Repo(name="api", build_command="npm run build", test_command="./run-tests --fast",
                worker_permissions=WorkerPermissions(allow=("Bash(npx prettier *)",),
                                                     deny=("Bash(git push *)", "WebFetch")))
    rules = repo_rules(repo)
    assert rules.allow == ("Bash(npm run build)", "Bash(npm run build *)", "Bash(./run-tests --fast)",
                           "Bash(./run-tests --fast *)", "Bash(npx prettier *)")
    command = build_for_playbook("claude", load_playbook("implement"), model="sonnet",
                                 session_id=SID, allow=rules.allow, deny=rules.deny)
    argv = command.argv()
    allowed = argv[argv.index("--allowedTools") + 1].split(",")
    assert allowed[0] == "Read" and "Bash(./run-tests --fast *)" in allowed
    assert "Bash(npm run build *)" in allowed and "Bash(npx prettier *)" in allowed
    assert argv.count("--allowedTools") == 1     # one comma-joined argument each
    assert argv[argv.index("--disallowedTools") + 1] == "Bash(git push *),WebFetch"
    # the stand-in parses the flags as the real CLI does
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    done = subprocess.run([FAKE_CLAUDE, *argv[1:]],
                          input=b"Say hi.\n[[fake-claude:advisory]]", capture_output=True,
                          cwd=tmp_path, env={"PATH": "/usr/bin:/bin", "FAKE_CLAUDE_PACE": "0"})
    assert done.returncode == 0, done.stderr
