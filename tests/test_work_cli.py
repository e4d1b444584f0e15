"""`coordssh work` through the real entry point: the list, one item, --history, --json, errors.

Runs are real envelopes on a local machine (tests/support/envelopes.py), started on the board
the way assign starts them (pipeline.record_start); `work` observes the live ones itself."""

from __future__ import annotations

import json
from pathlib import Path

from coordssh.board.store import Board
from coordssh.cli.main import main
from coordssh.config.load import load_config
from coordssh.domain.work import Event
from coordssh.services import pipeline
from tests.support.envelopes import assignment_for, fixture
from tests.test_status_cli import run_cli, setup  # noqa: F401 (a coordinator.yml, envelopes)

SUCCESS = fixture("success.jsonl")
SHA = "abc1234" + "0" * 33


def start(config: Path, run_id: str, issue: int, **fields) -> Board:
    cfg = load_config(str(config))
    board = Board.open(cfg.state_dir)
    row = assignment_for(cfg.machines["box"], run_id, issue=issue, model="claude-sonnet-4-6",
                         branch=f"issue-{issue}-thing", **fields)
    with board.transaction() as tx:
        pipeline.record_start(tx, row, row.created_at, rung=1)
    return board


def test_work_json_lists_each_item_with_its_runs_action_and_verdicts(setup, capsys):
    config, env = setup
    env.make("run1", stream=SUCCESS, live=False).finish(0, pushed_sha=SHA)
    start(config, "run1", 1)
    env.make("run2", stream=b"", live=True)
    start(config, "run2", 2)

    code, out, _ = run_cli(capsys, "work", "--json", "--config", str(config))
    assert code == 0
    done, live = json.loads(out)
    assert {k: done[k] for k in ("repo", "issue", "branch", "stage", "head_sha",
                                 "next_action")} == {
        "repo": "demo", "issue": 1, "branch": "issue-1-thing", "stage": "implemented",
        "head_sha": SHA, "next_action": "dispatch"}
    assert done["reason"] == "pushed abc1234, not tested at that SHA: test it (auto_test off)"
    assert done["runs"] == [{"id": "run1", "role": "implement", "status": "done",
                             "model": "claude-sonnet-4-6", "machine": "box",
                             "reason": done["runs"][0]["reason"], "pushed_sha": SHA,
                             "created_at": done["runs"][0]["created_at"]}]
    assert done["verdicts"] == [] and done["action"]["command"] == "coordssh test run1"
    assert (live["stage"], live["next_action"]) == ("implementing", "wait")
    assert live["reason"] == "waiting for the implement run run2"
    assert [r["status"] for r in live["runs"]] == ["running"]


def test_work_of_one_item_with_its_history(setup, capsys):
    config, env = setup
    env.make("run1", stream=SUCCESS, live=False).finish(0, pushed_sha=SHA)
    board = start(config, "run1", 1)
    assert run_cli(capsys, "work", "--config", str(config))[0] == 0   # observes: run1 ends
    with board.transaction() as tx:
        pipeline.apply(tx, "demo#1", Event("test_verdict", {"result": "failed", "sha": SHA,
                                                            "detail": "2 failed"}), 5.0)
    code, out, _ = run_cli(capsys, "work", "demo#1", "--history", "--config", str(config))
    assert code == 0
    assert out.startswith("demo#1  test_failed  issue-1-thing @ abc1234")
    assert "next      dispatch (by hand): test failed at abc1234: fix round 1 of 3, model opus " \
           "(one rung up) (auto_fix off)" in out
    assert "            coordssh fix run1" in out
    assert "verdict   test failed at abc1234 (by hand)" in out
    history = out.split("  history\n")[1].splitlines()
    assert [line.split()[2] for line in history] == ["run_started", "run_ended",
                                                     "test_verdict"]
    assert "status=done" in history[1] and "sha=abc1234" in history[1]

    code, out, _ = run_cli(capsys, "work", "run1", "--json", "--history", "--config",
                           str(config))
    [item] = json.loads(out)
    assert [e["kind"] for e in item["history"]] == ["run_started", "run_ended", "test_verdict"]
    assert item["verdicts"] == [{"kind": "test", "result": "failed", "sha": SHA, "at": 5.0,
                                 "run": ""}]


def test_unknown_items_and_an_empty_board(setup, capsys):
    config, _ = setup
    code, out, _ = run_cli(capsys, "work", "--config", str(config))
    assert code == 0 and "no work items yet" in out
    assert run_cli(capsys, "work", "--json", "--config", str(config))[1] == "[]\n"
    code, _, err = run_cli(capsys, "work", "demo#9", "--config", str(config))
    assert code == 2 and "no work item demo#9 on the board" in err
    code, _, err = run_cli(capsys, "work", "demo#x", "--config", str(config))
    assert code == 2 and "'demo#x' is not a work item key" in err
    code, _, err = run_cli(capsys, "work", "zzz", "--config", str(config))
    assert code == 2 and "no assignment id starts with 'zzz'" in err


def test_a_test_verdict_by_hand_for_the_head_sha(setup, capsys):
    config, env = setup
    env.make("run1", stream=SUCCESS, live=False).finish(0, pushed_sha=SHA)
    start(config, "run1", 1)
    code, _, err = run_cli(capsys, "test", "run1", "--fail", "--config", str(config))
    assert code == 2 and "a failed test needs --reason" in err
    code, _, err = run_cli(capsys, "test", "run1", "--passed", "--fail", "--config", str(config))
    assert code == 2 and "give one of --passed or --fail, not both" in err
    code, _, err = run_cli(capsys, "test", "run1", "--config", str(config))   # run the tests
    assert code == 1 and "repo 'demo' has no test_command" in err

    code, out, _ = run_cli(capsys, "test", "run1", "--fail", "--reason", "login 500",
                           "--json", "--config", str(config))
    assert code == 0
    [item] = json.loads(out)
    assert item["stage"] == "test_failed"
    assert [(v["kind"], v["result"], v["sha"]) for v in item["verdicts"]] == [
        ("test", "failed", SHA)]
    code, out, _ = run_cli(capsys, "test", "demo#1", "--passed", "--config", str(config))
    assert code == 0 and out.startswith("demo#1  tested  issue-1-thing @ abc1234")
    assert "verdict   test passed at abc1234 (by hand)" in out
    history = Board.open(load_config(str(config)).state_dir).events("demo#1")
    assert [(e["kind"], e["data"].get("result"), e["data"].get("detail")) for e in history] == [
        ("run_started", None, None), ("run_ended", None, None),
        ("test_verdict", "failed", "login 500"), ("test_verdict", "passed", "")]


def test_a_test_verdict_needs_a_pushed_sha_and_a_stage_that_allows_it(setup, capsys):
    config, env = setup
    env.make("run2", stream=b"", live=True)
    start(config, "run2", 2)
    code, _, err = run_cli(capsys, "test", "demo#2", "--passed", "--config", str(config))
    assert code == 1 and "demo#2 has nothing pushed yet (implementing)" in err
    board = Board.open(load_config(str(config)).state_dir)
    with board.transaction() as tx:   # pushed by another run meanwhile, still implementing
        pipeline.apply(tx, "demo#2", Event("head_moved", {"sha": SHA}), 1.0)
    code, _, err = run_cli(capsys, "test", "demo#2", "--passed", "--config", str(config))
    assert code == 1 and "demo#2 is implementing: test verdict passed is not possible now" in err
    assert [e["kind"] for e in board.events("demo#2")] == ["run_started", "head_moved"]
