"""The live view end to end: a board with work items, events, a parked machine and a merge hold,
read by the real service over a local machine; the snapshot drawn at 80 and 200 columns with
NO_COLOR; and `coordssh status --live` in a real pseudo-terminal, left with Ctrl-C."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import signal
import struct
import sys
import termios
import time
from io import StringIO
from pathlib import Path

import pytest
from rich.console import Console

from coordssh.board.store import Board
from coordssh.cli.render.live import live_view
from coordssh.config.load import load_config
from coordssh.domain import models as m
from coordssh.domain import stages as s
from coordssh.domain.work import Event, Rounds, WorkItem
from coordssh.services.live import LiveView
from coordssh.services.live_board import MERGE_HOLDS_KEY, PARKING_KEY
from tests.support.envelopes import Envelopes, assignment_for, fixture_lines
from tests.support.envelopes import processes_with
from tests.test_live_service import snapshot_where, status_line

LINES = fixture_lines("success.jsonl")
REPO = "acme-corporation-a-repository-with-a-long-name"
NOW = time.time()


@pytest.fixture
def world(tmp_path):
    """coordinator.yml with local machine `box`; a live run, a failed one, work items."""
    config = tmp_path / "coordinator.yml"
    config.write_text(
        f"repos:\n  - name: {REPO}\n"
        "machines:\n"
        "  - name: box\n    connection: local\n"
        f"    worktree_root: {tmp_path / 'wt'}\n    run_root: {tmp_path / 'runs'}\n")
    (tmp_path / "runs").mkdir()
    env = Envelopes(tmp_path / "runs")
    cfg = load_config(str(config))
    board = Board.open(cfg.state_dir)
    machine = cfg.machines["box"]
    env.make("live0001", stream=b"".join(LINES[:4]) + status_line("reading the tests"))
    board.put(assignment_for(machine, "live0001", repo=REPO, issue=7, work=f"{REPO}#7",
                             started_at=NOW - 300))
    board.put(assignment_for(machine, "fail0002", repo=REPO, issue=8, work=f"{REPO}#8",
                             status=m.CRASHED, reason="process gone, no result line",
                             finished_at=NOW - 60, started_at=NOW - 600))
    items = [
        WorkItem(REPO, 7, stage=s.IMPLEMENTING, active_run="live0001", title="Add the thing"),
        WorkItem(REPO, 8, stage=s.INTERRUPTED, rounds=Rounds(retry=3),
                 last_run={"id": "fail0002", "role": "implement", "status": "crashed"}),
        WorkItem(REPO, 9, stage=s.CONFLICT, conflict_files=("src/a.py",)),
        WorkItem(REPO, 10, stage=s.PR_OPEN, pr_number=41, head_sha="a" * 40),
        WorkItem(REPO, 11, stage=s.APPROVED, pr_number=42, head_sha="b" * 40),
        WorkItem(REPO, 12, stage=s.MERGED, pr_number=40),
    ]
    with board.transaction() as tx:
        for item in items:
            tx.put_work(item)
        tx.append_event(f"{REPO}#10", Event("merge_failed", {"reason": "checks failing"}),
                        NOW - 30)
        tx.append_event(f"{REPO}#8", Event("run_ended", {"status": "crashed", "role":
                                                         "implement"}, run="fail0002"), NOW - 60)
        tx.kv_set(PARKING_KEY, {"box": {"until": NOW + 3600, "reason": "usage limit"},
                                "gone": "not a dict"})
        tx.kv_set(MERGE_HOLDS_KEY, {f"{REPO}#11": {"gate": "checks", "reason": "ci pending"}})
    yield config, cfg
    env.cleanup()


@pytest.fixture
async def snapshot(world):
    from coordssh.cli.context import build_context

    config, _ = world
    ctx = build_context(str(config))
    async with LiveView(ctx, refresh=0.5) as view:
        return await snapshot_where(
            view, lambda s: s.runs and s.runs[0].streaming and s.machines[0].load is not None,
            "the live run followed and the machine's load read")


def test_the_snapshot_has_every_section(snapshot):
    box = snapshot.machines[0]
    assert box.reachable and box.parked and box.parked_reason == "usage limit" and box.needs_human
    assert box.free_bytes and box.running == 1 and box.streams == 1
    runs = {r.id: r for r in snapshot.runs}
    assert runs["live0001"].live and not runs["live0001"].needs_human
    assert runs["fail0002"].needs_human and runs["fail0002"].status == m.CRASHED
    work = {w.key: w for w in snapshot.work}
    assert f"{REPO}#12" not in work and snapshot.final_items == 1
    assert work[f"{REPO}#8"].action == "needs_human" and work[f"{REPO}#8"].needs_human
    assert work[f"{REPO}#9"].needs_human and not work[f"{REPO}#7"].needs_human
    assert work[f"{REPO}#7"].action == "wait" and "live0001" in work[f"{REPO}#7"].reason
    queue = {q.key: q for q in snapshot.queue}
    assert (queue[f"{REPO}#10"].gate, queue[f"{REPO}#10"].reason) == ("merge", "checks failing")
    assert (queue[f"{REPO}#11"].gate, queue[f"{REPO}#11"].reason) == ("checks", "ci pending")
    assert [e.kind for e in snapshot.events] == ["run_ended", "merge_failed"]   # newest first


def section(lines: list[str], title: str) -> list[str]:
    """The lines of one section: from its title to the next section's."""
    titles = ("machines (", "runs (", "work items (", "merge queue (", "latest events (")
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{title} ("))
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith(titles)),
               len(lines))
    return lines[start + 1:end]


def draw(snapshot, width: int, height: int = 60) -> str:
    out = StringIO()
    console = Console(file=out, width=width, height=height, no_color=True, highlight=False,
                      color_system=None, legacy_windows=False)
    console.print(live_view(snapshot, "/x/coordinator.yml", width, height))
    return out.getvalue()


@pytest.mark.parametrize("width", [80, 200])
def test_ids_and_statuses_are_whole_and_human_items_marked(snapshot, width):
    text = draw(snapshot, width)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= width
    for run in snapshot.runs:
        line = next(line for line in section(lines, "runs") if run.id in line)   # the id whole
        assert run.status in line
        assert line.lstrip().startswith("!") is run.needs_human, line
    for item in snapshot.work:
        line = next(line for line in section(lines, "work items") if item.key in line)
        assert item.stage in line
        assert line.lstrip().startswith("!") is item.needs_human, line
    for entry in snapshot.queue:
        line = next(line for line in section(lines, "merge queue") if entry.key in line)
        assert entry.stage in line and entry.gate in line
    box = next(line for line in section(lines, "machines") if " box " in line)
    assert box.lstrip().startswith("!") and "parked" in box
    assert "need a human" in lines[0] and "\x1b[" not in text


def test_a_narrow_terminal_drops_columns_by_priority(snapshot):
    wide = section(draw(snapshot, 200).splitlines(), "runs")[0].split()
    narrow = section(draw(snapshot, 80).splitlines(), "runs")[0].split()
    assert {"role", "item", "doing", "STATUS"} <= set(wide)
    assert "role" not in narrow and "item" not in narrow      # the least important go first
    assert {"run", "status", "doing"} <= set(narrow)


def test_no_color_leaves_colour_out_and_keeps_the_marks(snapshot, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    out = StringIO()
    console = Console(file=out, width=120, force_terminal=True)
    console.print(live_view(snapshot, "/x/c.yml", 120, 50))
    text = out.getvalue()
    assert not re.search(r"\x1b\[[0-9;]*3[0-7](;[0-9;]*)?m", text)   # no foreground colour
    assert "! " in text and "fail0002" in text


# --- Ctrl-C in a real terminal ---------------------------------------------------------------
def read_until(fd: int, buf: bytearray, needle: bytes, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while needle not in buf:
        if time.monotonic() > deadline:
            raise AssertionError(f"{needle!r} not seen; got {bytes(buf[-2000:])!r}")
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:   # EIO: the child closed the terminal
                return
            if not chunk:
                return
            buf += chunk


def test_ctrl_c_restores_the_terminal_closes_everything_and_exits_0(world, tmp_path):
    config, _ = world
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
           "TERM": "xterm-256color"}
    env.pop("NO_COLOR", None)
    pid, fd = pty.fork()
    if pid == 0:   # the child: the pty is its controlling terminal
        os.execve(sys.executable, [sys.executable, "-m", "coordssh", "status", "--live",
                                   "--refresh", "0.5", "--config", str(config)], env)
    try:
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        buf = bytearray()
        read_until(fd, buf, b"live0001")
        run_dir = str(tmp_path / "runs" / "live0001")
        deadline = time.monotonic() + 90
        while not processes_with("tail", run_dir) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert processes_with("tail", run_dir), "the run was never followed"
        os.write(fd, b"\x03")
        read_until(fd, buf, b"\x1b[?1049l")
        while True:
            try:
                if not os.read(fd, 65536):
                    break
            except OSError:
                break
        _, status = os.waitpid(pid, 0)
        pid = 0
    finally:
        if pid:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        os.close(fd)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
    assert buf.index(b"\x1b[?1049h") < buf.rindex(b"\x1b[?1049l")   # alt screen in, then out
    assert not processes_with("tail", run_dir)                      # its follow ended
