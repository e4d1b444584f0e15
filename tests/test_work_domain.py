"""The work item state machine: every row of the table, every refusal, and the facts it keeps."""

from __future__ import annotations

import pytest

from coordssh.domain import stages as s
from coordssh.domain.work import Event, Rounds, Verdict, WorkItem, event_key, transition
from coordssh.errors import Refused, TransitionRefused

HEAD = "a" * 40
NEW_SHA = "b" * 40
NOW = 1_800_000_000.0


def item_in(stage: str, **more) -> WorkItem:
    base = dict(repo="app", issue=7, branch="issue-7-x", stage=stage, head_sha=HEAD,
                runs=("r1",), active_run="r1", last_run={"id": "r1"}, parked_from=s.IMPLEMENTED if stage == s.PARKED
                else "")
    base.update(more)
    return WorkItem(**base)


def event_for(key: str) -> Event:
    """An event whose key, for an `item_in(...)` item, is `key`."""
    kind, _, detail = key.partition(".")
    if kind == "run_started":
        return Event(kind, {"role": detail, "branch": "issue-7-other"}, run="r2")
    if kind == "run_ended":
        status = {"done": "done", "nothing": "advisory", "interrupted": "crashed",
                  "limited": "usage_limited", "stale": "done"}[detail]
        return Event(kind, {"role": "implement", "status": status, "sha": NEW_SHA,
                            "resets_at": NOW + 60, "cost_usd": 0.5},
                     run="old" if detail == "stale" else "r1")
    if kind == "run_pushed":
        status = {"done": "done", "other": "push_failed", "stale": "done"}[detail]
        return Event(kind, {"status": status, "sha": NEW_SHA},
                     run="old" if detail == "stale" else "r1")
    if kind in ("test_verdict", "review_verdict"):
        result = {"stale": "passed" if kind == "test_verdict" else "approve"}.get(detail, detail)
        return Event(kind, {"result": result, "sha": "f" * 40 if detail == "stale" else HEAD})
    data = {"head_moved": {"sha": NEW_SHA}, "pr_opened": {"number": 12, "url": "u"},
            "merge_conflict": {"files": ["a.py"]}, "parked": {"until": NOW + 60, "reason": "x"},
            "reopened": {"branch": "issue-7-x-2"}}
    return Event(kind, data.get(kind, {}))


ROWS = sorted(s.TABLE.items())


@pytest.mark.parametrize(("row", "target"), ROWS, ids=[f"{st}+{k}" for (st, k), _ in ROWS])
def test_every_row_of_the_table(row, target) -> None:
    stage, key = row
    item = item_in(stage)
    event = event_for(key)
    assert event_key(item, event) == key
    moved = transition(item, event, NOW)
    expected = {s.SAME: stage, s.RESUME: item.parked_from}.get(target, target)
    assert moved.stage == expected
    assert moved.updated_at == NOW
    assert all(v.sha == moved.head_sha for v in moved.verdicts)


MISSING = [(stage, key) for stage in s.STAGES for key in s.EVENT_KEYS
           if (stage, key) not in s.TABLE]


@pytest.mark.parametrize(("stage", "key"), MISSING, ids=[f"{a}+{b}" for a, b in MISSING])
def test_every_other_pair_is_refused_with_the_stage_named(stage, key) -> None:
    item = item_in(stage)
    with pytest.raises(TransitionRefused) as info:
        transition(item, event_for(key), NOW)
    assert info.value.stage == stage and info.value.key == key
    assert f"app#7 is {stage}" in info.value.message
    assert "coordssh work app#7" in info.value.hint
    assert isinstance(info.value, Refused)   # exit 1, like every refusal


def test_the_table_speaks_only_of_known_stages_and_kinds() -> None:
    for (stage, key), target in s.TABLE.items():
        assert stage in s.STAGES
        assert key.partition(".")[0] in s.EVENT_KINDS
        assert target in (*s.STAGES, s.SAME, s.RESUME)
    assert {k.partition(".")[0] for k in s.EVENT_KEYS} == set(s.EVENT_KINDS)
    for stage in set(s.STAGES) - s.FINAL_STAGES:   # nothing is a dead end
        assert any(t not in (s.SAME, stage) for (st, _), t in s.TABLE.items() if st == stage)


# --- hand-written paths -------------------------------------------------------------------
def test_implement_test_fail_fix_pass_on_one_branch() -> None:
    item = WorkItem("app", 7)
    item = transition(item, Event("run_started", {"role": "implement", "branch": "issue-7-x",
                                                  "base_branch": "dev", "rung": 1}, "r1"), NOW)
    assert (item.stage, item.branch, item.base_branch, item.model_rung) == (
        s.IMPLEMENTING, "issue-7-x", "dev", 1)
    item = transition(item, Event("run_ended", {"role": "implement", "status": "done",
                                                "sha": HEAD, "cost_usd": 1.25}, "r1"), NOW)
    assert (item.stage, item.head_sha, item.active_run, item.spend_usd) == (
        s.IMPLEMENTED, HEAD, "", 1.25)
    item = transition(item, Event("run_started", {"role": "test"}, "t1"), NOW)
    item = transition(item, Event("test_verdict", {"result": "failed", "sha": HEAD,
                                                   "detail": "1 failed"}, "t1"), NOW + 1)
    assert item.stage == s.TEST_FAILED
    assert item.verdict("test") == Verdict("test", "failed", HEAD, NOW + 1, "t1", "1 failed")
    item = transition(item, Event("run_started", {"role": "fix", "branch": "issue-7-other",
                                                  "rung": 2}, "f1"), NOW)
    assert (item.stage, item.rounds, item.branch, item.model_rung) == (
        s.FIXING, Rounds(fix=1), "issue-7-x", 2)
    item = transition(item, Event("run_ended", {"status": "done", "sha": NEW_SHA}, "f1"), NOW)
    assert item.stage == s.IMPLEMENTED and item.head_sha == NEW_SHA
    assert item.verdicts == ()          # the failure was for the old SHA: void
    item = transition(item, Event("run_started", {"role": "test"}, "t2"), NOW)
    item = transition(item, Event("test_verdict", {"result": "passed"}, "t2"), NOW)
    assert item.stage == s.TESTED and item.verdict("test").sha == NEW_SHA
    assert item.runs == ("r1", "t1", "f1", "t2")


def test_a_new_head_voids_verdicts_of_other_shas() -> None:
    item = item_in(s.APPROVED, verdicts=(Verdict("test", "passed", HEAD),
                                         Verdict("review", "approve", HEAD)))
    moved = transition(item, Event("head_moved", {"sha": NEW_SHA}), NOW)
    assert moved.stage == s.IMPLEMENTED and moved.verdicts == ()
    assert moved.verdict("test") is None


def test_a_verdict_for_an_old_sha_is_not_recorded_and_the_head_is_tested_again() -> None:
    item = item_in(s.TESTING, active_run="t1")
    moved = transition(item, Event("test_verdict", {"result": "passed", "sha": "c" * 40},
                                   "t1"), NOW)
    assert moved.stage == s.IMPLEMENTED and moved.verdicts == () and moved.active_run == ""


def test_the_end_of_a_run_that_is_not_the_active_one_changes_no_stage() -> None:
    item = item_in(s.IMPLEMENTING, active_run="r2", runs=("r1", "r2"))
    moved = transition(item, Event("run_ended", {"status": "crashed", "cost_usd": 2}, "r1"), NOW)
    assert moved.stage == s.IMPLEMENTING and moved.active_run == "r2" and moved.spend_usd == 2


def test_usage_limit_parks_until_the_reset_and_resumes_as_interrupted() -> None:
    item = item_in(s.FIXING)
    moved = transition(item, Event("run_ended", {"role": "fix", "status": "usage_limited",
                                                 "reason": "resets 14:00",
                                                 "resets_at": NOW + 600}, "r1"), NOW)
    assert (moved.stage, moved.parked_until, moved.parked_from) == (s.PARKED, NOW + 600,
                                                                    s.INTERRUPTED)
    assert moved.parked_reason == "usage_limited: resets 14:00"
    assert moved.last_run["status"] == "usage_limited" and moved.last_run["role"] == "fix"
    back = transition(moved, Event("unparked"), NOW + 601)
    assert back.stage == s.INTERRUPTED and back.parked_until is None and back.parked_from == ""
    resumed = transition(moved, Event("run_started", {"role": "fix", "mode": "resume"}, "r3"),
                         NOW)
    assert resumed.stage == s.FIXING and resumed.rounds == Rounds(retry=1)


def test_parking_an_idle_item_remembers_its_stage() -> None:
    item = item_in(s.TESTED)
    parked = transition(item, Event("parked", {"until": None, "reason": "budget"}), NOW)
    assert (parked.stage, parked.parked_from, parked.parked_until) == (s.PARKED, s.TESTED, None)
    again = transition(parked, Event("parked", {"until": NOW, "reason": "later"}), NOW)
    assert again.parked_from == s.TESTED
    assert transition(again, Event("unparked"), NOW).stage == s.TESTED


def test_unknown_and_malformed_events_are_refused_clearly() -> None:
    item = item_in(s.IMPLEMENTED)
    with pytest.raises(TransitionRefused, match="unknown work event 'bogus'"):
        transition(item, Event("bogus"), NOW)
    with pytest.raises(TransitionRefused, match="must serve one of implement, test"):
        transition(item, Event("run_started", {"role": "poet"}, "x"), NOW)
    with pytest.raises(TransitionRefused, match="has not ended"):
        transition(item_in(s.IMPLEMENTING), Event("run_ended", {"status": "running"}, "r1"), NOW)
    with pytest.raises(TransitionRefused, match="must be one of passed, failed"):
        transition(item, Event("test_verdict", {"result": "ok"}), NOW)


def test_a_second_test_while_one_runs_is_refused() -> None:
    with pytest.raises(TransitionRefused) as info:
        transition(item_in(s.TESTING), Event("run_started", {"role": "test"}, "t2"), NOW)
    assert info.value.message == "app#7 is testing: starting a test run is not possible now"


def test_round_trip_through_a_dict() -> None:
    item = item_in(s.PR_OPEN, verdicts=(Verdict("test", "passed", HEAD, 1.0, "t", "ok"),),
                   rounds=Rounds(1, 2, 3), pr_number=4, last_run={"id": "r1"},
                   conflict_files=("a",))
    data = item.to_dict()
    assert data["key"] == "app#7"
    assert WorkItem.from_dict(data) == item


def test_a_run_that_ends_after_a_merge_by_hand_is_only_recorded() -> None:
    item = transition(item_in(s.FIXING), Event("pr_merged", {"sha": HEAD}), NOW)
    assert (item.stage, item.active_run) == (s.MERGED, "")
    after = transition(item, Event("run_ended", {"status": "done", "sha": NEW_SHA}, "r1"), NOW)
    assert after.stage == s.MERGED and after.head_sha == HEAD
