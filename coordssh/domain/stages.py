"""The work pipeline as data: stages, event keys, and THE transition table. Pure, no I/O.

A work item (repo#issue) moves through these stages; every move is one row of `TABLE`,
`(stage, event key) -> stage`. An event key is an event kind refined by what the event says
(`run_started.fix`, `run_ended.limited`, `test_verdict.passed`); `work.event_key` computes it.
Two targets are symbolic: `SAME` (the event is recorded, the stage does not change) and
`RESUME` (back to the stage saved when the item was parked).

Roles a run can serve: implement, test, fix, review. `continue` and `retry` are ways of
dispatching a run (its `mode`), not roles: a continued implement run still implements.
"""

from __future__ import annotations

# --- stages ---------------------------------------------------------------------------------
NEW = "new"                          # known, no run yet
IMPLEMENTING = "implementing"        # an implement run is live
IMPLEMENTED = "implemented"          # commits pushed at head_sha; not tested at that SHA
TESTING = "testing"                  # a test run is live
TEST_FAILED = "test_failed"          # test failed at head_sha
TESTED = "tested"                    # test passed at head_sha; no PR yet (or PR found later)
FIXING = "fixing"                    # a fix run is live (test failure, review, conflict)
PR_OPEN = "pr_open"                  # PR open, test passed at head, no review verdict yet
REVIEWING = "reviewing"              # a review run is live
CHANGES_REQUESTED = "changes_requested"
APPROVED = "approved"                # review approved at head_sha
MERGING = "merging"                  # the merge queue is merging it
CONFLICT = "conflict"                # the branch conflicts with its base (files in the item)
MERGED = "merged"
INTERRUPTED = "interrupted"          # the last run ended without doing its job (see last_run)
PARKED = "parked"                    # waits until parked_until (None: until a human unparks)
ABANDONED = "abandoned"              # PR closed unmerged, or the operator gave it up

STAGES = (NEW, IMPLEMENTING, IMPLEMENTED, TESTING, TEST_FAILED, TESTED, FIXING, PR_OPEN,
          REVIEWING, CHANGES_REQUESTED, APPROVED, MERGING, CONFLICT, MERGED, INTERRUPTED,
          PARKED, ABANDONED)
FINAL_STAGES = frozenset({MERGED, ABANDONED})   # nothing more happens unless `reopened`

ROLES = ("implement", "test", "fix", "review")
RUNNING_STAGE = {"implement": IMPLEMENTING, "test": TESTING, "fix": FIXING,
                 "review": REVIEWING}
RUNNING_STAGES = frozenset(RUNNING_STAGE.values())
MODES = ("new", "retry", "continue", "resume", "conflict", "adopted")

# --- events ---------------------------------------------------------------------------------
EVENT_KINDS = (
    "run_started",      # {role, mode, machine, model, rung, branch, base_branch}; run = id
    "run_ended",        # {role, status, reason, sha (pushed), cost_usd, resets_at}; run = id
    "run_pushed",       # {status, sha, reason}: an ended run's branch pushed again (`push`)
    "test_verdict",     # {result: passed|failed, sha, detail}; run = the test run, if any
    "review_verdict",   # {result: approve|request_changes, sha, detail}; run = review run
    "head_moved",       # {sha}: the branch head changed outside a run of ours
    "pr_opened",        # {number, url}
    "pr_closed",        # {number, url} closed without merging (notify's forge watch, merge)
    "pr_reopened",      # {}
    "pr_merged",        # {sha}
    "merge_started",    # {}
    "merge_conflict",   # {files: [...]}
    "merge_failed",     # {reason} (not a conflict: a gate or gh said no)
    "operator_stop",    # {} run = the run asked to stop (its end comes as run_ended)
    "parked",           # {until, reason}
    "unparked",         # {reason}
    "abandoned",        # {reason, by}: `coordssh abandon`, or an issue closed by hand
    "reopened",         # {branch, base_branch, was_branch, was_stage, was_pr}; run = the new
                        # cycle's first run: an explicit assign of a merged/abandoned issue
)
# written to the history only, never applied: the item was built by a board migration
MIGRATED = "migrated"

# run_ended statuses -> event key suffix. Anything not listed (a new status) is `interrupted`.
RUN_END_CLASS = {
    "done": "done",                 # commits pushed
    "advisory": "nothing",          # succeeded, nothing pushed
    "usage_limited": "limited",     # must wait for the reset, never move
    "budget": "limited",
}
RUN_END_KEYS = ("done", "nothing", "interrupted", "limited", "stale")
# run_pushed keys: done (the push went through: the run is done after all), other, stale (not
# the item's last run)
# what `interrupted` covers, by what should happen next (domain/next_action.py)
INFRA_STATUSES = frozenset({"crashed", "api_error", "auth_failed"})   # go again elsewhere
PUSH_STATUSES = frozenset({"push_failed"})                            # push again
GUIDANCE_STATUSES = frozenset({"stuck", "max_turns"})                 # continue with guidance

SAME = "<same>"
RESUME = "<resume>"

_IDLE_WITH_HEAD = (IMPLEMENTED, TEST_FAILED, TESTED, PR_OPEN, CHANGES_REQUESTED, APPROVED,
                   CONFLICT)
_NOT_FINAL = tuple(s for s in STAGES if s not in FINAL_STAGES)


def _rows() -> dict[tuple[str, str], str]:
    t: dict[tuple[str, str], str] = {}
    # starting runs: where each role may start, and where it goes
    starts = {
        "implement": (NEW, IMPLEMENTING, INTERRUPTED, PARKED, *_IDLE_WITH_HEAD),
        "test": (INTERRUPTED, PARKED, *_IDLE_WITH_HEAD),
        "fix": (INTERRUPTED, PARKED, *_IDLE_WITH_HEAD),
        "review": (INTERRUPTED, PARKED, TESTED, PR_OPEN, APPROVED, CHANGES_REQUESTED),
    }
    for role, stages in starts.items():
        for stage in stages:
            t[stage, f"run_started.{role}"] = RUNNING_STAGE[role]
    # ending runs (test and review runs end with their verdict instead of `done`)
    for stage in (IMPLEMENTING, FIXING):
        t[stage, "run_ended.done"] = IMPLEMENTED
        t[stage, "run_ended.nothing"] = INTERRUPTED
    for stage in RUNNING_STAGES:
        t[stage, "run_ended.interrupted"] = INTERRUPTED
        t[stage, "run_ended.limited"] = PARKED
        t[stage, "operator_stop"] = SAME
    for stage in STAGES:  # the end of a run that is not the item's active run: recorded only
        t[stage, "run_ended.stale"] = SAME
        t[stage, "run_pushed.stale"] = SAME
    # `coordssh push` of the last run, after its push failed
    t[INTERRUPTED, "run_pushed.done"] = IMPLEMENTED
    t[INTERRUPTED, "run_pushed.other"] = SAME
    # verdicts
    t[TESTING, "test_verdict.passed"] = TESTED
    t[TESTING, "test_verdict.failed"] = TEST_FAILED
    t[TESTING, "test_verdict.stale"] = IMPLEMENTED      # tested an old SHA: test the head
    for stage in (IMPLEMENTED, TEST_FAILED, TESTED, INTERRUPTED):   # by hand (`test --passed`)
        t[stage, "test_verdict.passed"] = TESTED
        t[stage, "test_verdict.failed"] = TEST_FAILED
    for stage in (PR_OPEN, APPROVED, CHANGES_REQUESTED, CONFLICT):
        t[stage, "test_verdict.passed"] = SAME
        t[stage, "test_verdict.failed"] = TEST_FAILED
    t[REVIEWING, "review_verdict.approve"] = APPROVED
    t[REVIEWING, "review_verdict.request_changes"] = CHANGES_REQUESTED
    t[REVIEWING, "review_verdict.stale"] = IMPLEMENTED
    for stage in (TESTED, PR_OPEN, APPROVED, CHANGES_REQUESTED):   # a human's review on GitHub
        t[stage, "review_verdict.approve"] = APPROVED
        t[stage, "review_verdict.request_changes"] = CHANGES_REQUESTED
    for stage in _NOT_FINAL:
        t.setdefault((stage, "test_verdict.stale"), SAME)
        t.setdefault((stage, "review_verdict.stale"), SAME)
    # the head moved outside our runs: every verdict is void, test again
    for stage in _IDLE_WITH_HEAD:
        t[stage, "head_moved"] = IMPLEMENTED
    for stage in (NEW, INTERRUPTED, PARKED, MERGING, *RUNNING_STAGES):
        t[stage, "head_moved"] = SAME
    # the pull request
    for stage in _NOT_FINAL:
        t[stage, "pr_opened"] = SAME
        t[stage, "pr_closed"] = ABANDONED
        t[stage, "pr_merged"] = MERGED
        t[stage, "abandoned"] = ABANDONED
    t[TESTED, "pr_opened"] = PR_OPEN
    t[ABANDONED, "pr_merged"] = MERGED
    t[ABANDONED, "pr_reopened"] = PR_OPEN
    for stage in (TESTED, PR_OPEN, APPROVED):
        t[stage, "merge_started"] = MERGING
        t[stage, "merge_conflict"] = CONFLICT
    t[MERGING, "merge_conflict"] = CONFLICT
    t[MERGING, "merge_failed"] = PR_OPEN
    # parking (only an idle item: a live run ends first)
    for stage in _NOT_FINAL:
        if stage not in RUNNING_STAGES and stage != MERGING:
            t[stage, "parked"] = PARKED
    t[PARKED, "unparked"] = RESUME
    # a new cycle: only an explicit assign (or approve) of an issue carried to its end starts
    # one (domain/work_cycle.py resets every field of the old branch); no run reopens it
    t[MERGED, "reopened"] = NEW
    t[ABANDONED, "reopened"] = NEW
    return t


TABLE: dict[tuple[str, str], str] = _rows()
EVENT_KEYS = tuple(sorted({key for _, key in TABLE}))


def reopens(stage: str) -> bool:
    """An item in `stage` starts a new cycle when its issue is assigned again."""
    return (stage, "reopened") in TABLE


def allowed_keys(stage: str) -> list[str]:
    return sorted(key for s, key in TABLE if s == stage)
