"""next_action: every stage under every policy, and the reasons an operator reads."""

from __future__ import annotations

import calendar
import itertools

import pytest

from coordssh.domain import stages as s
from coordssh.domain.next_action import ACTION_KINDS, Action, next_action
from coordssh.domain.policy import Policy
from coordssh.domain.work import Rounds, Verdict, WorkItem

HEAD = "a1b2c3d" + "0" * 33
NOW = float(calendar.timegm((2026, 11, 30, 12, 0, 0)))
FLAGS = ("auto_test", "auto_pr", "auto_review", "auto_fix", "auto_merge", "auto_reassign",
         "auto_resume")
ACTING = ("dispatch", "repush", "open_pr", "merge")


def item_in(stage: str, **more) -> WorkItem:
    base = dict(repo="app", issue=7, branch="issue-7-x", stage=stage, head_sha=HEAD,
                runs=("r1",), model_rung=1)
    if stage in s.RUNNING_STAGES:
        base["active_run"] = "r1"
    if stage in (s.TESTED, s.PR_OPEN, s.APPROVED):
        base["verdicts"] = (Verdict("test", "passed", HEAD),)
    if stage in (s.PR_OPEN, s.APPROVED, s.MERGING):
        base["pr_number"] = 12
    if stage == s.APPROVED:
        base["verdicts"] += (Verdict("review", "approve", HEAD),)
    if stage == s.INTERRUPTED:
        base["last_run"] = {"id": "r1", "role": "implement", "status": "crashed"}
    if stage == s.PARKED:
        base.update(parked_until=NOW + 3600, parked_reason="usage limit", parked_from=s.INTERRUPTED,
                    last_run={"id": "r1", "role": "fix", "status": "usage_limited"})
    base.update(more)
    return WorkItem(**base)


POLICIES = [Policy(**dict(zip(FLAGS, bits)), reviews=reviews)
            for bits in ((False,) * len(FLAGS), (True,) * len(FLAGS))
            for reviews in (False, True)]
POLICIES += [Policy(**{flag: True}) for flag in FLAGS]   # one flag at a time
CASES = list(itertools.product(s.STAGES, range(len(POLICIES))))


@pytest.mark.parametrize(("stage", "p"), CASES, ids=[f"{st}-p{p}" for st, p in CASES])
def test_every_stage_under_every_policy(stage: str, p: int) -> None:
    policy = POLICIES[p]
    action = next_action(item_in(stage), policy, NOW)
    assert action.kind in ACTION_KINDS and action.reason.strip()
    if stage in s.FINAL_STAGES:
        assert action.kind == "none" and not action.auto
    if stage in s.RUNNING_STAGES or stage == s.MERGING:
        assert action.kind == "wait"
    if action.auto and action.kind in ACTING:   # the policy's flag, and nothing else, allows it
        flag = {"test": "auto_test", "fix": "auto_fix", "review": "auto_review"}.get(action.role)
        flag = {"open_pr": "auto_pr", "merge": "auto_merge", "repush": "auto_reassign"}.get(
            action.kind, flag)
        if action.mode in ("retry",):
            flag = "auto_reassign"
        if action.mode == "resume":
            flag = "auto_resume"
        assert getattr(policy, flag), (action, flag)
    if action.kind in (*ACTING, "needs_human") and not action.auto and stage != s.PARKED:
        assert action.command.startswith("coordssh "), action
    assert Action(**action.to_dict()) == action


def test_nothing_acts_by_itself_under_the_default_policy_but_resuming_after_a_reset() -> None:
    for stage in s.STAGES:
        action = next_action(item_in(stage), Policy(), NOW + 7200)
        assert not action.auto or (action.kind, action.mode) == ("dispatch", "resume"), action


# --- the reasons an operator reads ----------------------------------------------------------
def test_implemented_waits_for_a_test_of_its_head() -> None:
    action = next_action(item_in(s.IMPLEMENTED), Policy(), NOW)
    assert (action.kind, action.role, action.auto) == ("dispatch", "test", False)
    assert action.reason == "pushed a1b2c3d, not tested at that SHA: test it (auto_test off)"
    assert action.command == "coordssh test r1" and action.model == ""


def test_a_running_test_names_its_run_and_sha() -> None:
    action = next_action(item_in(s.TESTING), Policy(), NOW)
    assert action == Action("wait", "waiting for the test run r1 on a1b2c3d", run="r1")


def test_a_run_on_an_unreachable_machine_says_its_state_is_unknown_and_the_ways_out() -> None:
    from coordssh.domain.models import Assignment

    row = Assignment("r1", "box2", "app", 7, "issue-7-x", status="unknown",
                     unreachable_since=NOW - 600)
    action = next_action(item_in(s.IMPLEMENTING), Policy(auto_reassign=True), NOW, [row])
    assert (action.kind, action.auto, action.run, action.command) == (
        "wait", False, "r1", "coordssh retry r1")
    assert action.reason == ("waiting for the implement run r1: its state is unknown, machine "
                             "box2 cannot be reached since 2026-11-30 11:50 UTC; `coordssh retry "
                             "r1` moves it to another machine, or wait for the machine to answer")
    running = [Assignment("r1", "box2", "app", 7, "issue-7-x", status="running")]
    assert next_action(item_in(s.IMPLEMENTING), Policy(), NOW, running) == Action(
        "wait", "waiting for the implement run r1", run="r1")
    old = [Assignment("r0", "box2", "app", 7, "issue-7-x", status="unknown")]  # not the live one
    assert next_action(item_in(s.TESTING), Policy(), NOW, old).reason == \
        "waiting for the test run r1 on a1b2c3d"


def test_a_failed_test_is_fixed_one_rung_up() -> None:
    action = next_action(item_in(s.TEST_FAILED, rounds=Rounds(fix=1)), Policy(auto_fix=True), NOW)
    assert (action.kind, action.role, action.rung, action.model, action.auto) == (
        "dispatch", "fix", 2, "opus", True)
    assert action.reason == ("test failed at a1b2c3d: fix round 2 of 3, model opus (one rung "
                             "up) (auto_fix on)")


def test_fix_rounds_run_out_and_a_human_is_named() -> None:
    action = next_action(item_in(s.TEST_FAILED, rounds=Rounds(fix=3)), Policy(auto_fix=True), NOW)
    assert action.kind == "needs_human" and not action.auto
    assert action.reason == ("needs a human: test failed at a1b2c3d; 3 fix rounds used "
                             "(pipeline.max_fix_rounds)")


def test_fix_at_the_top_of_the_ladder_stays_there_and_off_the_ladder_keeps_the_model() -> None:
    top = next_action(item_in(s.TEST_FAILED, model_rung=2), Policy(), NOW)
    assert (top.rung, top.model) == (2, "opus") and "top of models.escalation" in top.reason
    off = next_action(item_in(s.TEST_FAILED, model_rung=None), Policy(), NOW)
    assert off.rung is None and "same model as the last run" in off.reason


def test_the_gates_in_order_test_pr_review_merge() -> None:
    policy = Policy(reviews=True)
    assert next_action(item_in(s.TESTED), policy, NOW).kind == "open_pr"
    review = next_action(item_in(s.PR_OPEN), policy, NOW)
    assert (review.kind, review.role) == ("dispatch", "review")
    assert review.reason == ("PR #12 at a1b2c3d has no review: review it (auto_review off)")
    merge = next_action(item_in(s.APPROVED), policy, NOW)
    assert merge.reason == ("test passed and review approved at a1b2c3d: merge PR #12 "
                            "(auto_merge off)")
    assert next_action(item_in(s.PR_OPEN), Policy(reviews=False), NOW).kind == "merge"
    untested = item_in(s.APPROVED, verdicts=(Verdict("review", "approve", HEAD),))
    assert next_action(untested, policy, NOW).role == "test"
    spent = next_action(item_in(s.PR_OPEN, rounds=Rounds(review=2)), policy, NOW)
    assert spent.kind == "needs_human" and "2 review rounds" in spent.reason


def test_interruptions_by_what_ended_the_run() -> None:
    def act(status: str, **more):
        last = {"id": "r1", "role": "fix", "status": status, "reason": "why"}
        return next_action(item_in(s.INTERRUPTED, last_run=last, **more),
                           Policy(auto_reassign=True), NOW)

    push = act("push_failed")
    assert (push.kind, push.auto, push.run) == ("repush", True, "r1")
    retry = act("crashed")
    assert (retry.kind, retry.role, retry.mode, retry.auto) == ("dispatch", "fix", "retry", True)
    assert retry.reason == ("fix run r1 ended crashed (why): go again on another machine "
                            "(auto_reassign on)")
    assert act("crashed", rounds=Rounds(retry=3)).kind == "needs_human"
    stuck = act("stuck")
    assert stuck.kind == "needs_human" and stuck.command == "coordssh continue r1 --guidance '...'"
    assert act("cancelled").kind == "none"
    assert act("advisory").kind == "needs_human" and act("failed").kind == "needs_human"


def test_parked_until_the_reset_then_resumed_by_itself() -> None:
    item = item_in(s.PARKED, parked_reason="usage_limited: usage limit")
    waiting = next_action(item, Policy(), NOW)
    assert waiting == Action("wait", "parked: usage_limited: usage limit until 13:00 UTC",
                             until=NOW + 3600)
    later = next_action(item, Policy(), NOW + 3601)
    assert (later.kind, later.mode, later.role, later.run, later.auto) == (
        "dispatch", "resume", "fix", "r1", True)
    manual = item_in(s.PARKED, parked_until=None, parked_reason="budget")
    assert next_action(manual, Policy(), NOW).kind == "needs_human"
    other = item_in(s.PARKED, parked_from=s.TESTED, last_run={})
    assert next_action(other, Policy(), NOW + 3601).kind == "unpark"


def test_budgets_park_at_the_hard_cap_and_step_down_at_the_soft_one() -> None:
    hard = next_action(item_in(s.TEST_FAILED, spend_usd=12.5),
                       Policy(item_hard_budget_usd=10.0), NOW)
    assert hard == Action("park", "budget: $12.50 spent of $10.00 "
                                  "(pipeline.item_hard_budget_usd)", auto=True)
    soft = next_action(item_in(s.TEST_FAILED, spend_usd=6.0), Policy(item_soft_budget_usd=5.0),
                       NOW)
    assert (soft.rung, soft.model) == (0, "haiku") and "soft budget" in soft.reason


def test_a_conflict_is_fixed_by_merging_the_base() -> None:
    action = next_action(item_in(s.CONFLICT, conflict_files=("a.py", "b.py")), Policy(), NOW)
    assert (action.kind, action.role, action.mode) == ("dispatch", "fix", "conflict")
    assert action.reason.startswith("conflicts with main (a.py, b.py): fix round 1 of 3")


def test_final_stages_say_so() -> None:
    assert next_action(item_in(s.MERGED, pr_number=3), Policy(), NOW).reason == "merged (PR #3)"
    gave_up = next_action(item_in(s.ABANDONED, abandoned_reason="PR #4 closed without merging"),
                          Policy(), NOW)
    assert (gave_up.kind, gave_up.auto) == ("none", False)
    assert gave_up.reason.startswith("abandoned: PR #4 closed without merging; `coordssh assign "
                                     "MACHINE app 7` starts it again on a new branch")
    assert gave_up.command == "coordssh assign MACHINE app 7"
