"""Board schema 3: the history in events.jsonl, a board file read once per change, gc compaction.

Real board files in tmp dirs; a schema-2 board written by the release before (tests/fixtures/
board-v2/, made by tests/fixtures/make_board_v2.py with that release); concurrent writers are
real processes."""

from __future__ import annotations

import json
import multiprocessing
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from coordssh.board.migrate import SCHEMA_VERSION
from coordssh.board.store import Board
from coordssh.domain.models import Assignment
from coordssh.domain.work import Event
from coordssh.errors import StateError
from coordssh.services import pipeline
from coordssh.services.context import Context
from coordssh.services.gc import collect
from coordssh.services.report_board import merges, work_item_tables
from coordssh.services.work_view import work_views
from coordssh.transport.connect import Connector
from tests.support.dispatch import REPO_ROOT
from tests.support.notify_world import minimal_config

FIXTURE = Path(__file__).parent / "fixtures" / "board-v2"
DAY = 86400.0


def _v2(state: Path) -> dict:
    shutil.copytree(FIXTURE, state)
    return json.loads((state / "board.json").read_text())


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_v2_board_is_migrated_once_losing_nothing(tmp_path):
    state = tmp_path / "state"
    old = _v2(state)
    archived = json.loads((state / "board-archive.json").read_text())["assignments"]
    history = sorted(old["events"].values(), key=lambda e: e["seq"])
    assert old["meta"]["schema"]["version"] == 2 and len(history) == 12

    board = Board.open(state)
    data = json.loads(board.path.read_text())
    assert data["meta"]["schema"]["version"] == SCHEMA_VERSION == 3 and "events" not in data
    assert _lines(board.events_path) == history                   # every event, as it was
    assert board.events() == history
    assert [e["kind"] for e in board.events("app#1")][-1] == "pr_merged"
    assert data["assignments"] == old["assignments"] and data["work_items"] == old["work_items"]
    assert data["kv"] == old["kv"]
    assert {r.id for r in board.list(include_archived=True)} == \
        set(old["assignments"]) | set(archived)
    assert board.get("aa000001").pushed_sha == "a" * 40          # an archived row

    before = (board.path.read_bytes(), board.events_path.read_bytes())
    again = Board.open(state)                                     # migrated once
    assert (again.path.read_bytes(), again.events_path.read_bytes()) == before
    with again.transaction() as tx:                               # the history goes on
        pipeline.record(tx, "lib#3", Event("operator_stop", {}, "cc000001"), 1.0)
    assert again.events("lib#3")[-1]["seq"] == 13
    assert again.kv_get("events.seq") == 13


def test_a_migration_cut_short_after_the_history_was_written_appends_it_once(tmp_path):
    state = tmp_path / "state"
    old = _v2(state)
    history = sorted(old["events"].values(), key=lambda e: e["seq"])
    # the crash: events.jsonl written (part of it), board.json still schema 2
    (state / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in history[:7]))
    board = Board.open(state)
    assert board.events() == history
    assert [e["seq"] for e in _lines(board.events_path)] == list(range(1, 13))


def _open(state: str) -> None:
    Board.open(Path(state)).events()


def test_processes_opening_a_v2_board_at_once_migrate_it_once(tmp_path):
    state = tmp_path / "state"
    history = sorted(_v2(state)["events"].values(), key=lambda e: e["seq"])
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_open, args=(str(state),)) for _ in range(3)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(120)
        assert proc.exitcode == 0
    assert _lines(state / "events.jsonl") == history
    assert "events" not in json.loads((state / "board.json").read_text())


def test_a_torn_last_line_is_skipped_and_cut_by_the_next_append(tmp_path):
    board = Board.open(tmp_path / "state")
    with board.transaction() as tx:
        tx.append_event("app#1", Event("pr_opened", {"number": 1}), 1.0)
    with open(board.events_path, "ab") as fh:
        fh.write(b'{"seq":2,"work":"app#1","ki')                  # a crash mid-append
    assert [e["seq"] for e in board.events()] == [1]
    with board.transaction() as tx:
        tx.append_event("app#1", Event("pr_closed", {}), 2.0)
    assert [(e["seq"], e["kind"]) for e in _lines(board.events_path)] == [
        (1, "pr_opened"), (2, "pr_closed")]


def test_a_bad_line_in_the_middle_is_refused_with_the_file_and_the_fix(tmp_path):
    board = Board.open(tmp_path / "state")
    board.events_path.write_text('{"seq":1,"work":"a#1","kind":"x"}\n[1, 2]\n'
                                 '{"seq":3,"work":"a#1","kind":"x"}\n')
    with pytest.raises(StateError) as err:
        board.events()
    assert "events.jsonl is not a coordssh history: line 2 is a list" in err.value.message
    assert "move" in err.value.hint and "events.jsonl" in err.value.hint


def _writer(state: str, name: str, count: int) -> None:
    board = Board.open(Path(state))
    for n in range(count):
        with board.transaction() as tx:
            tx.append_event(f"app#{name}", Event("pr_opened", {"n": n}), float(n))
            tx.kv_set(f"last:{name}", n)


def test_processes_writing_at_once_lose_no_event_and_never_repeat_a_seq(tmp_path):
    state = tmp_path / "state"
    Board.open(state)
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(state), str(i), 25)) for i in range(4)]
    reader = subprocess.Popen(      # reads all along, without the lock: always whole events
        [sys.executable, "-c", READER, str(state)], cwd=REPO_ROOT, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(120)
        assert proc.exitcode == 0
    (state / "stop").write_text("")
    out, err = reader.communicate(timeout=120)
    assert reader.returncode == 0, err
    assert int(out) > 0                                           # it did read meanwhile
    board = Board.open(state)
    seqs = [e["seq"] for e in _lines(board.events_path)]
    assert seqs == list(range(1, 101)) and board.kv_get("events.seq") == 100
    for i in range(4):
        assert [e["data"]["n"] for e in board.events(f"app#{i}")] == list(range(25))
        assert board.kv_get(f"last:{i}") == 24


READER = """
import sys
from pathlib import Path
from coordssh.board.store import Board
state = Path(sys.argv[1])
reads, last = 0, 0
while not (state / "stop").exists():
    board = Board(state)
    seqs = [e["seq"] for e in board.events()]
    assert seqs == sorted(set(seqs)) and len(seqs) >= last, seqs
    since = board.events_since(len(seqs) // 2)
    want = [s for s in seqs if s > len(seqs) // 2]
    got = [e["seq"] for e in since]
    assert got[:len(want)] == want, (got, want)     # and any written since
    last, reads = len(seqs), reads + 1
print(reads)
"""


def test_a_write_by_another_process_is_seen_by_a_board_that_read_before(tmp_path):
    state = tmp_path / "state"
    board = Board.open(state)
    assert board.kv_get("k") is None and board.list_work() == []   # parsed and kept
    subprocess.run([sys.executable, "-c", "import sys; from pathlib import Path; "
                    "from coordssh.board.store import Board; "
                    "Board.open(Path(sys.argv[1])).kv_set('k', {'v': 1})", str(state)],
                   cwd=REPO_ROOT, check=True, timeout=60)
    assert board.kv_get("k") == {"v": 1}
    board.kv_get("k")["v"] = 2                                    # a copy: the board is unchanged
    assert board.kv_get("k") == {"v": 1}


# --- gc compaction ---------------------------------------------------------------------------
def run_row(rid: str, repo: str, issue: int, t: float) -> Assignment:
    return Assignment(id=rid, machine="m1", repo=repo, issue=issue, branch=f"issue-{issue}",
                      title=f"Issue {issue}", base_sha="1" * 40, worktree=f"/w/{rid}",
                      run_dir=f"/r/{rid}", role="implement", status="running", created_at=t,
                      updated_at=t, started_at=t)


def _item(board: Board, key: str, rid: str, t: float, *, merge: bool) -> None:
    repo, issue = pipeline.split_key(key)
    with board.transaction() as tx:
        row = pipeline.record_start(tx, run_row(rid, repo, issue, t), t)
    with board.transaction() as tx:
        row = row.evolve(status="done", finished_at=t + 60, updated_at=t + 60,
                         pushed_sha="a" * 40, exit_code=0)
        tx.put(row)
        pipeline.record_end(tx, row, t + 60)
    if merge:
        for kind, data in (("pr_opened", {"number": issue}), ("merge_started", {}),
                           ("pr_merged", {"number": issue})):
            with board.transaction() as tx:
                pipeline.record(tx, key, Event(kind, data), t + 120)


@pytest.fixture
def compacted(tmp_path):
    now = 1_800_000_000.0
    config = minimal_config(tmp_path)
    board = Board.open(config.state_dir, keep_terminal=1, archive_chunk=1)
    _item(board, "demo#1", "old00001", now - 40 * DAY, merge=True)
    _item(board, "demo#2", "old00002", now - 30 * DAY, merge=True)
    _item(board, "demo#3", "new00003", now - 1 * DAY, merge=True)    # merged, but recently
    _item(board, "demo#4", "wip00004", now - 40 * DAY, merge=False)  # not merged
    ctx = Context(config=config, board=board, connector=Connector(),
                  forge_factory=lambda repo: None, clock=lambda: now)
    before = {key: board.events(key) for key in ("demo#1", "demo#2", "demo#3", "demo#4")}
    rows = {r.id: r for r in board.list(include_archived=True)}
    hot = board.events_path.read_bytes()
    return ctx, before, rows, hot


async def test_gc_compaction_moves_old_history_and_runs_and_loses_nothing(compacted):
    ctx, before, rows, _ = compacted
    board = ctx.board
    report = await collect(ctx, always=True)                     # `coordssh gc`
    assert report.compacted == {"events": 10, "runs": 2}
    assert "board: archived 10 events and 2 runs" in "\n".join(report.lines())
    hot = {e["work"] for e in _lines(board.events_path)}
    assert hot == {"demo#3", "demo#4"}                            # what is still in play
    assert {e["work"] for e in _lines(board.events_archive_path)} == {"demo#1", "demo#2"}
    assert {r["id"] for r in _lines(board.cold_path)} == {"old00001", "old00002"}
    for key, events in before.items():
        assert board.events(key) == events                        # history still whole
    assert [e["seq"] for e in board.events_since(0)] == \
        sorted(e["seq"] for events in before.values() for e in events)
    assert {r.id: r for r in board.list(include_archived=True)} == rows
    assert {r.id for r in board.list(include_archived=True, cold=False)} == \
        set(rows) - {"old00001", "old00002"}
    assert board.find("old00001").pushed_sha == "a" * 40
    assert board.maybe_cold("old00001") and not board.maybe_cold("new00003")

    [view] = await work_views(ctx, "demo#1", history=True)       # `work demo#1 --history`
    assert view.history == tuple(before["demo#1"])
    assert [r.id for r in view.runs] == ["old00001"]
    items, events = work_item_tables(board)                      # `report`
    assert merges(items, events)["demo#1"] == before["demo#1"][-1]["at"]

    again = await collect(ctx, always=True)                      # nothing more to move
    assert again.compacted == {"events": 0, "runs": 0}


async def test_a_compaction_cut_short_leaves_each_event_read_once(compacted):
    ctx, before, _, hot = compacted
    board = ctx.board
    await collect(ctx, always=True)
    board.events_path.write_bytes(hot)       # the crash: archive appended, hot not rewritten
    for key, events in before.items():
        assert board.events(key) == events
    assert len(board.events_since(0)) == sum(map(len, before.values()))
    await collect(ctx, always=True)          # the next gc moves them again: still read once
    assert {e["work"] for e in _lines(board.events_path)} == {"demo#3", "demo#4"}
    for key, events in before.items():
        assert board.events(key) == events


async def test_a_notify_pass_compacts_only_once_enough_has_gathered(compacted):
    ctx, before, _, hot = compacted
    report = await collect(ctx)                                  # a notify pass's gc
    assert report.compacted == {"events": 0, "runs": 0}
    assert ctx.board.events_path.read_bytes() == hot


def test_reads_from_the_end_agree_with_the_whole_file_across_many_blocks(tmp_path):
    board = Board.open(tmp_path / "state")
    with board.transaction() as tx:               # ~600 KB: ten blocks read backwards
        for n in range(3000):
            tx.append_event(f"app#{n % 7}", Event("pr_opened", {"pad": "x" * 150, "n": n}), n)
    every = board.events()
    assert [e["seq"] for e in every] == list(range(1, 3001))
    for cursor in (0, 1, 1234, 2990, 2999, 3000, 5000):
        assert board.events_since(cursor) == [e for e in every if e["seq"] > cursor]
    assert board.recent_events(12) == every[-12:]


def test_a_bad_line_in_the_run_archive_is_refused_with_the_fix(tmp_path):
    board = Board.open(tmp_path / "state")
    board.cold_path.write_text('{"id":"a1","machine":"m","repo":"r","branch":"b"}\n')
    with pytest.raises(StateError) as err:
        board.get("zz")
    assert "runs-archive.jsonl is not a coordssh run archive: line 1 has no 'issue'" in \
        err.value.message
    assert "coordssh gc" in err.value.hint


def test_the_live_view_folds_in_only_the_new_events(tmp_path):
    from coordssh.services.live_board import EVENTS_KEPT, BoardCache

    board = Board.open(tmp_path / "state")
    with board.transaction() as tx:
        for n in range(EVENTS_KEPT + 3):
            tx.append_event("app#2", Event("pr_opened", {"number": n}), float(n))
        tx.append_event("app#1", Event("merge_conflict", {"files": ["a.py"]}), 20.0)
    cache = BoardCache(Board(board.state_dir))        # its own Board, as the live view's
    assert cache.refresh() and not cache.refresh()    # read again only when board.json changed
    view = cache.view
    assert view.holds["app#1"] == {"gate": "mergeable", "reason": "conflicts: a.py"}
    assert [e["seq"] for e in view.events] == list(range(EVENTS_KEPT + 4, 4, -1))
    with board.transaction() as tx:
        tx.append_event("app#1", Event("merge_started", {}), 21.0)
    assert cache.refresh()
    assert "app#1" not in cache.view.holds
    assert [e["kind"] for e in cache.view.events[:2]] == ["merge_started", "merge_conflict"]
    assert len(cache.view.events) == EVENTS_KEPT
