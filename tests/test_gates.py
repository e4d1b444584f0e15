"""The merge queue's gates (each holding a PR back by name, with its reason) and its order."""

from __future__ import annotations

from dataclasses import replace

import pytest

from coordssh.domain.gates import (GATES, GatePolicy, Hold, QueueEntry, first_hold, priority_of,
                                   queue_order, repo_ranks, same_sha)
from coordssh.forge.types import CheckSummary, PullRequest, summarise_checks

HEAD = "d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3"
OLD = "a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0"
READY = PullRequest(number=7, state="OPEN", head="issue-7-x", base="main", head_sha=HEAD,
                    mergeable="MERGEABLE", merge_state="CLEAN",
                    checks=CheckSummary("passed", passed=2))
GOOD = [{"kind": "test", "result": "passed", "sha": HEAD},
        {"kind": "review", "result": "approved", "sha": HEAD}]


def hold(pr=READY, verdicts=GOOD, **policy):
    found = first_hold(pr, verdicts, GatePolicy(**policy))
    return None if found is None else str(found)


def test_a_ready_pr_passes_every_gate():
    assert first_hold(READY, GOOD) is None
    assert hold(verdicts=[{**v, "sha": v["sha"][:7]} for v in GOOD]) is None  # short SHAs


@pytest.mark.parametrize("changes, expected", [
    ({"state": "MERGED"}, "open: the PR is merged"),
    ({"state": "CLOSED"}, "open: the PR is closed"),
    ({"draft": True}, "open: the PR is a draft"),
    ({"mergeable": "UNKNOWN"}, "mergeable: UNKNOWN - ask again later"),
    ({"mergeable": "CONFLICTING", "conflicts": ("a.py", "b.py")},
     "mergeable: CONFLICTING (files a.py, b.py)"),
    ({"mergeable": "CONFLICTING"}, "mergeable: CONFLICTING"),
    ({"merge_state": "BLOCKED"}, "mergeable: BLOCKED - the base branch policy prohibits the merge"),
    ({"merge_state": "BEHIND"},
     "mergeable: BEHIND - the head branch is not up to date with the base"),
    ({"checks": CheckSummary("failed", failed=2, failed_names=("lint", "test"))},
     "checks: 2 failed (lint, test)"),
    ({"checks": CheckSummary("pending", pending=1)}, "checks: 1 pending"),
])
def test_each_pr_gate_names_its_reason(changes, expected):
    assert hold(replace(READY, **changes)) == expected


def test_gates_are_checked_in_order():
    worst = replace(READY, state="CLOSED", mergeable="CONFLICTING",
                    checks=CheckSummary("failed", failed=1, failed_names=("t",)))
    assert first_hold(worst, []).gate == "open"
    assert first_hold(replace(worst, state="OPEN"), []).gate == "mergeable"
    assert first_hold(replace(worst, state="OPEN", mergeable="MERGEABLE"), []).gate == "checks"
    assert first_hold(replace(READY), []).gate == "review"
    assert first_hold(READY, GOOD[1:]).gate == "test"
    assert GATES == ("open", "mergeable", "checks", "review", "test")


def test_waiting_holds_are_marked_wait():
    assert first_hold(replace(READY, mergeable="UNKNOWN"), GOOD).wait is True
    assert first_hold(replace(READY, checks=CheckSummary("pending", pending=3)), GOOD).wait
    assert first_hold(replace(READY, mergeable="CONFLICTING"), GOOD).wait is False


def test_no_checks_follows_the_policy():
    bare = replace(READY, checks=CheckSummary())
    assert hold(bare) is None
    assert hold(bare, merge_without_checks=False) == \
        "checks: no checks reported and pipeline.merge_without_checks is false"


@pytest.mark.parametrize("reviews, expected", [
    ([], "review: no review at d4e5f6a"),
    ([{"kind": "review", "result": "approved", "sha": OLD}],
     "review: approved at a1b2c3d, head is d4e5f6a"),
    ([{"kind": "review", "result": "changes_requested", "sha": HEAD}],
     "review: changes requested at d4e5f6a"),
    ([{"kind": "review", "result": "approved", "sha": HEAD},
      {"kind": "review", "result": "request_changes", "sha": HEAD}],
     "review: changes requested at d4e5f6a"),                    # the latest at the head counts
    ([{"kind": "review", "result": "invalid", "sha": HEAD}],
     "review: not approved at d4e5f6a (invalid)"),               # an unparsable verdict
    ([{"kind": "review", "result": "approved", "sha": "d4e5f6"}],
     "review: approved at d4e5f6, head is d4e5f6a"),             # 6 digits: too short to match
])
def test_review_belongs_to_the_head_sha(reviews, expected):
    tests = [{"kind": "test", "result": "passed", "sha": HEAD}]
    assert hold(verdicts=tests + reviews) == expected


def test_review_gate_off_and_github_changes_requested():
    tests = [{"kind": "test", "result": "passed", "sha": HEAD}]
    assert hold(verdicts=tests, reviews=False) is None
    assert hold(replace(READY, review_decision="CHANGES_REQUESTED")) == (
        "review: approved at d4e5f6a, but GitHub's review decision is CHANGES_REQUESTED")
    assert hold(replace(READY, review_decision="CHANGES_REQUESTED"), tests, reviews=False) is None


@pytest.mark.parametrize("tests, expected", [
    ([], "test: no passed test at d4e5f6a"),
    ([{"kind": "test", "result": "passed", "sha": OLD}],
     "test: no passed test at d4e5f6a (passed at a1b2c3d)"),
    ([{"kind": "test", "result": "failed", "sha": HEAD}], "test: failed at d4e5f6a"),
    ([{"kind": "test", "result": "failed", "sha": HEAD},
      {"kind": "test", "result": "passed", "sha": HEAD}], None),
    ([{"kind": "test", "result": "passed", "sha": HEAD},
      {"kind": "test", "result": "failed", "sha": HEAD}], "test: failed at d4e5f6a"),
])
def test_test_belongs_to_the_head_sha(tests, expected):
    reviews = [{"kind": "review", "result": "approved", "sha": HEAD}]
    assert hold(verdicts=reviews + tests) == expected


def test_tests_gate_off():
    assert hold(verdicts=GOOD[1:], tests=False) is None


def test_hold_text_and_sha_matching():
    assert str(Hold("checks", "2 failed")) == "checks: 2 failed"
    assert same_sha(HEAD, HEAD[:7]) and same_sha(HEAD[:9], HEAD)
    assert not same_sha(HEAD, OLD) and not same_sha("", "") and not same_sha(HEAD, HEAD[:6])


def test_summarise_checks_buckets_like_gh_and_keeps_the_newest_rerun():
    run = {"__typename": "CheckRun", "status": "COMPLETED"}
    rollup = [
        {**run, "name": "test", "conclusion": "FAILURE", "startedAt": "2024-05-04T10:00:00Z"},
        {**run, "name": "test", "conclusion": "SUCCESS", "startedAt": "2024-05-04T11:00:00Z"},
        {**run, "name": "docs", "conclusion": "SKIPPED", "startedAt": "2024-05-04T10:00:00Z"},
        {"__typename": "CheckRun", "name": "lint", "status": "IN_PROGRESS", "conclusion": "",
         "startedAt": "2024-05-04T10:00:00Z", "completedAt": "0001-01-01T00:00:00Z"},
        {"__typename": "StatusContext", "context": "ci/legacy", "state": "SUCCESS"}]
    summary = summarise_checks(rollup)
    assert (summary.state, summary.passed, summary.pending, summary.skipped) == \
        ("pending", 2, 1, 1)
    assert summarise_checks(rollup[1:3]).state == "passed"
    failed = summarise_checks([{**run, "name": "x", "conclusion": "CANCELLED"},
                               {"context": "y", "state": "ERROR"}])
    assert (failed.state, failed.failed_names) == ("failed", ("x", "y"))
    assert summarise_checks(None).state == summarise_checks([]).state == "none"
    assert summarise_checks([{"context": "s", "state": "EXPECTED"}]).state == "pending"


# --- order ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("labels, expected", [
    ((), 2), (("bug",), 2), (("P0",), 0), (("p3", "bug"), 3), (("priority:high",), 1),
    (("Priority: Low",), 3), (("priority/critical",), 0), (("urgent",), 0),
    (("low-priority",), 3), (("P2", "P1"), 1), (("priority:whatever",), 2), (("p9",), 2),
])
def test_priority_from_labels(labels, expected):
    assert priority_of(labels) == expected


def test_queue_order_dependencies_then_priority_age_diff():
    deps = {"web": ("api",), "api": ("lib",), "lib": ()}
    entries = [QueueEntry("w1", "web", priority=0, created_at=1),
               QueueEntry("a-big", "api", priority=1, created_at=5, diff_size=900),
               QueueEntry("a-small", "api", priority=1, created_at=5, diff_size=10),
               QueueEntry("a-old", "api", priority=1, created_at=2, diff_size=5000),
               QueueEntry("a-urgent", "api", priority=0, created_at=9),
               QueueEntry("l1", "lib", priority=3, created_at=9)]
    assert [e.key for e in queue_order(entries, deps)] == \
        ["l1", "a-urgent", "a-old", "a-small", "a-big", "w1"]
    assert [e.key for e in queue_order(entries)][:2] == ["w1", "a-urgent"]  # no deps: priority, age


def test_dependency_cycles_do_not_hang_and_unknown_repos_rank_first():
    ranks = repo_ranks({"a": ("b",), "b": ("a",), "c": ("a",)})
    assert set(ranks) == {"a", "b", "c"} and ranks["c"] > min(ranks["a"], ranks["b"])
    order = queue_order([QueueEntry("x", "c"), QueueEntry("y", "elsewhere")], {"c": ("a",)})
    assert [e.key for e in order] == ["y", "x"]
