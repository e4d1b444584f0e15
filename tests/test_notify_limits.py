"""Usage limits park the account (machines sharing it park together) until the reset, then the
run continues by itself exactly once; budgets: a hard cap reached mid-item parks it with the
reason, the day cap holds back model runs; a machine unreachable for a while, then back."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from coordssh.domain import models as m
from coordssh.domain import stages as s
from coordssh.services import parking
from coordssh.services.assign import AssignRequest, assign
from coordssh.services.machine_notes import machine_notes
from coordssh.services.notifier import LocalNotifier
from coordssh.services.notify import notify_pass
from coordssh.services.notify_actions import default_registry
from tests.support.dispatch import contexts, world  # noqa: F401 (fixtures)
from tests.support.dispatch import finished, wait_for
from tests.support.notify_world import with_pipeline

RESET = 1784037600.0          # the stand-in's rate_limited fixture: resetsAt, 14:00 UTC


def _request(machine: str, scenario: str, **more) -> AssignRequest:
    return AssignRequest(machine=machine, repo="demo", issue=5, title="Fix the widget",
                         briefing=f"[[fake-claude:{scenario}]]", **more)


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _comments(ctx) -> list[str]:
    return [c["body"] for c in LocalNotifier(ctx.config.state_dir / "comments.json")
            .read().get("demo#5", [])]


async def test_a_usage_limit_parks_the_account_then_the_run_resumes_once(local_machine,
                                                                        contexts, tmp_path):
    ctx = with_pipeline(contexts(local_machine), account="team")
    twin = replace(ctx.config.machines["localbox"], name="twinbox",
                   worktree_root=str(tmp_path / "wt2"), run_root=str(tmp_path / "runs2"))
    ctx.config = replace(ctx.config, machines={**ctx.config.machines, "twinbox": twin})
    ctx.clock = Clock(RESET - 3600)
    first = (await assign(ctx, _request("localbox", "rate_limited"))).assignment
    wait_for(lambda: finished(first.run_dir))
    resumed = []

    async def resume(ctx, item, action):      # the h/followup performer's registration point
        resumed.append((action.mode, action.run, item.last_run.get("machine")))
        run = await assign(ctx, _request(item.last_run["machine"], "success", force=True))
        return f"continued as {run.assignment.id}"

    registry = default_registry()
    registry.register("dispatch", resume, mode="resume")

    report = await notify_pass(ctx, registry=registry)
    assert ctx.board.get(first.id).status == m.USAGE_LIMITED
    item = ctx.board.get_work("demo#5")
    assert (item.stage, item.parked_until) == (s.PARKED, RESET)
    [parked] = [e["parking"] for e in report.events if "parking" in e]
    assert (parked["account"], parked["machines"], parked["until"]) == (
        "team", ["localbox", "twinbox"], RESET)
    notes = machine_notes(ctx)
    assert notes["localbox"]["note"] == notes["twinbox"]["note"] == "parked until 14:00 UTC"
    assert any("account is parked until 14:00 UTC" in b for b in _comments(ctx))

    ctx.clock.now = RESET - 60                  # before the reset: nothing moves anywhere
    waiting = await notify_pass(ctx, registry=registry)
    assert waiting.did == [] and resumed == []
    assert [(w["action"], w["skipped"]) for w in waiting.skipped] == [
        ("wait", f"parked: {item.parked_reason} until 14:00 UTC")]

    ctx.clock.now = RESET + 5                   # after it: the run continues, once
    after = await notify_pass(ctx, registry=registry)
    assert resumed == [("resume", first.id, "localbox")]
    assert [d["done"].startswith("continued as ") for d in after.did] == [True]
    assert parking.records(ctx) == {} and machine_notes(ctx)["twinbox"]["note"] == ""
    assert ctx.board.get_work("demo#5").stage == s.IMPLEMENTING
    again = await notify_pass(ctx, registry=registry)
    assert len(resumed) == 1 and again.did == []


async def test_while_the_account_is_parked_a_resume_waits(local_machine, contexts):
    ctx = with_pipeline(contexts(local_machine))
    ctx.clock = Clock(RESET - 3600)
    first = (await assign(ctx, _request("localbox", "rate_limited"))).assignment
    wait_for(lambda: finished(first.run_dir))
    await notify_pass(ctx)
    with ctx.board.transaction() as tx:       # the item's own wait is over, the account's not
        item = tx.get_work("demo#5")
        tx.put_work(replace(item, parked_until=RESET - 1800))
    ctx.clock.now = RESET - 900
    registry = default_registry()
    called = []
    registry.register("dispatch", lambda *args: called.append(args), mode="resume")
    report = await notify_pass(ctx, registry=registry)
    assert [r["skipped"] for r in report.skipped] == [
        "account of localbox parked until 14:00 UTC"]
    assert called == []


async def test_a_hard_budget_cap_reached_mid_item_parks_it_with_the_reason(local_machine,
                                                                           contexts):
    ctx = with_pipeline(contexts(local_machine), auto_test=True,
                        budgets={"item_soft_usd": 0.05, "item_hard_usd": 0.1})
    first = (await assign(ctx, _request("localbox", "success"))).assignment
    wait_for(lambda: finished(first.run_dir))
    report = await notify_pass(ctx)
    cost = ctx.board.get(first.id).cost_usd
    assert cost and cost >= 0.1                       # what the run's result reported
    item = ctx.board.get_work("demo#5")
    assert item.stage == s.PARKED and item.parked_until is None
    assert item.parked_reason == (f"budget: ${cost:.2f} spent of $0.10 "
                                  "(pipeline.item_hard_budget_usd)")
    assert [(d["action"], d["done"]) for d in report.did] == [("park", f"parked: "
                                                               f"{item.parked_reason}")]
    assert ctx.board.list()[-1].id == first.id        # no test run: the cap comes first
    assert _comments(ctx)[-1].startswith(f"**coordssh**: parked: {item.parked_reason}")
    again = await notify_pass(ctx)
    assert again.did == [] and again.skipped[0]["action"] == "needs_human"


async def test_the_day_cap_holds_back_model_runs_not_tests(local_machine, contexts):
    from coordssh.services.budgets import day_cap_reached

    ctx = with_pipeline(contexts(local_machine), auto_test=True, budgets={"day_usd": 0.01})
    first = (await assign(ctx, _request("localbox", "success"))).assignment
    wait_for(lambda: finished(first.run_dir))
    report = await notify_pass(ctx)
    assert day_cap_reached(ctx).startswith("daily budget reached: $")
    assert [(d["action"], d["role"]) for d in report.did] == [("dispatch", "test")]


async def test_a_machine_unreachable_for_a_while_is_reported_once_then_back(local_machine,
                                                                           contexts, tmp_path):
    ctx = with_pipeline(contexts(local_machine), stale_after=60.0)
    ctx.clock = Clock(1_000_000.0)
    run = (await assign(ctx, _request("localbox", "hang"))).assignment
    wait_for(lambda: Path(run.run_dir, "pid").exists())
    here = ctx.config.machines["localbox"]
    gone = replace(here, connection="ssh", host="127.0.0.1", port=1, connect_timeout=2.0,
                   known_hosts=str(tmp_path / "kh"))
    ctx.config = replace(ctx.config, machines={"localbox": gone})
    first = await notify_pass(ctx)
    assert ctx.board.get(run.id).status == m.UNKNOWN and first.did == []
    assert [e for e in first.events if "stale" in e] == []
    ctx.clock.now += 61
    second = await notify_pass(ctx)
    [stale] = [e["stale"] for e in second.events if "stale" in e]
    assert stale["machine"] == "localbox" and stale["reason"].startswith("unreachable since ")
    assert machine_notes(ctx)["localbox"]["note"].startswith("stale: unreachable since ")
    assert any("has been unreachable since" in b for b in _comments(ctx))
    ctx.clock.now += 600
    third = await notify_pass(ctx)               # reported once, the run left alone
    assert [e for e in third.events if "stale" in e] == [] and third.did == []
    assert ctx.board.get(run.id).status == m.UNKNOWN and not finished(run.run_dir)
    ctx.config = replace(ctx.config, machines={"localbox": here})
    back = await notify_pass(ctx)
    assert [e["stale"].get("back") for e in back.events if "stale" in e] == [True]
    assert ctx.board.get(run.id).status == m.RUNNING
    assert machine_notes(ctx)["localbox"]["stale_since"] is None
