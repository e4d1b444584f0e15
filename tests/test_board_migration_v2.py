"""Board schema v1 -> v2 on a board written by the release before work items
(tests/fixtures/board-v1.json, made by tests/fixtures/make_board_v1.py with that release)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from coordssh.board.migrate import SCHEMA_VERSION
from coordssh.board.store import Board
from coordssh.domain import stages as s
from coordssh.domain.next_action import next_action
from coordssh.domain.policy import Policy
from coordssh.domain.work import Event
from coordssh.services import pipeline

FIXTURE = Path(__file__).parent / "fixtures" / "board-v1.json"
V1_ROWS = json.loads(FIXTURE.read_text())["assignments"]


@pytest.fixture
def state(tmp_path: Path) -> Path:
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    shutil.copy(FIXTURE, state / "board.json")
    return state


def test_the_fixture_is_a_v1_board() -> None:
    assert json.loads(FIXTURE.read_text())["meta"]["schema"]["version"] == 1
    assert SCHEMA_VERSION == 3   # v1 -> v2 -> v3 (the history moves to events.jsonl)


def test_every_row_is_kept_and_names_its_work_item(state: Path) -> None:
    board = Board.open(state)
    data = json.loads(board.path.read_text())
    assert data["meta"]["schema"]["version"] == 3 and "events" not in data
    assert set(data["assignments"]) == set(V1_ROWS)
    for row_id, old in V1_ROWS.items():
        new = data["assignments"][row_id]
        assert new == {**old, "work": f"{old['repo']}#{old['issue']}"}
        assert board.get(row_id).work_key == new["work"]
    assert board.kv_get("claude_path:m1") == "/usr/bin/claude"


def test_one_work_item_per_issue_built_from_its_runs(state: Path) -> None:
    board = Board.open(state)
    items = {item.key: item for item in board.list_work()}
    assert sorted(items) == ["app#1", "app#2", "app#3", "app#4", "app#6", "app#7", "lib#5"]
    done = items["app#1"]
    assert (done.stage, done.head_sha, done.runs, done.branch, done.spend_usd) == (
        s.IMPLEMENTED, "d" * 40, ("aa000001",), "issue-1-thing", 0.42)
    assert done.last_run["status"] == "done"
    retried = items["app#2"]   # crashed, then a second run (another branch name) still going
    assert retried.runs == ("aa000002", "aa000003")
    assert retried.branch == "issue-2-first-title"
    assert (retried.stage, retried.active_run) == (s.IMPLEMENTING, "aa000003")
    limited = items["app#3"]
    assert limited.stage == s.PARKED and limited.parked_from == s.INTERRUPTED
    assert limited.parked_until == V1_ROWS["aa000004"]["resets_at"]
    assert items["app#4"].stage == s.INTERRUPTED and items["app#4"].last_run["status"] == "advisory"
    assert items["lib#5"].last_run == {"id": "aa000006", "role": "implement", "status": "stuck",
                                       "reason": "STUCK: cannot find the config",
                                       "machine": "m1", "session_id": "sess-aa000006"}
    assert items["app#6"].stage == s.IMPLEMENTING        # unknown is live: touch nothing
    assert items["app#7"].stage == s.INTERRUPTED
    history = board.events("app#2")
    assert [(e["kind"], e["data"]["runs"]) for e in history] == [
        ("migrated", ["aa000002", "aa000003"])]
    assert len(board.events()) == 7


def test_migrated_items_carry_on_through_the_pipeline(state: Path) -> None:
    board = Board.open(state)
    stuck = next_action(board.get_work("lib#5"), Policy(), 0.0)
    assert stuck.kind == "needs_human" and "aa000006" in stuck.command
    with board.transaction() as tx:
        row = tx.get("aa000003").evolve(status="done", pushed_sha="e" * 40)
        tx.put(row)
        pipeline.record_end(tx, row, 10.0)
    item = board.get_work("app#2")
    assert (item.stage, item.head_sha) == (s.IMPLEMENTED, "e" * 40)
    assert [e["kind"] for e in board.events("app#2")] == ["migrated", "run_ended"]
    with board.transaction() as tx:
        pipeline.apply(tx, "app#2", Event("run_started", {"role": "test"}, "t1"), 11.0)
    assert board.get_work("app#2").stage == s.TESTING


def test_opening_again_changes_nothing(state: Path) -> None:
    Board.open(state)
    first = (state / "board.json").read_bytes()
    Board.open(state)
    assert (state / "board.json").read_bytes() == first


def test_archived_runs_count_for_the_branch_and_the_run_list(state: Path) -> None:
    data = json.loads(FIXTURE.read_text())
    archived = {"aa000002": data["assignments"].pop("aa000002")}
    (state / "board.json").write_text(json.dumps(data))
    (state / "board-archive.json").write_text(json.dumps(
        {"assignments": archived, "kv": {}, "meta": {"schema": {"version": 1}}}))
    board = Board.open(state)
    item = board.get_work("app#2")
    assert item.runs == ("aa000002", "aa000003") and item.branch == "issue-2-first-title"
    assert board.get("aa000002").work_key == "app#2"
