"""The verdict on one run from its probed facts: its outcome, and the chore it needs.

Pure (no I/O): services/observe.py calls it for every row, and housekeeping acts on the chores
(remote/hygiene.py KINDS). The clocks: `result_grace_s` from the stream's mtime and
`max_runtime_s` from `started_at`, both on the worker's clock (`now` is the probe's).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from coordssh.domain import models as m
from coordssh.domain.models import Assignment
from coordssh.remote.probe import RunFacts

if TYPE_CHECKING:  # the stream parser and the classifier are imported where a run needs them
    from coordssh.agent.outcome import Outcome
    from coordssh.agent.stream import StreamState
    from coordssh.services.context import Context

START_GRACE_S = 120.0    # a run with no pid file yet is still starting for this long


def judge(ctx: Context, row: Assignment, fact: RunFacts, state: StreamState,
          now: float) -> tuple[Outcome, str]:
    """The run's outcome, and the chore it needs (remote/hygiene.py KINDS, "" for none).
    Pure: a run that lingers or overran is reported, never ended here (housekeeping does)."""
    from coordssh.agent.outcome import Outcome, Push, classify

    runs = ctx.config.runs
    if fact.missing or (fact.pid is None and not fact.finished):
        return _not_started(ctx, row, fact), ""
    if fact.alive and not fact.finished:
        if state.has_result and fact.mtime is not None and now - fact.mtime > runs.result_grace_s:
            result = classify(state, exit_code=None, alive=False, now=now,
                              pushed_sha=fact.pushed_sha or "", row=row)
            return Outcome(m.RUNNING, f"{result.status} ({result.reason}); process still "
                                      f"lingering {now - fact.mtime:.0f}s after its result"), "linger"
        if fact.started_at is not None and now - fact.started_at > runs.max_runtime_s:
            return Outcome(m.RUNNING, f"past max runtime ({runs.max_runtime_s:g}s); the process "
                                      "still runs"), "overdue"
        return _running(state, fact), ""
    state.finish()
    if row.role == "test":  # a plain process: its exit code is the verdict (remote/test_run.py)
        from coordssh.remote.test_run import outcome_of

        return outcome_of(exit_code=exit_code(fact), cancelled=fact.cancelled is not None,
                          timed_out=fact.timed_out), "orphans" if fact.group_alive else ""
    push = Push(fact.pushed_sha or "", fact.push_failed is not None,
                fact.push_log.decode("utf-8", "replace"))
    return classify(state, exit_code=exit_code(fact), stderr_tail=stderr_text(fact), alive=False,
                    cancelled=fact.cancelled is not None, timed_out=fact.timed_out, now=now,
                    auth_failed=fact.auth_failed is not None, push=push,
                    row=row), "orphans" if fact.group_alive else ""


def pane_left(row: Assignment, fact: RunFacts, outcome: Outcome) -> bool:
    """A tmux run that ended without the probe reaping its pane (no finished_at: killed, or
    it never started): housekeeping captures and ends it."""
    return (row.launcher == "tmux" and outcome.status in m.TERMINAL_STATUSES
            and not fact.pane_reaped)


def _not_started(ctx: Context, row: Assignment, fact: RunFacts) -> Outcome:
    from coordssh.agent.outcome import Outcome

    young = (ctx.clock() - (row.created_at or 0)) < START_GRACE_S
    if young and row.status in (m.STARTING, m.UNKNOWN):
        return Outcome(m.STARTING, "launching")
    what = "its run directory is gone" if fact.missing else "it never wrote its pid"
    return Outcome(m.CRASHED, f"the run did not start: {what}")


def _running(state: StreamState, fact: RunFacts) -> Outcome:
    from coordssh.agent.outcome import Outcome

    if fact.cancelled is not None:
        return Outcome(m.RUNNING, "stop requested; the process still runs")
    if state.has_result:
        return Outcome(m.RUNNING, "result written; finishing")
    return Outcome(m.RUNNING, state.last_status)


def exit_code(fact: RunFacts) -> int | None:
    return fact.claude_exit if fact.claude_exit is not None else fact.exit_code


def stderr_text(fact: RunFacts) -> str:
    return fact.stderr_tail.decode("utf-8", "replace")
