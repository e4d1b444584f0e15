"""Hooks once per round (event data in COORDSSH_EVENT_* only), `resume` after a crash of the
operator's machine, `done` with its summary, and the commands end to end."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

from coordssh.board.store import Board
from coordssh.domain import stages as s
from coordssh.services.assign import AssignRequest, assign
from coordssh.services.notify import notify_pass
from coordssh.services.session import done, resume
from tests.support.dispatch import contexts, reap, world  # noqa: F401 (fixtures)
from tests.support.dispatch import finished, wait_for
from tests.support.notify_world import run_cli, with_pipeline, write_config


def _request(scenario: str, issue: int = 5) -> AssignRequest:
    return AssignRequest(machine="localbox", repo="demo", issue=issue, title=f"Task {issue}",
                         briefing=f"[[fake-claude:{scenario}]]")


async def test_round_hooks_run_once_per_round_with_data_only_in_env(local_machine, contexts,
                                                                    tmp_path):
    out = tmp_path / "hook.log"
    command = (f"printf '%s|%s|%s\\n' \"$COORDSSH_EVENT_KIND\" \"$COORDSSH_EVENT_COUNT\" "
               f"\"$COORDSSH_EVENT_RUNS\" >> {shlex.quote(str(out))}")
    ctx = with_pipeline(contexts(local_machine),
                        hooks={"on_round_complete": (command, "summary_report")})
    row = (await assign(ctx, _request("success"))).assignment
    wait_for(lambda: finished(row.run_dir))
    await notify_pass(ctx)
    await notify_pass(ctx)                          # the same round: not again
    assert out.read_text().splitlines() == [f"round_complete|1|{row.id}"]
    reports = list((ctx.config.state_dir / "reports").iterdir())
    assert len(reports) == 1 and "runs: 1 (done 1)" in reports[0].read_text()
    second = (await assign(ctx, _request("stuck", issue=6))).assignment
    wait_for(lambda: finished(second.run_dir))
    await notify_pass(ctx)
    assert out.read_text().splitlines()[1] == f"round_complete|1|{second.id}"


async def test_resume_sorts_the_items_and_done_sums_the_costs(local_machine, contexts):
    ctx = with_pipeline(contexts(local_machine))
    live = (await assign(ctx, _request("hang", issue=7))).assignment
    stuck = (await assign(ctx, _request("stuck", issue=8))).assignment
    wait_for(lambda: finished(stuck.run_dir) and Path(live.run_dir, "pid").exists())
    report = await resume(ctx)
    assert [e["work"] for e in report.live] == ["demo#7"]
    [human] = report.needs_human
    assert human["work"] == "demo#8" and human["command"] == \
        f"coordssh continue {stuck.id} --guidance '...'"
    assert report.machines[0]["reachable"]
    summary = await done(ctx)
    assert summary["runs"] == 2 and summary["statuses"]["stuck"] == 1
    assert set(summary["cost_by_machine"]) <= {"localbox"}
    assert summary["cost_usd"] == round(sum(r.cost_usd or 0 for r in ctx.board.list()), 6)
    assert summary["merged"] == [] and summary["cost_per_merged_pr"] is None


def test_the_commands_end_to_end(tmp_path, local_machine, world):
    state = tmp_path / "state"
    config = write_config(tmp_path / "coordinator.yml", local_machine, world, state_dir=state,
                          pipeline={"auto_test": True})
    try:
        made = run_cli(config, "assign", "localbox", "demo", "5", "--title", "Fix it",
                       "--briefing", "[[fake-claude:success]]", "--json")
        row = json.loads(made.stdout)
        wait_for(lambda: finished(row["run_dir"]))
        board_before = (state / "board.json").read_bytes()
        dry = run_cli(config, "notify", "--dry-run")
        assert dry.returncode == 0 and dry.stdout.startswith("notify (dry run: nothing changed)")
        assert "would  demo#5: dispatch test" in dry.stdout
        assert (state / "board.json").read_bytes() == board_before
        passed = run_cli(config, "notify", "--json")
        data = json.loads(passed.stdout)
        assert [d["action"] for d in data["did"]] == ["dispatch"] and data["errors"] == []
        board = Board.open(state)
        wait_for(lambda: all(finished(r.run_dir) for r in board.list()))
        listed = run_cli(config, "resume")
        assert listed.returncode == 0 and "machine localbox: reachable" in listed.stdout
        gc = run_cli(config, "gc", "--json")
        assert gc.returncode == 0 and json.loads(gc.stdout)["disk"]["localbox"]["runs_kb"] > 0
        ended = run_cli(config, "done")
        assert ended.returncode == 0 and "runs: 2" in ended.stdout
        assert board.get_work("demo#5").stage == s.TESTED
        history = run_cli(config, "work", "demo#5", "--history")
        assert "test_verdict" in history.stdout
    finally:
        reap(Board.open(state))
