"""`coordssh notify` as a real process: two at once, and killed with SIGKILL mid-pass (after
observing, after a dispatch, between a comment and its record), then run again: no duplicate
comment, no duplicate dispatch, nothing lost."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from coordssh.board.store import Board
from coordssh.domain import stages as s
from tests.support.dispatch import finished, reap, wait_for, world  # noqa: F401 (fixture)
from tests.support.notify_world import run_cli, start_cli, write_config


@pytest.fixture
def setup(tmp_path, local_machine, world):
    state = tmp_path / "state"
    config = write_config(tmp_path / "coordinator.yml", local_machine, world, state_dir=state,
                          pipeline={"auto_test": True})
    yield config, state
    reap(Board.open(state))


def _assign(config: Path) -> str:
    done = run_cli(config, "assign", "localbox", "demo", "5", "--title", "Fix the widget",
                   "--briefing", "[[fake-claude:success]]", "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["id"]


def _paused(config: Path, tmp_path: Path, at: str):
    flag = tmp_path / f"paused-{at}"
    proc = start_cli(config, "notify", "--json", env={"COORDSSH_NOTIFY_PAUSE": at,
                                                      "COORDSSH_NOTIFY_PAUSE_FILE": str(flag)})
    wait_for(lambda: flag.exists() or proc.poll() is not None)
    assert proc.poll() is None, proc.communicate()
    return proc


def _comments(state: Path) -> list[str]:
    path = state / "comments.json"
    return [c["body"] for c in json.loads(path.read_text()).get("demo#5", [])] \
        if path.exists() else []


def test_a_second_notify_exits_0_naming_the_holder(setup, tmp_path):
    config, state = setup
    holder = _paused(config, tmp_path, "observed")
    second = run_cli(config, "notify")
    assert second.returncode == 0
    assert second.stdout.startswith(f"another notify pass is running (pid {holder.pid} on ")
    busy = json.loads(run_cli(config, "notify", "--json").stdout)["busy"]
    assert busy["pid"] == holder.pid and busy["host"] and busy["since"] > 0
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    third = json.loads(run_cli(config, "notify", "--json").stdout)
    assert third["busy"] is None and third["errors"] == []   # the kernel dropped the lock


def test_notify_killed_at_every_step_loses_nothing_and_repeats_nothing(setup, tmp_path):
    config, state = setup
    assert run_cli(config, "notify").returncode == 0    # cron first: a first pass posts no history
    first = _assign(config)
    board = Board.open(state)
    wait_for(lambda: finished(board.get(first).run_dir))
    for at in ("observed", "performed", "posted"):
        proc = _paused(config, tmp_path, at)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert len(_comments(state)) == 1             # posted, not recorded: the marker is there
    for _ in range(30):
        done = run_cli(config, "notify", "--json")
        assert done.returncode == 0, done.stderr
        if board.get_work("demo#5").stage == s.TESTED and \
                not json.loads(done.stdout)["comments"] == []:
            break
        wait_for(lambda: all(finished(r.run_dir) for r in board.list()))
    item = board.get_work("demo#5")
    assert item.stage == s.TESTED and len(item.runs) == 2          # one test run, not two
    assert [r.role for r in board.list()] == ["implement", "test"]
    bodies = _comments(state)
    markers = [b.rsplit("<!--", 1)[1] for b in bodies]
    assert len(markers) == len(set(markers)) == 4                  # each comment once
    assert [b.split("`")[0] for b in bodies] == [
        "**coordssh**: implement run ", "**coordssh**: implement run ",
        "**coordssh**: test run ", "**coordssh**: tests passed at "]
