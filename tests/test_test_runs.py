"""`coordssh test ID`: the repo's commands as a plain run at the work item's head SHA, on local
and SSH machines; the verdict recorded for that SHA with the output's tail; nothing pushed."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from coordssh.config.schema import SmokeTests
from coordssh.domain import models as m
from coordssh.domain import stages as s
from coordssh.errors import Refused, RunFailed, TransitionRefused
from coordssh.services.assign import AssignRequest, assign
from coordssh.services.observe import observe
from coordssh.services.test_run import dispatch_test
from coordssh.services.watch import wait_run
from tests.support.dispatch import contexts, world  # noqa: F401 (fixtures)
from tests.support.dispatch import finished, git, wait_for

MADE = "coordssh-fake-success.txt"     # the file the stand-in commits


async def _implemented(ctx, machine_name: str, **repo_fields) -> str:
    ctx.config.repos["demo"] = replace(ctx.config.repos["demo"], **repo_fields)
    run = (await assign(ctx, AssignRequest(machine=machine_name, repo="demo", issue=5,
                                           title="Fix the widget"))).assignment
    wait_for(lambda: finished(run.run_dir))
    await observe(ctx)
    item = ctx.board.get_work("demo#5")
    assert item.stage == s.IMPLEMENTED
    return item.head_sha


async def test_a_passing_test_run_records_its_verdict_for_the_head(machine, contexts, world):
    ctx = contexts(machine)
    head = await _implemented(ctx, machine.name, build_command="echo building",
                              test_command=f"test -f {MADE} && echo all 3 passed")
    heads = world.heads()
    started = await dispatch_test(ctx, "demo#5")
    run = started.assignment
    assert (run.role, run.base_sha, run.model, run.work) == ("test", head, "", "demo#5")
    assert started.changed == (MADE,)
    assert ctx.board.get_work("demo#5").stage == s.TESTING
    row = await wait_run(ctx, run.id, timeout=300)      # followed like any run: exit 0 = passed
    assert (row.status, row.reason, row.exit_code) == (m.DONE, "tests passed", 0)
    item = ctx.board.get_work("demo#5")
    assert item.stage == s.TESTED
    verdict = item.verdict("test")
    assert (verdict.result, verdict.sha, verdict.run) == ("passed", head, run.id)
    assert "+ echo building" in verdict.detail and "all 3 passed" in verdict.detail
    assert world.heads() == heads                       # a test run never pushes
    assert git("rev-parse", "HEAD", cwd=Path(run.worktree)).strip() == head
    assert not Path(run.run_dir, "pushed_sha").exists()
    kinds = [e["kind"] for e in ctx.board.events("demo#5")]
    assert kinds == ["run_started", "run_ended", "run_started", "test_verdict"]


async def test_a_failing_test_run_keeps_the_output_tail_for_the_fix(local_machine, contexts,
                                                                    world):
    ctx = contexts(local_machine)
    armed, release = world.root / "armed", world.root / "release"   # holds the second run open
    head = await _implemented(ctx, "localbox",
                              test_command="echo 'FAILED test_widget: 500 != 200'; touch junk; "
                                           f"if [ -e {armed} ]; then while [ ! -e {release} ]; "
                                           "do sleep 0.1; done; fi; exit 3")
    heads = world.heads()
    run = (await dispatch_test(ctx, "demo#5", machine="localbox")).assignment
    with pytest.raises(RunFailed) as info:
        await wait_run(ctx, run.id, timeout=300)
    assert "ended failed: tests failed (exit 3)" in info.value.message
    item = ctx.board.get_work("demo#5")
    assert item.stage == s.TEST_FAILED
    verdict = item.verdict("test")
    assert (verdict.result, verdict.sha) == ("failed", head)
    assert "FAILED test_widget: 500 != 200" in verdict.detail
    assert world.heads() == heads
    assert not Path(run.run_dir, "rescue_sha").exists()  # its junk is not committed either
    armed.touch()
    again = (await dispatch_test(ctx, "demo#5")).assignment   # test_failed: a test may rerun
    rows, item = len(ctx.board.list()), ctx.board.get_work("demo#5")
    with pytest.raises(TransitionRefused) as refused:          # but one at a time
        await dispatch_test(ctx, "demo#5")
    assert refused.value.message == "demo#5 is testing: starting a test run is not possible now"
    assert len(ctx.board.list()) == rows and ctx.board.get_work("demo#5") == item
    release.touch()
    with pytest.raises(RunFailed):
        await wait_run(ctx, again.id, timeout=300)
    assert ctx.board.get_work("demo#5").runs[-2:] == (run.id, again.id)


async def test_refusals_change_nothing(local_machine, contexts, world):
    ctx = contexts(local_machine)
    await _implemented(ctx, "localbox")                  # no test_command anywhere
    before = ctx.board.path.read_bytes()
    with pytest.raises(Refused, match="has no test_command"):
        await dispatch_test(ctx, "demo#5")
    ctx.config.repos["demo"] = replace(ctx.config.repos["demo"], test_command="true")
    rules = ({"files": ["coordssh-fake"], "requires": ["gpu"]},)
    ctx.config = replace(ctx.config, smoke_tests=SmokeTests(capability_rules=rules))
    with pytest.raises(Refused) as info:
        await dispatch_test(ctx, "demo#5", machine="localbox")
    assert info.value.message == ("machine localbox lacks gpu (smoke_tests.capability_rules for "
                                  "the files the branch changed)")
    assert ctx.board.path.read_bytes() == before


def test_implement_then_test_through_the_cli(tmp_path, world, capsys):
    """assign --json, wait, test --json, wait, work --json: what scripts and cron jobs use."""
    import json

    from coordssh.cli.main import main
    from coordssh.board.store import Board
    from tests.support.dispatch import FAKE_CLAUDE, reap

    config = tmp_path / "coordinator.yml"
    config.write_text(
        f"repos:\n  - name: demo\n    test_command: test -f {MADE}\n"
        "machines:\n  - name: box\n    connection: local\n"
        f"    claude_command: {FAKE_CLAUDE}\n    repos: [demo]\n"
        f"    repo_paths: {{demo: {world.clone}}}\n"
        f"    worktree_root: {tmp_path / 'wt'}\n    run_root: {tmp_path / 'runs'}\n")

    def cli(*args: str) -> tuple[int, str]:
        code = main([*args, "--config", str(config)])
        return code, capsys.readouterr().out

    try:
        code, out = cli("assign", "box", "demo", "5", "--title", "Fix the widget", "--json")
        implement = json.loads(out)["id"]
        assert code == 0 and cli("wait", implement)[0] == 0
        code, out = cli("test", "demo#5", "--json")
        started = json.loads(out)
        assert code == 0 and started["role"] == "test" and started["model"] == ""
        assert cli("wait", started["id"])[0] == 0
        code, out = cli("work", "demo#5", "--json")
        [item] = json.loads(out)
        assert item["stage"] == "tested" and item["next_action"] == "open_pr"
        assert [(r["id"], r["role"], r["status"]) for r in item["runs"]] == [
            (implement, "implement", "done"), (started["id"], "test", "done")]
        assert item["verdicts"][0]["sha"] == item["head_sha"] == started["sha"]
    finally:
        reap(Board.open(tmp_path / ".coordssh"))
