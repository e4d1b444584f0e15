"""The board store: real files, real locks, real concurrent processes."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
import time
from pathlib import Path

import filelock
import pytest
from tinydb import TinyDB

from coordssh.board.migrate import SCHEMA_VERSION
from coordssh.board.store import Board
from coordssh.domain.models import DONE, RUNNING, Assignment
from coordssh.errors import NotFound, StateError


def make(assignment_id: str, **fields) -> Assignment:
    base = dict(machine="m1", repo="app", issue=1, branch=f"issue-1-{assignment_id}", created_at=1.0)
    base.update(fields)
    return Assignment(id=assignment_id, **base)


@pytest.fixture
def board(tmp_path: Path) -> Board:
    return Board.open(tmp_path / "state")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- concurrency -------------------------------------------------------------------------------
WRITER = """
import sys
from pathlib import Path
from coordssh.board.store import Board
board = Board.open(Path(sys.argv[1]))
for _ in range(int(sys.argv[2])):
    with board.transaction() as tx:
        row = tx.get("counter1")
        tx.put(row.evolve(turns=row.turns + 1))
        tx.kv_set("count", tx.kv_get("count", 0) + 1)
"""

READER = """
import json, sys
from pathlib import Path
board, stop, ready = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
reads = bad = 0
while not stop.exists() or reads < 300:
    raw = board.read_bytes()
    try:
        data = json.loads(raw)
        data["assignments"]["counter1"]["turns"]
    except (ValueError, KeyError, TypeError):
        bad += 1
    reads += 1
    if reads == 1:
        ready.touch()
print(reads, bad)
"""


def _wait_for(path: Path, proc: subprocess.Popen) -> None:
    # Not an assertion on time: only a guard against a reader that died before starting.
    deadline = time.monotonic() + 120
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "reader never started"
        time.sleep(0.01)


def test_concurrent_writers_lose_no_update_and_readers_see_whole_files(tmp_path: Path) -> None:
    state = tmp_path / "state"
    Board.open(state).put(make("counter1", turns=0))
    stop, ready = tmp_path / "stop", tmp_path / "ready"
    reader = subprocess.Popen([sys.executable, "-c", READER, str(state / "board.json"), str(stop),
                               str(ready)], stdout=subprocess.PIPE, text=True)
    _wait_for(ready, reader)
    writers, per_writer = 3, 150
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(state), str(per_writer)])
             for _ in range(writers)]
    assert [p.wait() for p in procs] == [0] * writers
    stop.touch()
    out, _ = reader.communicate()
    reads, bad = map(int, out.split())

    board = Board.open(state)
    assert board.get("counter1").turns == writers * per_writer
    assert board.kv_get("count") == writers * per_writer
    assert reads >= 300 and bad == 0


# --- files, modes, schema ----------------------------------------------------------------------
def test_state_files_are_private(board: Board) -> None:
    board.put(make("aaaa0001"))
    assert mode(board.state_dir) == 0o700
    assert mode(board.path) == 0o600
    assert mode(board.lock_path) == 0o600
    leftovers = [p.name for p in board.state_dir.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


def test_schema_version_is_stored(board: Board) -> None:
    data = json.loads(board.path.read_text())
    assert data["meta"]["schema"]["version"] == SCHEMA_VERSION


def test_newer_schema_is_refused_and_left_alone(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    newer = {"meta": {"schema": {"version": SCHEMA_VERSION + 1}}, "assignments": {}}
    (state / "board.json").write_text(json.dumps(newer))
    with pytest.raises(StateError) as err:
        Board.open(state)
    assert f"version {SCHEMA_VERSION + 1}" in err.value.message
    assert "upgrade coordssh" in err.value.hint
    assert json.loads((state / "board.json").read_text()) == newer


def test_plain_tinydb_file_is_migrated_to_id_keys(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    with TinyDB(state / "board.json") as db:  # TinyDB's own storage: int document ids, no meta
        db.table("assignments").insert(make("cafe0001", status=RUNNING).to_dict())
    board = Board.open(state)
    assert board.get("cafe0001").status == RUNNING
    assert json.loads(board.path.read_text())["meta"]["schema"]["version"] == SCHEMA_VERSION


def test_corrupt_board_names_the_file(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "board.json").write_text('{"assignments": {')
    with pytest.raises(StateError) as err:
        Board.open(state)
    assert "board.json" in err.value.message and "move" in err.value.hint


def test_lock_held_elsewhere_times_out_with_a_hint(board: Board) -> None:
    other = filelock.FileLock(board.lock_path)
    with other:
        held = Board(board.state_dir, lock_timeout=0.2)
        with pytest.raises(StateError) as err:
            held.put(make("aaaa0001"))
    assert "locked" in err.value.message and "fuser" in err.value.hint
    assert board.get("aaaa0001") is None


# --- reads -------------------------------------------------------------------------------------
def test_find_by_exact_id_and_unique_prefix(board: Board) -> None:
    for i in ("abc12345", "abc19999", "def00000"):
        board.put(make(i))
    assert board.find("def").id == "def00000"
    assert board.find("abc12345").id == "abc12345"
    assert board.find("abc1234").id == "abc12345"


def test_find_ambiguous_prefix_lists_matches(board: Board) -> None:
    board.put(make("abc12345"))
    board.put(make("abc19999"))
    with pytest.raises(NotFound) as err:
        board.find("abc")
    assert "abc12345" in err.value.message and "abc19999" in err.value.message
    assert err.value.exit_code == 2
    assert "more characters" in err.value.hint


def test_find_missing_says_where_to_look(board: Board) -> None:
    board.put(make("abc12345"))
    with pytest.raises(NotFound) as err:
        board.find("fff")
    assert "fff" in err.value.message and "coordssh status" in err.value.hint


def test_list_filters_by_machine_and_liveness(board: Board) -> None:
    board.put(make("a0000001", machine="m1", status=RUNNING, created_at=3))
    board.put(make("a0000002", machine="m2", status=RUNNING, created_at=2))
    board.put(make("a0000003", machine="m1", status=DONE, created_at=1))
    assert [a.id for a in board.list()] == ["a0000003", "a0000002", "a0000001"]
    assert [a.id for a in board.list(machine="m1")] == ["a0000003", "a0000001"]
    assert [a.id for a in board.list(live_only=True)] == ["a0000002", "a0000001"]
    assert [a.id for a in board.list(machine="m1", live_only=True)] == ["a0000001"]


# --- writes ------------------------------------------------------------------------------------
def test_put_replaces_by_id(board: Board) -> None:
    board.put(make("aaaa0001", status=RUNNING))
    board.put(make("aaaa0001", status=DONE, reason="pushed"))
    assert [(a.id, a.status, a.reason) for a in board.list()] == [("aaaa0001", DONE, "pushed")]


def test_update_many_applies_all_changes_in_one_write(board: Board) -> None:
    board.put(make("aaaa0001"))
    board.put(make("aaaa0002"))
    board.update_many({"aaaa0001": {"status": RUNNING}, "aaaa0002": {"status": DONE, "turns": 4}})
    assert board.get("aaaa0001").status == RUNNING
    assert (board.get("aaaa0002").status, board.get("aaaa0002").turns) == (DONE, 4)


def test_update_many_with_unknown_id_changes_nothing(board: Board) -> None:
    board.put(make("aaaa0001"))
    before = board.path.read_bytes()
    with pytest.raises(NotFound):
        board.update_many({"aaaa0001": {"status": RUNNING}, "nope0000": {"status": DONE}})
    assert board.path.read_bytes() == before


def test_transaction_rolls_back_on_exception(board: Board) -> None:
    board.put(make("aaaa0001", status=RUNNING))
    before = board.path.read_bytes()
    with pytest.raises(RuntimeError):
        with board.transaction() as tx:
            tx.put(tx.get("aaaa0001").evolve(status=DONE))
            tx.put(make("aaaa0002"))
            tx.kv_set("dedupe:x", True)
            assert tx.get("aaaa0001").status == DONE  # the transaction sees its own writes
            raise RuntimeError("boom")
    assert board.path.read_bytes() == before
    assert board.get("aaaa0001").status == RUNNING and board.get("aaaa0002") is None
    assert board.kv_get("dedupe:x") is None


def test_transaction_writes_once_at_exit_and_nested_ones_join(board: Board) -> None:
    with board.transaction() as tx:
        tx.put(make("aaaa0001"))
        board.put(make("aaaa0002"))          # joins the open transaction
        with board.transaction() as inner:
            assert inner is tx
        assert "aaaa0001" not in board.path.read_text()  # nothing written yet
        assert board.get("aaaa0002") is not None         # reads see the transaction
    assert {a.id for a in board.list()} == {"aaaa0001", "aaaa0002"}


def test_kv_round_trip(board: Board) -> None:
    assert board.kv_get("claude_path:m1") is None
    assert board.kv_get("claude_path:m1", "claude") == "claude"
    board.kv_set("claude_path:m1", "/home/u/.local/bin/claude")
    board.kv_set("seen", {"ids": [1, 2]})
    assert board.kv_get("claude_path:m1") == "/home/u/.local/bin/claude"
    assert board.kv_get("seen") == {"ids": [1, 2]}


# --- archive -----------------------------------------------------------------------------------
def test_old_finished_rows_move_to_the_archive_and_stay_findable(tmp_path: Path) -> None:
    board = Board.open(tmp_path / "state", keep_terminal=5, archive_chunk=2)
    with board.transaction() as tx:
        for i in range(10):
            tx.put(make(f"d000000{i}", status=DONE, created_at=i, finished_at=100 + i))
        tx.put(make("live0001", status=RUNNING, created_at=50))
    live_file = json.loads(board.path.read_text())["assignments"]
    assert sorted(live_file) == ["d0000005", "d0000006", "d0000007", "d0000008", "d0000009",
                                 "live0001"]
    assert mode(board.archive_path) == 0o600
    assert len(board.list()) == 6
    assert len(board.list(include_archived=True)) == 11
    assert board.get("d0000000").status == DONE
    assert board.find("d0000001").id == "d0000001"
    with pytest.raises(NotFound):
        board.find("d00")  # ambiguous across both files
    board.update_many({"d0000002": {"reason": "looked at again"}})
    assert board.get("d0000002").reason == "looked at again"


def test_archive_is_not_rewritten_until_a_chunk_is_over(tmp_path: Path) -> None:
    board = Board.open(tmp_path / "state", keep_terminal=3, archive_chunk=2)
    for i in range(5):
        board.put(make(f"d000000{i}", status=DONE, finished_at=i))
    assert not board.archive_path.exists()
    board.put(make("d0000005", status=DONE, finished_at=5))
    assert len(json.loads(board.archive_path.read_text())["assignments"]) == 3
