"""Pieces of the driver on their own: the gh notifier against the fake gh (marker first), the
comment texts (stuck names the exact command, the soft cap is said), the per-run budget given
to claude, the lock file."""

from __future__ import annotations

from pathlib import Path

from coordssh.domain.work import WorkItem
from coordssh.forge import forge_for
from coordssh.services.notifier import ALREADY, FAILED, POSTED, GhNotifier, marker
from coordssh.services.notify_comments import comment_for
from coordssh.services.notify_lock import PassLock
from tests.support.fake_gh import FakeGitHub


async def test_gh_notifier_looks_for_the_marker_before_posting(tmp_path):
    fake = FakeGitHub(tmp_path)
    fake.add_issue(7, "x")
    notifier = GhNotifier("o/r", gh=fake.gh, env=fake.env)
    item = WorkItem("demo", 7)
    mark = marker("run_ended", "demo#7", "r1", "abc")
    first = await notifier.post(item, "run_ended", "done", "k", mark)
    assert first.state == POSTED and first.detail.startswith("https://github.com/o/r/issues/7#")
    again = await notifier.post(item, "run_ended", "done", "k", mark)
    assert again.state == ALREADY and len(fake.issue(7)["comments"]) == 1
    assert fake.issue(7)["comments"][0]["body"] == f"done\n\n{mark}\n"
    fake.update(auth="bad")
    failed = await notifier.post(item, "run_ended", "other", "k2", marker("x", "demo#7"))
    assert failed.state == FAILED and "401" in failed.detail


def _event(kind: str, data: dict, run: str = "r1", seq: int = 1) -> dict:
    return {"seq": seq, "work": "demo#5", "at": 100.0, "kind": kind, "run": run, "data": data}


def test_comment_texts_name_what_to_do():
    stuck = comment_for(_event("run_ended", {"status": "stuck", "reason": "STUCK: no key"},
                               "a1b2c3d4"), None, None)
    assert "`coordssh continue a1b2c3d4 --guidance '...'`" in stuck.body
    assert stuck.dedupe_key == "run_ended:demo#5:a1b2c3d4:-"
    assert stuck.marker == "<!-- coordssh:run_ended work=demo#5 run=a1b2c3d4 sha=- -->"
    limited = comment_for(_event("run_ended", {"status": "usage_limited", "reason": "limit",
                                               "resets_at": 1784037600}), None, None)
    assert "parked until 14:00 UTC" in limited.body
    spent = WorkItem("demo", 5, spend_usd=12.0)
    fix = comment_for(_event("run_started", {"role": "fix", "machine": "m", "model": "haiku"}),
                      10.0, spent)
    assert "Soft budget reached ($12.00 of $10.00" in fix.body and "one rung down" in fix.body
    assert comment_for(_event("run_ended", {"status": "done", "refused": "no"}), None,
                       None) is None
    assert comment_for(_event("operator_stop", {}), None, None) is None


def test_a_cycle_end_says_what_happened_and_how_to_start_again_once_per_cycle():
    cycle2 = WorkItem("demo", 5, branch="issue-5-x-2",
                      earlier=({"cycle": 1, "branch": "issue-5-x"},))
    closed = comment_for(_event("pr_closed", {"number": 4, "url": "u"}, ""), None, cycle2, 1)
    assert closed.body == ("**coordssh**: PR #4 was closed without merging: work stopped.\n"
                           "Branch `issue-5-x` is kept. `coordssh assign MACHINE demo 5` starts "
                           "a new cycle on a new branch.")
    assert closed.dedupe_key == "cycle_end:demo#5:-:-:c1"
    assert closed.marker == "<!-- coordssh:cycle_end:c1 work=demo#5 run=- sha=- -->"
    same = comment_for(_event("abandoned", {"reason": "x", "by": "operator"}, "", 9), None,
                       cycle2, 1)
    assert same.dedupe_key == closed.dedupe_key and same.marker == closed.marker  # one for both
    now = comment_for(_event("abandoned", {"reason": "wrong approach", "by": "operator"}, ""),
                      None, cycle2, 2)
    assert now.body.startswith("**coordssh**: abandoned by the operator: wrong approach.\n"
                               "Branch `issue-5-x-2` is kept.")
    assert now.dedupe_key == "cycle_end:demo#5:-:-:c2"
    from coordssh.services.abandon import DEFAULT_REASON
    plain = comment_for(_event("abandoned", {"reason": DEFAULT_REASON, "by": "operator"}, ""),
                        None, None)
    assert plain.body.splitlines()[0] == "**coordssh**: abandoned by the operator."
    issue = comment_for(_event("abandoned", {"reason": "issue #5 closed on GitHub",
                                             "by": "notify"}, ""), None, None)
    assert issue.body == ("**coordssh**: abandoned: issue #5 closed on GitHub.\n"
                          "`coordssh assign MACHINE demo 5` starts a new cycle on a new branch.")


async def test_the_run_budget_from_config_reaches_claude(local_machine, tmp_path):
    from coordssh.services.assign import AssignRequest, assign
    from tests.support.dispatch import GitWorld, dispatch_context
    from tests.support.notify_world import with_pipeline

    world = GitWorld.create(tmp_path / "git")
    ctx = with_pipeline(dispatch_context(tmp_path / "state", local_machine, world),
                        budgets={"run_usd": 2.5})
    plan = await assign(ctx, AssignRequest(machine="localbox", repo="demo", issue=5,
                                           title="t", dry_run=True))
    assert "--max-budget-usd 2.5" in plan.command


def test_the_lock_names_its_holder_and_frees_on_release(tmp_path):
    first, second = PassLock(tmp_path), PassLock(tmp_path)
    assert first.acquire(10.0) is None
    holder = second.acquire(11.0)
    assert holder is not None and holder.since == 10.0 and holder.pid
    first.release()
    assert second.acquire(12.0) is None
    second.release()
    assert Path(tmp_path / "notify.lock").stat().st_mode & 0o777 == 0o600


async def test_a_comment_gh_always_refuses_is_given_up_after_the_attempts(tmp_path):
    from coordssh.board.store import Board
    from coordssh.domain.work import Event
    from coordssh.services import notify_comments as nc
    from coordssh.services.context import Context
    from coordssh.services.pipeline import apply
    from tests.support.notify_world import minimal_config

    fake = FakeGitHub(tmp_path)                     # issue 5 does not exist on GitHub
    board = Board.open(tmp_path / "state")
    with board.transaction() as tx:
        apply(tx, "demo#5", Event("run_started", {"role": "implement", "machine": "m"}, "r1"),
              1.0)
    ctx = Context(config=minimal_config(tmp_path, github="o/r"), board=board, connector=None,
                  forge_factory=lambda repo: forge_for(repo, gh=fake.gh, env=fake.env))
    assert await nc.post_pending(ctx, nc.CommentBudget(10)) == []   # no cursor: nothing, ever
    assert fake.calls() == [] and board.kv_get(nc.CURSOR) is None
    board.kv_set(nc.CURSOR, 0)                      # as if notify had run before the event
    states = []
    for _ in range(nc.MAX_ATTEMPTS):
        [result] = await nc.post_pending(ctx, nc.CommentBudget(10))
        states.append(result["state"])
    assert states == ["failed"] * (nc.MAX_ATTEMPTS - 1) + ["gave_up"]
    assert await nc.post_pending(ctx, nc.CommentBudget(10)) == []   # the cursor moved on


def test_status_says_parked_until_beside_the_machine():
    from rich.console import Console

    from coordssh.cli.render.status import machines_table
    from coordssh.services.observe import MachineObservation

    console = Console(width=120, record=True)
    console.print(machines_table((MachineObservation("box", True, 2),),
                                 {"box": {"note": "parked until 14:00 UTC"}}))
    assert "reachable; parked until 14:00 UTC" in console.export_text()
