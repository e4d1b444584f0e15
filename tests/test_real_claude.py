"""The real `claude` CLI (tests/claude-code.version) run directly against the scripted model server.

No coordssh here: these tests pin down what the pinned CLI really does (tool execution, permission
checks, stream-json, retries, --resume, prompt delivery) so the rest of the suite can rely on it.
"""

from __future__ import annotations

import uuid

import pytest

from tests.support.dispatch import GitWorld, git
from tests.support.model_server import user_texts
from tests.support.real_claude import kill_group, read_events, run_claude, start_claude

pytestmark = pytest.mark.real_claude

ALLOW_GIT = ["--permission-mode", "acceptEdits",
             "--allowedTools", "Write,Bash(git add *),Bash(git commit *)"]


@pytest.fixture
def repo(tmp_path):
    return GitWorld.create(tmp_path / "git").clone


def prompt_of(request: dict) -> str:
    """The user's own text: the last text block of the request that is not a system reminder."""
    texts = [t for t in user_texts(request["body"]) if not t.startswith("<system-reminder>")]
    return texts[-1]


def test_a_scripted_run_writes_and_commits_for_real(claude_bin, model_server, claude_env, repo):
    server = model_server("success_commit", CWD=str(repo))
    sid = str(uuid.uuid4())
    run = run_claude(claude_bin, [*ALLOW_GIT, "--session-id", sid], cwd=repo,
                     env=claude_env(server), prompt="Add hello.txt and commit it.")
    assert run.returncode == 0, run.stderr
    assert git("log", "-1", "--format=%s", cwd=repo).strip() == "Add hello.txt"
    assert (repo / "hello.txt").read_text() == "hello from the model\n"
    assert git("status", "--porcelain", cwd=repo) == ""
    init = run.of_type("system", "init")[0]
    assert init["session_id"] == sid and init["apiKeySource"] == "ANTHROPIC_API_KEY"
    assert init["claude_code_version"] == "2.1.328" and init["cwd"] == str(repo)
    assert run.of_type("assistant") and run.of_type("user")
    results = [b for e in run.of_type("user") for b in e["message"]["content"]]
    assert [b.get("is_error", False) for b in results] == [False, False, False]
    result = run.result
    assert result["subtype"] == "success" and result["is_error"] is False
    assert result["result"].endswith("STATUS: done") and result["num_turns"] == 4
    assert result["permission_denials"] == [] and result["total_cost_usd"] > 0
    first = server.main_requests()[0]
    assert prompt_of(first) == "Add hello.txt and commit it."
    assert {"Write", "Bash"} <= {t["name"] for t in first["body"]["tools"]}
    assert first["body"]["model"] == init["model"] and first["body"]["system"]
    assert len(server.main_requests()) == 4 and server.problems == []


def test_a_compound_command_with_an_unlisted_part_is_denied(claude_bin, model_server, claude_env,
                                                            repo):
    server = model_server("compound_denied")
    before = git("rev-parse", "HEAD", cwd=repo)
    run = run_claude(claude_bin, ["--permission-mode", "acceptEdits",
                                  "--allowedTools", "Write,Bash(git commit *)"],
                     cwd=repo, env=claude_env(server), prompt="Commit f.")
    result = run.result
    assert run.returncode == 0 and result["subtype"] == "success"   # "success" all the same
    denied = result["permission_denials"]
    assert [d["tool_name"] for d in denied] == ["Bash"]
    assert "git commit" in denied[0]["tool_input"]["command"]
    tool_result = run.of_type("user")[0]["message"]["content"][0]
    assert tool_result["is_error"] is True
    assert tool_result["content"] == ("This Bash command contains multiple operations. "
                                      "The following part requires approval: git add f.txt")
    [notice] = run.of_type("system", "permission_denied")
    assert notice["tool_name"] == "Bash" and notice["tool_use_id"] == tool_result["tool_use_id"]
    assert not (repo / "f.txt").exists() and git("rev-parse", "HEAD", cwd=repo) == before
    assert server.problems == []


def test_a_compound_command_runs_when_every_part_is_allowed(claude_bin, model_server, claude_env,
                                                            repo):
    """`echo x > f` counts as an edit under acceptEdits; git add and git commit are listed."""
    server = model_server("compound_denied")
    run = run_claude(claude_bin, ALLOW_GIT, cwd=repo, env=claude_env(server), prompt="Commit f.")
    assert run.returncode == 0 and run.result["permission_denials"] == []
    assert git("log", "-1", "--format=%s", cwd=repo).strip() == "add f"
    assert (repo / "f.txt").read_text() == "x\n"


def test_a_401_gives_api_retry_lines_with_authentication_failed(claude_bin, model_server,
                                                                claude_env, repo):
    server = model_server("auth_401")
    proc = start_claude(claude_bin, [], cwd=repo, env=claude_env(server), prompt="hi")
    try:
        events = read_events(proc, lambda seen: sum(
            e.get("subtype") == "api_retry" for e in seen) >= 2)
    finally:
        kill_group(proc)
    retries = [e for e in events if e.get("subtype") == "api_retry"]
    assert len(retries) == 2 and not [e for e in events if e.get("type") == "result"]
    assert [(r["attempt"], r["error_status"], r["error"]) for r in retries] == [
        (1, 401, "authentication_failed"), (2, 401, "authentication_failed")]
    assert retries[0]["max_retries"] == 10 and retries[1]["retry_delay_ms"] > 0
    assert len(server.main_requests()) >= 2


def test_max_turns_ends_with_error_max_turns(claude_bin, model_server, claude_env, repo):
    server = model_server("two_tools")
    run = run_claude(claude_bin, ["--max-turns", "1", "--allowedTools", "Bash(git *)"],
                     cwd=repo, env=claude_env(server), prompt="Look around.")
    result = run.result
    assert run.returncode == 1
    assert result["subtype"] == "error_max_turns" and result["is_error"] is True
    assert result["terminal_reason"] == "max_turns" and "result" not in result
    assert result["errors"] == ["Reached maximum number of turns (1)"]
    assert len(server.main_requests()) == 1


def test_resume_sends_the_earlier_conversation_and_the_new_prompt(claude_bin, model_server,
                                                                  claude_env, repo):
    server = model_server("remember", WORD="pumpernickel")
    env = claude_env(server)
    sid = str(uuid.uuid4())
    first = run_claude(claude_bin, ["--session-id", sid, "--allowedTools", "Bash(git *)"],
                       cwd=repo, env=env, prompt="Remember a word.")
    assert first.result["result"] == "The secret word is pumpernickel."
    earlier = len(server.main_requests())
    again = run_claude(claude_bin, ["--resume", sid, "--allowedTools", "Bash(git *)"],
                       cwd=repo, env=env, prompt="What was the word?")
    assert again.returncode == 0, again.stderr
    assert again.of_type("system", "init")[0]["session_id"] == sid
    assert again.result["result"] == "You asked again; the word is still pumpernickel."
    resumed = server.main_requests()[earlier]
    texts = user_texts(resumed["body"])
    assert "Remember a word." in texts and prompt_of(resumed) == "What was the word?"
    said = [b.get("text") for m in resumed["body"]["messages"] if m["role"] == "assistant"
            for b in m["content"]]
    assert "The secret word is pumpernickel." in said
    assert resumed["tool_results"] == 1 and server.problems == []


HOSTILE = ("Fix \"it\" and 'that': $(rm -rf /) `id` ${HOME} $HOME; echo pwned | sh\n"
           "second line \\n not a newline \t tab — ünïcödé ✓ 日本語 🚀\n"
           "-- --help --dangerously-skip-permissions\r\n\n  last line, trailing newlines kept\n\n")


def test_the_stdin_prompt_arrives_byte_identical(claude_bin, model_server, claude_env, repo):
    server = model_server("echo", ANSWER="ok")
    run = run_claude(claude_bin, [], cwd=repo, env=claude_env(server), prompt=HOSTILE)
    assert run.returncode == 0 and run.result["result"] == "ok"
    assert prompt_of(server.main_requests()[0]).encode() == HOSTILE.encode()


def test_after_a_cut_stream_the_cli_retries_and_is_answered(claude_bin, model_server,
                                                            claude_env, repo):
    server = model_server("cut_then_text")
    run = run_claude(claude_bin, [], cwd=repo, env=claude_env(server), prompt="hi")
    assert run.returncode == 0, run.stderr
    assert run.result["result"] == "Answer after the cut."
    assert [r["served"] for r in server.main_requests()] == ["cut", "text"]


def test_a_hung_stream_holds_the_cli_without_a_result(claude_bin, model_server, claude_env, repo):
    """The CLI's own stream watchdogs take minutes (CLAUDE_STREAM_IDLE_TIMEOUT_MS=3000 and
    API_TIMEOUT_MS=3000 did not shorten them in 170 s): a hung API is coordssh's max_runtime to
    catch. Here: the request is in, the CLI started, and it sits there with no result."""
    server = model_server("hang_then_text")
    proc = start_claude(claude_bin, [], cwd=repo, env=claude_env(server), prompt="hi")
    try:
        events = read_events(proc, lambda seen: any(e.get("subtype") == "init" for e in seen))
        server.wait_for_requests(1)
        assert proc.poll() is None
    finally:
        kill_group(proc)
    assert not [e for e in events if e.get("type") == "result"]
    assert [r["served"] for r in server.main_requests()] == ["hang"]


def test_a_delayed_answer_is_waited_for(claude_bin, model_server, claude_env, repo):
    server = model_server("delay_text", DELAY="2")
    run = run_claude(claude_bin, [], cwd=repo, env=claude_env(server), prompt="hi")
    assert run.returncode == 0 and run.result["result"] == "Answer after a delay."
    assert run.result["duration_api_ms"] >= 2000      # the CLI's own measure, not our clock
    assert [r["served"] for r in server.main_requests()] == ["text"]


def test_overloaded_twice_then_answered(claude_bin, model_server, claude_env, repo):
    server = model_server("overloaded")
    run = run_claude(claude_bin, [], cwd=repo, env=claude_env(server), prompt="hi")
    retries = run.of_type("system", "api_retry")
    assert [(r["error_status"], r["error"]) for r in retries] == [(529, "overloaded")] * 2
    assert run.returncode == 0 and run.result["result"] == "Answer after the overload."
