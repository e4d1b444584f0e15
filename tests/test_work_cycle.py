"""Cycles of a work item (domain/work_cycle.py): `reopened` from merged or abandoned resets
every field of the old branch in one place and keeps the ended cycle in `earlier`; nothing but
`reopened` restarts a final item; retired branches; round trips through the board's dict."""

from __future__ import annotations

from dataclasses import fields

import pytest

from coordssh.domain import stages as s
from coordssh.domain.work import Event, Rounds, Verdict, WorkItem, transition
from coordssh.domain.work_cycle import KEPT, retired_branches, stage_of_run, total_spend
from coordssh.errors import TransitionRefused

HEAD = "a" * 40
NOW = 1_800_000_000.0


def finished(stage: str = s.MERGED) -> WorkItem:
    return WorkItem("app", 7, branch="issue-7-x", base_branch="main", title="X", stage=stage,
                    head_sha=HEAD, pr_number=4, pr_url="u4",
                    verdicts=(Verdict("test", "passed", HEAD), Verdict("review", "approve",
                                                                       HEAD)),
                    rounds=Rounds(2, 1, 3), model_rung=2, spend_usd=3.5, conflict_files=("a",),
                    runs=("r1", "t1", "f1"), last_run={"id": "f1", "status": "done"},
                    created_at=NOW - 100, updated_at=NOW - 10)


def reopen(item: WorkItem, branch: str = "issue-7-x-2") -> WorkItem:
    return transition(item, Event("reopened", {"branch": branch, "base_branch": "dev"}, "r2"),
                      NOW)


@pytest.mark.parametrize("stage", [s.MERGED, s.ABANDONED])
def test_reopened_starts_a_new_cycle_with_nothing_of_the_old_branch(stage) -> None:
    old = finished(stage)
    new = reopen(old)
    fresh = WorkItem("app", 7)
    for f in fields(WorkItem):
        if f.name in KEPT:
            assert getattr(new, f.name) == (getattr(old, f.name) if f.name != "earlier"
                                            else new.earlier)
        elif f.name not in ("branch", "base_branch", "stage", "updated_at"):
            assert getattr(new, f.name) == getattr(fresh, f.name), f.name
    assert (new.stage, new.branch, new.base_branch, new.cycle) == (s.NEW, "issue-7-x-2", "dev", 2)
    assert new.title == "X" and new.created_at == NOW - 100
    [ended] = new.earlier
    assert ended == {"cycle": 1, "branch": "issue-7-x", "base_branch": "main", "stage": stage,
                     "head_sha": HEAD, "pr_number": 4, "pr_url": "u4",
                     "runs": ["r1", "t1", "f1"], "rounds": {"fix": 2, "review": 1, "retry": 3},
                     "spend_usd": 3.5, "ended_at": NOW - 10}
    started = transition(new, Event("run_started", {"role": "implement", "branch": "other"},
                                    "r2"), NOW)
    assert (started.stage, started.branch, started.runs) == (s.IMPLEMENTING, "issue-7-x-2",
                                                             ("r2",))
    ended_run = transition(started, Event("run_ended", {"status": "done", "sha": "b" * 40,
                                                        "cost_usd": 1.0}, "r2"), NOW)
    assert (ended_run.spend_usd, total_spend(ended_run)) == (1.0, 4.5)
    third = reopen(transition(ended_run, Event("pr_merged", {}), NOW), "issue-7-x-3")
    assert third.cycle == 3 and [e["branch"] for e in third.earlier] == ["issue-7-x",
                                                                        "issue-7-x-2"]
    assert WorkItem.from_dict(third.to_dict()) == third


@pytest.mark.parametrize("stage", [s.MERGED, s.ABANDONED])
@pytest.mark.parametrize("mode", ["new", "retry", "continue", "resume", "adopted"])
def test_no_run_restarts_a_final_item_only_reopened_does(stage, mode) -> None:
    with pytest.raises(TransitionRefused) as refused:
        transition(finished(stage), Event("run_started", {"role": "implement", "mode": mode},
                                          "r9"), NOW)
    assert f"app#7 is {stage}: starting an implement run is not possible now" == \
        refused.value.message
    assert "`coordssh assign MACHINE app 7` starts it again on a new branch" in \
        refused.value.hint


@pytest.mark.parametrize("stage", sorted(set(s.STAGES) - s.FINAL_STAGES))
def test_a_live_or_unfinished_item_is_never_reopened(stage) -> None:
    assert not s.reopens(stage)
    with pytest.raises(TransitionRefused):
        reopen(finished(stage))


def test_reopened_needs_the_new_branch() -> None:
    with pytest.raises(TransitionRefused, match="needs the new cycle's branch"):
        transition(finished(), Event("reopened", {}), NOW)


def test_a_run_of_the_old_cycle_ending_late_is_only_recorded() -> None:
    new = transition(reopen(finished()), Event("run_started", {"role": "implement"}, "r2"), NOW)
    late = transition(new, Event("run_ended", {"status": "done", "sha": "c" * 40,
                                               "cost_usd": 0.5}, "f1"), NOW)
    assert (late.stage, late.head_sha, late.active_run) == (s.IMPLEMENTING, "", "r2")


def test_retired_branches_and_the_stage_that_counts_for_a_run() -> None:
    assert retired_branches(None) == ()
    assert retired_branches(finished(s.PR_OPEN)) == ()
    assert retired_branches(finished(s.ABANDONED)) == ("issue-7-x",)
    new = reopen(finished())
    assert retired_branches(new) == ("issue-7-x",)
    same_name = reopen(finished(), "issue-7-x")          # the old one was deleted everywhere
    assert retired_branches(same_name) == ()
    assert retired_branches(transition(same_name, Event("abandoned"), NOW)) == ("issue-7-x",)
    assert stage_of_run(new, "t1") == s.MERGED and stage_of_run(new, "r2") == s.NEW
