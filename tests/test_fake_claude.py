"""The `claude` stand-in (tests/bin/claude), run as a real process in a real git repository."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
from pathlib import Path

import pytest

from coordssh.agent.stream import StreamState

FAKE = str(Path(__file__).parent / "bin" / "claude")
FIXTURES = Path(__file__).parent / "fixtures" / "stream-json"
MANIFEST = {e["file"]: e for e in json.loads((FIXTURES / "manifest.json").read_text())["fixtures"]}
STREAM = ["-p", "--output-format", "stream-json", "--verbose"]
SID = "11111111-2222-4333-8444-555555555555"
GUARD_S = 60  # kill a stuck stand-in so a broken test fails instead of hanging CI


def env(**extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("CLAUDECODE", "FAKE_CLAUDE"))}
    return {**base, "FAKE_CLAUDE_PACE": "0", **extra}


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True).stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "worktree"
    path.mkdir()
    git(path, "init", "-q", "-b", "issue-7-fix")
    git(path, "-c", "user.name=t", "-c", "user.email=t@t.invalid", "commit", "-q",
        "--allow-empty", "-m", "base")
    return path


def run(repo: Path, args: list[str], prompt: str | bytes = "Fix issue 7.", **extra: str):
    data = prompt.encode() if isinstance(prompt, str) else prompt
    return subprocess.run([FAKE, *args], input=data, capture_output=True, cwd=repo,
                          env=env(**extra), timeout=GUARD_S)


def commits(repo: Path) -> int:
    return int(git(repo, "rev-list", "--count", "HEAD"))


REPLAYED = ["stuck", "max_turns", "rate_limited", "rate_limited_legacy", "api_error",
            "auth_failed", "partial_messages"]


@pytest.mark.parametrize("scenario", REPLAYED)
def test_replays_the_fixture_with_its_exit_code(repo, scenario):
    entry = MANIFEST[f"{scenario}.jsonl"]
    done = run(repo, STREAM, FAKE_CLAUDE_SCENARIO=scenario)
    assert done.stdout == (FIXTURES / entry["file"]).read_bytes()
    assert (done.returncode, done.stderr) == (entry["exit_code"], b"")
    assert commits(repo) == 1 and git(repo, "status", "--porcelain") == ""


def test_success_commits_a_real_change_before_the_result(repo):
    done = run(repo, STREAM)
    assert done.returncode == 0
    assert done.stdout == (FIXTURES / "success.jsonl").read_bytes()
    assert commits(repo) == 2 and git(repo, "status", "--porcelain") == ""
    assert git(repo, "show", "--name-only", "--format=%s", "HEAD").split("\n")[:3] == \
        ["fake claude: success change", "", "coordssh-fake-success.txt"]


def test_advisory_and_dirty_do_not_commit(repo):
    assert run(repo, STREAM, "[[fake-claude:advisory]]").returncode == 0
    assert commits(repo) == 1 and git(repo, "status", "--porcelain") == ""
    assert run(repo, STREAM, "[[fake-claude:dirty]]").returncode == 0
    assert commits(repo) == 1
    assert git(repo, "status", "--porcelain") == "?? coordssh-fake-dirty.txt\n"


def test_crashed_cuts_the_last_line_and_dies_by_sigkill(repo):
    done = run(repo, STREAM, "[[fake-claude:crashed]]")
    assert done.returncode == -signal.SIGKILL
    assert done.stdout == (FIXTURES / "crashed.jsonl").read_bytes()
    assert not done.stdout.endswith(b"\n")


def test_the_prompt_marker_beats_the_environment(repo):
    done = run(repo, STREAM, "Work.\n\n## Operator briefing\n\n[[fake-claude:stuck]]\n",
               FAKE_CLAUDE_SCENARIO="api_error")
    assert done.stdout == (FIXTURES / "stuck.jsonl").read_bytes()


def test_session_id_replaces_the_fixtures_everywhere(repo):
    done = run(repo, [*STREAM, "--session-id", SID], FAKE_CLAUDE_SCENARIO="advisory")
    original = MANIFEST["success.jsonl"]["expect"]["session_id"].encode()
    assert original not in done.stdout
    assert done.stdout.count(SID.encode()) == done.stdout.count(b'"session_id"')
    state = StreamState()
    state.feed(done.stdout)
    assert state.session_id == SID and state.result["session_id"] == SID


def test_other_output_formats(repo):
    result = json.loads((FIXTURES / "success.jsonl").read_bytes().splitlines()[-1])
    as_json = run(repo, ["-p", "--output-format", "json"], "[[fake-claude:advisory]]")
    assert json.loads(as_json.stdout) == result
    as_text = run(repo, ["--print"], "[[fake-claude:advisory]]")
    assert as_text.stdout.decode() == result["result"] + "\n"


ROOT = os.geteuid() == 0


@pytest.mark.parametrize("args, prompt, extra, stderr", [
    (["-p", "--output-format", "stream-json"], "x", {},
     "Error: When using --print, --output-format=stream-json requires --verbose"),
    ([*STREAM, "--frobnicate"], "x", {}, "error: unknown option '--frobnicate'"),
    (["--output-format", "stream-json", "--verbose"], "x", {}, "error: this stand-in only"),
    (STREAM, "x", {"CLAUDECODE": "1"},
     "Error: Claude Code cannot be launched inside another Claude Code session."),
    (STREAM, "", {}, "Error: Input must be provided either through stdin or as a prompt argument"),
    (STREAM, " \n", {}, "Error: Input contained only whitespace"),
    ([*STREAM, "--session-id", "abc"], "x", {}, "Error: Invalid session ID. Must be a valid UUID."),
    ([*STREAM, "--permission-mode", "yolo"], "x", {}, "error: option '--permission-mode <mode>'"),
    ([*STREAM, "--model"], "x", {}, "error: option '--model <value>' argument missing"),
    # a positional prompt after a variadic flag is swallowed as a tool: why coordssh uses stdin
    ([*STREAM, "--allowedTools", "Read", "fix the bug"], "", {}, "Error: Input must be provided"),
])
def test_argv_is_checked_like_the_real_cli(repo, args, prompt, extra, stderr):
    done = run(repo, args, prompt, **extra)
    assert (done.returncode, done.stdout) == (1, b"")
    assert done.stderr.decode().startswith(stderr)


def test_bypass_permissions_is_refused_as_root(repo):
    done = run(repo, [*STREAM, "--dangerously-skip-permissions"], "[[fake-claude:advisory]]")
    if ROOT:
        assert done.returncode == 1 and done.stdout == b""
        assert b"cannot be used with root/sudo privileges" in done.stderr
    else:
        assert done.returncode == 0 and done.stdout
    sandboxed = run(repo, [*STREAM, "--permission-mode", "bypassPermissions"],
                    "[[fake-claude:advisory]]", IS_SANDBOX="1")
    assert sandboxed.returncode == 0


def test_a_positional_prompt_and_the_record_file(repo, tmp_path):
    record = tmp_path / "calls.jsonl"
    done = run(repo, [*STREAM, "--model", "opus", "[[fake-claude:advisory]]"], b"",
               FAKE_CLAUDE_RECORD=str(record))
    assert done.returncode == 0
    call = json.loads(record.read_text())
    assert call["argv"][1:] == [*STREAM, "--model", "opus", "[[fake-claude:advisory]]"]
    assert (call["prompt"], call["scenario"], call["cwd"]) == \
        ("[[fake-claude:advisory]]", "advisory", str(repo))


def start(repo: Path, scenario: str) -> subprocess.Popen:
    proc = subprocess.Popen([FAKE, *STREAM], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=repo, env=env())
    guard = threading.Timer(GUARD_S, proc.kill)
    guard.daemon = True
    guard.start()
    proc.stdin.write(f"[[fake-claude:{scenario}]]".encode())
    proc.stdin.close()
    return proc


def test_hang_stops_with_sigterm_and_no_result(repo):
    proc = start(repo, "hang")
    first = proc.stdout.readline()
    assert json.loads(first)["subtype"] == "init"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait() == 143 and proc.stdout.read() == b""


def test_hang_interrupted_writes_the_interrupted_line(repo):
    proc = start(repo, "hang")
    proc.stdout.readline()
    proc.send_signal(signal.SIGINT)
    assert proc.wait() == 0
    line = json.loads(proc.stdout.read())
    assert line["type"] == "user"
    assert line["message"]["content"][0]["text"] == "[Request interrupted by user]"


def test_linger_keeps_running_after_the_result(repo):
    proc = start(repo, "linger")
    state = StreamState()
    while not state.has_result:
        line = proc.stdout.readline()
        assert line, "stream ended before the result line"
        state.feed(line)
    assert proc.poll() is None  # still alive after its result
    assert commits(repo) == 2
    proc.send_signal(signal.SIGTERM)
    assert proc.wait() == 143
    assert [e.kind for e in state.feed(proc.stdout.read())] == []
    assert state.result["subtype"] == "success"


def test_an_unknown_scenario_is_a_test_bug(repo):
    done = run(repo, STREAM, "[[fake-claude:nosuch]]")
    assert done.returncode == 2 and b"unknown scenario 'nosuch'" in done.stderr
