"""How a run ended: the folded stream plus the process facts -> one status and a one-line reason.

Order (see contracts/claude-headless.md): the operator's cancel wins; then an auth failure the
wrapper ended the run for (`auth_failed`: waiting cannot help); then the `result` line (is_error,
then subtype, then rate-limit / auth / API detection); only without a result do the exit code and
stderr count (bad flags, the nested-session guard, the root refusal). No result and no process
is a crash, reported with the session id so it can be resumed. A success whose tool calls were
denied says so (failed when nothing was pushed); a failed `git push` is `push_failed` with git's
message, or a note on any other outcome.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from coordssh.agent.events_text import format_epoch, one_line, retry_text
from coordssh.agent.markers import find_marker
from coordssh.agent.stream import StreamState
from coordssh.agent.usage_limit import is_usage_limit_text, reset_time
from coordssh.domain import models as m

REASON_WIDTH = 240
DENIALS_NAMED = 2        # denied calls named in a reason (all are counted)
_TURNS = re.compile(r"\((\d+)\)")
_AUTH_ERRORS = frozenset({"authentication_failed", "oauth_org_not_allowed", "billing_error"})
_AUTH_TEXT = re.compile(r"invalid api key|not logged in|please run /login|oauth token|"
                        r"login expired|failed to authenticate|organization has been disabled|"
                        r"credit balance is too low", re.IGNORECASE)
# stderr lines that explain a run that never started (checked only when there is no result)
_STARTUP_ERRORS = re.compile(r"requires --verbose|cannot be launched inside another claude code|"
                             r"cannot be used with root|unknown option|input must be provided|"
                             r"input contained only whitespace|^error:",
                             re.IGNORECASE | re.MULTILINE)


@dataclass(frozen=True)
class Outcome:
    status: str
    reason: str = ""
    resets_at: float | None = None

    @property
    def terminal(self) -> bool:
        return self.status in m.TERMINAL_STATUSES


@dataclass(frozen=True)
class Push:
    """What the wrapper's post-run push left: `pushed_sha`, or `push_failed` and push.log."""

    sha: str = ""
    failed: bool = False
    log: str = ""


def classify(state: StreamState, *, exit_code: int | None, stderr_tail: str = "", alive: bool,
             cancelled: bool = False, pushed_sha: str = "", timed_out: bool = False,
             now: float | None = None, auth_failed: bool = False, push: Push | None = None,
             row: m.Assignment | None = None) -> Outcome:
    """`row` names the run in reasons (machine, repo, branch, id) when given."""
    push = push or Push(sha=pushed_sha)
    where = row or m.Assignment(id="ID", machine="the worker", repo="REPO", issue=0, branch="")
    outcome = _classify(state, exit_code=exit_code, stderr_tail=stderr_tail, alive=alive,
                        cancelled=cancelled, push=push, timed_out=timed_out, now=now,
                        auth_failed=auth_failed, where=where)
    if push.failed and outcome.terminal:
        return _push_failed(outcome, state, push, where)
    return outcome


def _classify(state: StreamState, *, exit_code: int | None, stderr_tail: str, alive: bool,
              cancelled: bool, push: Push, timed_out: bool, now: float | None,
              auth_failed: bool, where: m.Assignment) -> Outcome:
    if cancelled:
        hint = _resume_hint(state, state.result)
        pushed = f"; pushed {push.sha[:7]}" if push.sha else ""
        return _outcome(m.CANCELLED, "cancelled by the operator" + pushed + hint)
    if auth_failed:
        said = retry_text(state.api_retry) if state.api_retry else state.last_api_error
        return _outcome(m.AUTH_FAILED, f"authentication failed ({said}); {_login_fix(where)}")
    if state.result is not None:
        if state.result.get("is_error") is True:
            return _failed_result(state, now, where)
        return _succeeded(state, push.sha, where)
    if timed_out:
        return _outcome(m.FAILED, "exceeded max_runtime" + _resume_hint(state, None))
    if alive:
        return Outcome(m.RUNNING, state.last_status)
    return _no_result(state, exit_code, stderr_tail, now)


def _succeeded(state: StreamState, pushed_sha: str, where: m.Assignment) -> Outcome:
    denied = state.denial_count
    if state.stuck_reason:
        note = f"; {_denied_note(state, where)}" if denied else ""
        return _outcome(m.STUCK, f"STUCK: {_first_sentence(state.stuck_reason)}{note}")
    if pushed_sha:
        note = f"; {_denied_note(state, where)}" if denied else ""
        return _outcome(m.DONE, f"pushed {pushed_sha[:7]}{note}")
    if denied:  # it could not do its work: not a clean "nothing to change"
        were = "tool call was" if denied == 1 else "tool calls were"
        return _outcome(m.FAILED, f"{denied} {were} denied ({_denied_names(state)}); allow "
                                  f"{'it' if denied == 1 else 'them'} with "
                                  f"{_allow_where(where)}")
    said = _result_text(state)
    if where.role in NEVER_PUSH:     # a review is read-only: pushing nothing is its normal end
        return _outcome(m.ADVISORY, f"{where.role} finished: {said}" if said
                        else f"{where.role} finished")
    return _outcome(m.ADVISORY, f"nothing pushed: {said}" if said else "nothing pushed")


NEVER_PUSH = frozenset({"review"})


def _denied_note(state: StreamState, where: m.Assignment) -> str:
    count = state.denial_count
    calls = "tool call" if count == 1 else "tool calls"
    return f"{count} {calls} denied: {_denied_names(state)}; allow with {_allow_where(where)}"


def _denied_names(state: StreamState) -> str:
    names = state.denied_tools
    shown = ", ".join(one_line(name, 60) for name in names[:DENIALS_NAMED])
    return shown + (f" and {len(names) - DENIALS_NAMED} more" if len(names) > DENIALS_NAMED
                    else "")


def _allow_where(where: m.Assignment) -> str:
    return f"worker_permissions.allow for repo {where.repo} in coordinator.yml"


def _login_fix(where: m.Assignment) -> str:
    return f"log in with `claude /login` on {where.machine}, or fix ANTHROPIC_API_KEY"


def _push_failed(outcome: Outcome, state: StreamState, push: Push, where: m.Assignment) -> Outcome:
    """A success whose push failed is `push_failed` (its commits are only on the worker); any
    other outcome keeps its status and gets a note."""
    said = push_error(push.log) or "see push.log in the run directory"
    fix = f"fix the worker's push access, then `coordssh push {where.id}`"
    succeeded = (state.result is not None and state.result.get("is_error") is not True
                 and outcome.status in (m.DONE, m.ADVISORY, m.FAILED))
    if succeeded:
        note = f"; {_denied_note(state, where)}" if state.denial_count else ""
        return _outcome(m.PUSH_FAILED, f"git push failed: {said}; the commits stay on "
                                       f"{where.branch or 'the branch'} on {where.machine}; "
                                       f"{fix}{note}")
    return _outcome(outcome.status, f"{outcome.reason}; git push failed: {said} ({fix})",
                    outcome.resets_at)


_PROGRESS = re.compile(r"Resolving deltas|Counting objects|Compressing|Total \d|Enumerating")


def push_error(log: str) -> str:
    """git's message in push.log: its first `fatal:` line, else what the remote said (a hook, a
    protected branch), else the rejected ref, else the last `error:`, else the last line."""
    lines = [ln.strip() for ln in log.splitlines() if ln.strip()]
    lines = [ln for ln in lines if not ln.startswith("hint:") and not _PROGRESS.search(ln)]
    remote = [ln for ln in lines if ln.startswith("remote:") and ln[7:].strip()]
    for found in ([ln for ln in lines if ln.startswith("fatal:")], remote,
                  [ln for ln in lines if ln.startswith("! [")]):
        if found:
            return found[0]
    errors = [ln for ln in lines if ln.startswith(("error:", "ERROR"))]
    return (errors or lines or [""])[-1]


def _failed_result(state: StreamState, now: float | None, where: m.Assignment) -> Outcome:
    r = state.result or {}
    subtype = r.get("subtype")
    terminal = r.get("terminal_reason")
    errors = "; ".join(str(e) for e in r.get("errors") or [] if e)
    if subtype == "error_max_turns" or terminal == "max_turns":
        found = _TURNS.search(errors)
        limit = found.group(1) if found else str(max((state.turns or 1) - 1, 0))
        return _outcome(m.MAX_TURNS, f"reached max turns ({limit})")
    if subtype == "error_max_budget_usd" or terminal == "budget_exhausted":
        return _outcome(m.BUDGET, errors or "reached the maximum budget")
    text = _result_text(state) or errors
    if _usage_limited(state, r, text):
        resets = reset_time(state.resets_at, [text, state.synthetic_text], now)
        when = f"resets {format_epoch(resets)}" if resets is not None else "reset time unknown"
        return _outcome(m.USAGE_LIMITED, f"usage limit; {when}", resets)
    status = r.get("api_error_status")
    if status in (401, 403) or state.synthetic_error in _AUTH_ERRORS or _AUTH_TEXT.search(text):
        return _outcome(m.AUTH_FAILED, f"authentication failed: {text or status}; "
                                       f"{_login_fix(where)}")
    if terminal == "api_error" or status is not None or state.synthetic_error:
        code = f" {status}" if status is not None else ""
        return _outcome(m.API_ERROR, f"API error{code}: {text or state.synthetic_error}")
    return _outcome(m.FAILED, f"{subtype or 'error'}: {text}" if text else str(subtype or "error"))


def _usage_limited(state: StreamState, r: dict, text: str) -> bool:
    if state.rate_limit_rejected or state.synthetic_error == "rate_limit":
        return True
    if r.get("api_error_status") == 429:
        return "not your usage limit" not in text.lower()
    return is_usage_limit_text(text)


def _no_result(state: StreamState, exit_code: int | None, stderr_tail: str,
               now: float | None) -> Outcome:
    stderr = stderr_tail.strip()
    if stderr and is_usage_limit_text(stderr):
        resets = reset_time(None, [stderr], now)
        when = f"resets {format_epoch(resets)}" if resets is not None else "reset time unknown"
        return _outcome(m.USAGE_LIMITED, f"usage limit; {when}", resets)
    if stderr and _AUTH_TEXT.search(stderr):
        return _outcome(m.AUTH_FAILED, f"authentication failed: {_last_line(stderr)}")
    started = bool(state.session_id) or state.events > 0
    if stderr and not started and exit_code not in (None, 0):  # refused before its first line
        startup = _STARTUP_ERRORS.search(stderr)
        line = _line_at(stderr, startup.start()) if startup else _last_line(stderr)
        return _outcome(m.FAILED, f"claude refused to start (exit {exit_code}): {line}")
    code = f" (exit {exit_code})" if exit_code is not None else ""
    return _outcome(m.CRASHED, f"no result line{code}" + _resume_hint(state, None))


def _resume_hint(state: StreamState, result: dict | None) -> str:
    if result is not None or not state.session_id:
        return ""
    return f"; resume with claude --resume {state.session_id}"


def _result_text(state: StreamState) -> str:
    """The first line of the result text that is not a STATUS: marker."""
    text = (state.result or {}).get("result")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()] if isinstance(text, str) else []
    said = [ln for ln in lines if find_marker(ln, "STATUS:") is None]
    return (said or lines or [""])[0]


def _first_sentence(text: str) -> str:
    end = text.find(". ")
    return text[:end] if end >= 10 else text


def _last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


def _line_at(text: str, index: int) -> str:
    start = text.rfind("\n", 0, index) + 1
    end = text.find("\n", index)
    return text[start: end if end >= 0 else len(text)].strip()


def _outcome(status: str, reason: str, resets_at: float | None = None) -> Outcome:
    return Outcome(status, one_line(reason, REASON_WIDTH), resets_at)
