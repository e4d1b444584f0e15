"""A board file of the wrong shape is a clear corrupt-board error, and the file is left alone."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from coordssh.board.store import Board
from coordssh.errors import EXIT_FAILURE, StateError

V1 = {"meta": {"schema": {"version": 1}}, "kv": {}}
ROW = {"id": "aaaa0001", "machine": "m1", "repo": "app", "issue": 1, "branch": "issue-1-x",
       "status": "running", "created_at": 1.0}

WRONG_SHAPES = {
    "assignments-a-string": {"assignments": "oops"},
    "assignments-a-list": {**V1, "assignments": [ROW]},
    "row-not-a-dict": {**V1, "assignments": {"a": 5}},
    "row-without-machine": {**V1, "assignments": {"a": {k: v for k, v in ROW.items()
                                                        if k != "machine"}}},
    "issue-not-a-number": {**V1, "assignments": {"a": {**ROW, "issue": "seven"}}},
    "machine-not-a-string": {**V1, "assignments": {"a": {**ROW, "machine": 3}}},
    "status-a-list": {**V1, "assignments": {"a": {**ROW, "status": ["running"]}}},
    "created-at-a-string": {**V1, "assignments": {"a": {**ROW, "created_at": "yesterday"}}},
    "meta-a-string": {"meta": "x", "assignments": {}},
    "kv-row-not-a-dict": {**V1, "kv": {"k": 1}, "assignments": {}},
    "v0-row-without-branch": {"assignments": {"1": {k: v for k, v in ROW.items()
                                                    if k != "branch"}}},
}


def write_board(state: Path, data) -> str:
    state.mkdir(parents=True, exist_ok=True)
    text = json.dumps(data)
    (state / "board.json").write_text(text)
    return text


@pytest.mark.parametrize("name", sorted(WRONG_SHAPES))
def test_wrong_shape_is_a_corrupt_board_and_nothing_is_rewritten(tmp_path: Path, name: str):
    state = tmp_path / "state"
    before = write_board(state, WRONG_SHAPES[name])
    with pytest.raises(StateError) as err:
        board = Board.open(state)
        board.list()
    assert "board.json" in err.value.message and "not a coordssh board" in err.value.message
    assert "move" in err.value.hint and "aside" in err.value.hint
    assert (state / "board.json").read_text() == before
    assert sorted(p.name for p in state.iterdir()) == ["board.json"]


def test_wrong_shape_archive_is_reported_too(tmp_path: Path):
    state = tmp_path / "state"
    board = Board.open(state)
    (state / "board-archive.json").write_text(json.dumps({**V1, "assignments": {"x": []}}))
    with pytest.raises(StateError) as err:
        board.list(include_archived=True)
    assert "board-archive.json" in err.value.message


def test_a_good_board_passes(tmp_path: Path):
    state = tmp_path / "state"
    write_board(state, {**V1, "assignments": {"aaaa0001": {**ROW, "extra": {"x": 1},
                                                           "finished_at": None}}})
    assert [a.id for a in Board.open(state).list()] == ["aaaa0001"]


def test_cli_status_on_a_wrong_shape_board_exits_1_with_the_fix(tmp_path: Path):
    state = tmp_path / "state"
    before = write_board(state, {"assignments": "oops"})
    config = tmp_path / "coordinator.yml"
    config.write_text(f"repos: []\nmachines: []\nstate_dir: {state}\n")
    done = subprocess.run([sys.executable, "-m", "coordssh", "status", "--config", str(config)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == EXIT_FAILURE, done.stderr
    assert "not a coordssh board" in done.stderr and "move" in done.stderr
    assert "internal error" not in done.stderr
    assert (state / "board.json").read_text() == before
