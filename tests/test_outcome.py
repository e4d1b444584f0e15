"""Outcome classification: the result line first, then process facts; one-line reasons."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from coordssh.agent.outcome import classify
from coordssh.agent.stream import StreamState
from coordssh.agent.usage_limit import parse_reset_clock, reset_time
from coordssh.domain import models as m

FIXTURES = Path(__file__).parent / "fixtures" / "stream-json"
SID = "0b1c2d3e-0000-4000-8000-000000000001"
NOW = datetime(2026, 7, 14, 9, 30, tzinfo=timezone.utc).timestamp()  # a Tuesday


def fixture(name: str) -> StreamState:
    state = StreamState()
    state.feed((FIXTURES / name).read_bytes())
    state.finish()
    return state


def stream(*objects: dict) -> StreamState:
    state = StreamState()
    state.feed("".join(json.dumps(o) + "\n" for o in objects).encode())
    return state


def init() -> dict:
    return {"type": "system", "subtype": "init", "session_id": SID, "model": "claude-x"}


def text(body: str, mid: str = "m1") -> dict:
    return {"type": "assistant", "message": {"id": mid, "content": [{"type": "text", "text": body}]}}


def result(is_error: bool = False, subtype: str = "success", **fields) -> dict:
    return {"type": "result", "subtype": subtype, "is_error": is_error, "num_turns": 2,
            "session_id": SID, "duration_ms": 10, "duration_api_ms": 9, **fields}


def test_cancelled_wins_over_everything():
    out = classify(fixture("success.jsonl"), exit_code=0, alive=False, cancelled=True,
                   pushed_sha="abc")
    assert out.status == m.CANCELLED and out.reason == "cancelled by the operator; pushed abc"
    hung = classify(stream(init()), exit_code=None, alive=True, cancelled=True)
    assert hung.reason == f"cancelled by the operator; resume with claude --resume {SID}"


def test_running_until_a_result_or_the_process_ends():
    state = stream(init(), text("STATUS: reading the code"))
    out = classify(state, exit_code=None, alive=True)
    assert (out.status, out.reason) == (m.RUNNING, "reading the code")
    assert not out.terminal


def test_a_result_ends_the_run_even_while_claude_lingers():
    out = classify(fixture("success.jsonl"), exit_code=None, alive=True, pushed_sha="3f2a1bc9d0")
    assert (out.status, out.reason) == (m.DONE, "pushed 3f2a1bc")


def test_advisory_says_what_the_agent_said():
    out = classify(stream(init(), result(result="STATUS: done\nAlready fixed on main by #12.")),
                   exit_code=0, alive=False)
    assert (out.status, out.reason) == (m.ADVISORY, "nothing pushed: Already fixed on main by #12.")


def test_a_review_that_pushes_nothing_just_finished():
    row = m.Assignment(id="r1", machine="box", repo="demo", issue=3, branch="issue-3-x",
                       role="review")
    out = classify(stream(init(), result(result="Looks right.")), exit_code=0, alive=False,
                   row=row)
    assert (out.status, out.reason) == (m.ADVISORY, "review finished: Looks right.")


def test_stuck_from_the_last_assistant_text_when_the_result_text_lacks_it():
    state = stream(init(), text("STUCK: the spec contradicts itself. Details follow."),
                   result(result="Details: section 2 says X, section 3 says not X."))
    out = classify(state, exit_code=0, alive=False, pushed_sha="abc1234")
    assert (out.status, out.reason) == (m.STUCK, "STUCK: the spec contradicts itself")
    assert classify(fixture("stuck.jsonl"), exit_code=0, alive=False).reason == \
        "STUCK: cannot find the auth module"


def test_max_turns_and_budget():
    out = classify(fixture("max_turns.jsonl"), exit_code=1, alive=False)
    assert (out.status, out.reason) == (m.MAX_TURNS, "reached max turns (3)")
    budget = stream(init(), result(True, "error_max_budget_usd", terminal_reason="budget_exhausted",
                                   errors=["Reached maximum budget ($2)"]))
    out = classify(budget, exit_code=1, alive=False)
    assert (out.status, out.reason) == (m.BUDGET, "Reached maximum budget ($2)")


def test_usage_limit_reasons_name_the_reset():
    out = classify(fixture("rate_limited.jsonl"), exit_code=1, alive=False)
    assert out == type(out)(m.USAGE_LIMITED, "usage limit; resets 2026-07-14 14:00 UTC", 1784037600)
    legacy = classify(fixture("rate_limited_legacy.jsonl"), exit_code=1, alive=False)
    assert legacy.reason == "usage limit; resets 2025-08-21 20:00 UTC"
    unknown = classify(stream(init(), result(True, result="Claude usage limit reached.")),
                       exit_code=1, alive=False)
    assert (unknown.status, unknown.resets_at) == (m.USAGE_LIMITED, None)
    assert unknown.reason == "usage limit; reset time unknown"


def test_usage_limit_from_the_text_alone():
    state = stream(init(), result(True, api_error_status=429, terminal_reason="api_error",
                                  result="You've hit your limit · resets 3pm (Europe/Copenhagen)"))
    out = classify(state, exit_code=1, alive=False, now=NOW)
    expected = datetime(2026, 7, 14, 15, 0, tzinfo=ZoneInfo("Europe/Copenhagen")).timestamp()
    assert (out.status, out.resets_at) == (m.USAGE_LIMITED, expected)
    assert out.reason == "usage limit; resets 2026-07-14 13:00 UTC"


def test_a_transient_429_is_an_api_error_not_a_usage_limit():
    state = stream(init(), result(True, api_error_status=429, terminal_reason="api_error",
                                  result="API Error: Server is temporarily limiting requests "
                                         "(not your usage limit)"))
    assert classify(state, exit_code=1, alive=False).status == m.API_ERROR


def test_api_auth_and_model_errors():
    out = classify(fixture("api_error.jsonl"), exit_code=1, alive=False)
    assert out.reason == "API error 529: API Error: Repeated 529 Overloaded errors"
    auth = classify(fixture("auth_failed.jsonl"), exit_code=1, alive=False)
    assert auth.reason == ("authentication failed: Invalid API key · Fix external API key; log in "
                           "with `claude /login` on the worker, or fix ANTHROPIC_API_KEY")
    logged_out = stream(init(), result(True, result="Not logged in · Please run /login"))
    assert classify(logged_out, exit_code=1, alive=False).status == m.AUTH_FAILED
    model = stream(init(), result(True, api_error_status=404, result="There's an issue with the "
                                  "selected model (no-such-model)."))
    assert classify(model, exit_code=1, alive=False).status == m.API_ERROR


def test_error_during_execution_is_failed_with_its_error():
    state = stream(result(True, "error_during_execution",
                          errors=["No conversation found with session ID: 123"]))
    out = classify(state, exit_code=1, alive=False)
    assert out.status == m.FAILED
    assert out.reason == "error_during_execution: No conversation found with session ID: 123"


def test_crashed_keeps_the_session_for_resume():
    out = classify(fixture("crashed.jsonl"), exit_code=137, alive=False)
    assert out.status == m.CRASHED
    assert out.reason == ("no result line (exit 137); resume with claude --resume "
                          "b7a4b278-8370-40fd-bf98-46f9075f182b")
    nothing = classify(StreamState(), exit_code=None, alive=False)
    assert (nothing.status, nothing.reason) == (m.CRASHED, "no result line")


def test_timed_out_without_a_result():
    out = classify(stream(init()), exit_code=143, alive=False, timed_out=True)
    assert out.status == m.FAILED and out.reason.startswith("exceeded max_runtime")


@pytest.mark.parametrize("stderr", [
    "Error: When using --print, --output-format=stream-json requires --verbose",
    "Error: Claude Code cannot be launched inside another Claude Code session. Nested sessions "
    "share runtime resources and will crash all active sessions.",
    "--dangerously-skip-permissions cannot be used with root/sudo privileges for security reasons",
    "error: unknown option '--frobnicate'",
])
def test_startup_refusals_from_stderr(stderr):
    out = classify(StreamState(), exit_code=1, alive=False, stderr_tail="some warning\n" + stderr)
    assert out.status == m.FAILED
    assert out.reason.startswith("claude refused to start (exit 1): ")
    assert stderr[:60] in out.reason and "\n" not in out.reason


def test_a_started_run_that_dies_with_stderr_is_a_crash_not_a_refusal():
    out = classify(stream(init()), exit_code=1, alive=False, stderr_tail="Error: heap out of memory")
    assert out.status == m.CRASHED
    assert out.reason == f"no result line (exit 1); resume with claude --resume {SID}"
    other = classify(StreamState(), exit_code=1, alive=False, stderr_tail="Segmentation fault")
    assert other.reason == "claude refused to start (exit 1): Segmentation fault"


def test_stderr_usage_limit_without_a_result():
    out = classify(StreamState(), exit_code=1, alive=False, now=NOW,
                   stderr_tail="Claude AI usage limit reached|1755806400")
    assert (out.status, out.resets_at) == (m.USAGE_LIMITED, 1755806400)


def test_reset_clock_texts():
    assert reset_time(1784037600, ["resets 3pm"], NOW) == 1784037600  # structured value wins
    at = datetime.fromtimestamp(parse_reset_clock("resets 3:45pm", NOW), timezone.utc)
    assert (at.day, at.hour, at.minute) == (14, 15, 45)
    early = datetime.fromtimestamp(parse_reset_clock("resets 3am", NOW), timezone.utc)
    assert (early.day, early.hour) == (15, 3)  # already past today: tomorrow
    weekly = datetime.fromtimestamp(parse_reset_clock("You've hit your weekly limit · resets "
                                                      "Mon 12:00am", NOW), timezone.utc)
    assert (weekly.strftime("%a"), weekly.day, weekly.hour) == ("Mon", 20, 0)
    lima = parse_reset_clock("Your limit will reset at 10am (America/Lima)", NOW)
    assert lima == datetime(2026, 7, 14, 10, tzinfo=ZoneInfo("America/Lima")).timestamp()
    assert parse_reset_clock("resets 5 times a day", NOW) is None


# --- what real runs expose (contracts/claude-headless.md section 7) -----------------------------
from coordssh.agent.outcome import Push, push_error  # noqa: E402

ROW = m.Assignment(id="ab12cd34", machine="box", repo="demo", issue=7, branch="issue-7-x")
COMPOUND = "echo x > f && git add f && git commit -m m"


def bash_call(tid: str, command: str, mid: str = "m2") -> dict:
    return {"type": "assistant", "message": {"id": mid, "content": [
        {"type": "tool_use", "id": tid, "name": "Bash", "input": {"command": command}}]}}


def tool_error(tid: str, body: str) -> dict:
    return {"type": "user", "message": {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": tid, "is_error": True, "content": body}]}}


DENIED_TEXT = ("This Bash command contains multiple operations. The following part requires "
               "approval: echo x > f")


def denied_run(**result_fields) -> StreamState:
    denial = {"tool_name": "Bash", "tool_use_id": "toolu_1", "tool_input": {"command": COMPOUND}}
    return stream(init(), bash_call("toolu_1", COMPOUND), tool_error("toolu_1", DENIED_TEXT),
                  bash_call("toolu_2", "cat /root/secret", "m3"),
                  tool_error("toolu_2", "Exit code 1\ncat: /root/secret: Permission denied"),
                  text("I could not commit.", "m4"),
                  result(result="I could not commit.", permission_denials=[denial],
                         **result_fields))


def test_denied_calls_are_counted_once_and_a_run_they_blocked_is_not_clean():
    state = denied_run()
    assert state.denial_count == 1          # the tool_result and permission_denials: one call
    assert state.denied_tools == [f"Bash({COMPOUND})"]  # a failing command is not a denial
    out = classify(state, exit_code=0, alive=False, row=ROW)
    assert out.status == m.FAILED
    assert out.reason == (f"1 tool call was denied (Bash({COMPOUND})); allow it with "
                          "worker_permissions.allow for repo demo in coordinator.yml")
    pushed = classify(state, exit_code=0, alive=False, pushed_sha="abc1234def", row=ROW)
    assert pushed.status == m.DONE
    assert pushed.reason == (f"pushed abc1234; 1 tool call denied: Bash({COMPOUND}); allow with "
                             "worker_permissions.allow for repo demo in coordinator.yml")


def test_denials_are_counted_live_and_from_permission_denied_lines():
    state = stream(init(), bash_call("toolu_1", "pip install -e ."),
                   tool_error("toolu_1", "Claude requested permissions to use Bash, but you "
                                         "haven't granted it yet."),
                   {"type": "system", "subtype": "permission_denied", "tool_name": "Bash",
                    "tool_use_id": "toolu_1", "message": "denied"},
                   {"type": "system", "subtype": "permission_denied", "tool_name": "WebFetch",
                    "tool_use_id": "toolu_9", "message": "denied"})
    assert state.result is None and state.denial_count == 2
    assert state.denied_tools == ["Bash(pip install -e .)", "WebFetch"]
    again = StreamState.from_dict(state.to_dict())      # kept on the board between commands
    again.feed((json.dumps(result(permission_denials=[{"tool_name": "Bash",
                                                       "tool_use_id": "toolu_1"}])) + "\n").encode())
    assert again.denial_count == 2


def test_the_latest_api_retry_is_kept_until_a_response_comes():
    def retry(n: int, status: int, error: str) -> dict:
        return {"type": "system", "subtype": "api_retry", "attempt": n, "max_retries": 10,
                "retry_delay_ms": 16800, "error_status": status, "error": error}

    state = stream(init(), retry(5, 529, "overloaded"), retry(6, 401, "authentication_failed"))
    assert state.api_retries == 2
    assert state.api_retry == {"attempt": 6, "max_retries": 10, "error": "authentication_failed",
                               "error_status": 401, "delay_s": 16.8}
    from coordssh.agent.events_text import retry_text
    assert retry_text(state.api_retry) == \
        "API retry 6/10: authentication_failed (401), next in 17 s"
    state.feed((json.dumps(text("back again", "m9")) + "\n").encode())
    assert state.api_retry is None and state.api_retries == 2


def test_an_auth_failure_the_wrapper_ended_names_the_fix():
    state = stream(init(), {"type": "system", "subtype": "api_retry", "attempt": 1,
                            "max_retries": 10, "retry_delay_ms": 500, "error_status": 401,
                            "error": "authentication_failed"})
    out = classify(state, exit_code=143, alive=False, auth_failed=True, row=ROW)
    assert out.status == m.AUTH_FAILED
    assert out.reason == ("authentication failed (API retry 1/10: authentication_failed (401), "
                          "next in 1 s); log in with `claude /login` on box, or fix "
                          "ANTHROPIC_API_KEY")
    assert classify(state, exit_code=143, alive=False, auth_failed=True, cancelled=True,
                    row=ROW).status == m.CANCELLED      # the operator's stop still wins


REJECTED = """To /srv/origin.git
 ! [rejected]        issue-7-x -> issue-7-x (fetch first)
error: failed to push some refs to '/srv/origin.git'
hint: Updates were rejected because the remote contains work that you do not
hint: have locally.
"""
NO_ACCESS = """remote: Permission to acme/demo.git denied to bot.
fatal: unable to access 'https://github.com/acme/demo.git/': The requested URL returned error: 403
"""


def test_git_push_messages():
    assert push_error(REJECTED) == "! [rejected]        issue-7-x -> issue-7-x (fetch first)"
    assert push_error(NO_ACCESS).startswith("fatal: unable to access 'https://github.com/acme")
    assert push_error("remote: Resolving deltas: 100%\nremote: error: GH006: Protected branch\n"
                      " ! [remote rejected] b -> b (protected branch hook declined)\n"
                      "error: failed to push some refs to 'x'\n") == \
        "remote: error: GH006: Protected branch"
    assert push_error("error: src refspec b does not match any\nerror: failed to push\n") == \
        "error: failed to push"
    assert push_error("") == ""


def test_a_failed_push_is_its_own_outcome_with_gits_message_and_the_fix():
    out = classify(fixture("success.jsonl"), exit_code=0, alive=False,
                   push=Push(failed=True, log=NO_ACCESS), row=ROW)
    assert out.status == m.PUSH_FAILED and out.terminal
    assert out.reason.startswith("git push failed: fatal: unable to access")
    assert "the commits stay on issue-7-x on box" in out.reason
    assert "then `coordssh push ab12cd34`" in out.reason
    stuck = classify(fixture("stuck.jsonl"), exit_code=0, alive=False,
                     push=Push(failed=True, log=REJECTED), row=ROW)
    assert stuck.status == m.STUCK and "git push failed: ! [rejected]" in stuck.reason
