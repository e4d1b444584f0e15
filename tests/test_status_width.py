"""The human status table: never cuts the id or the status; piped output honours COLUMNS."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from coordssh.board.store import Board
from coordssh.config.load import load_config
from coordssh.domain import models as m

LONG = dict(machine="workstation-01", repo="api-server", issue=1234,
            branch="issue-1234-make-the-thing-work-better-and-faster", model="claude-sonnet-4",
            reason="no result line and the process is gone; the session id is kept for a resume",
            turns=12, cost_usd=1.23, duration_s=100.0)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "coordinator.yml"
    path.write_text("repos:\n  - name: api-server\nmachines: []\n")
    board = Board.open(load_config(str(path)).state_dir)
    now = time.time()
    for run_id, status in (("e041abcd", m.CRASHED), ("f00dcafe", m.USAGE_LIMITED)):
        board.put(m.Assignment(id=run_id, status=status, created_at=now, started_at=now - 100,
                               finished_at=now, **LONG))
    return path


def status_lines(config: Path, columns: str | None) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    if columns is not None:
        env["COLUMNS"] = columns
    done = subprocess.run([sys.executable, "-m", "coordssh", "status", "--config", str(config)],
                          capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


@pytest.mark.parametrize("columns", ["80", "60"])
def test_id_and_status_are_never_cut(config: Path, columns: str) -> None:
    lines = status_lines(config, columns)
    assert max(len(line) for line in lines) <= int(columns)
    text = "\n".join(lines)
    for whole in ("e041abcd", "f00dcafe", "crashed", "usage_limited"):
        assert whole in text, text


def test_piped_output_without_columns_has_a_sane_width(config: Path) -> None:
    lines = status_lines(config, None)
    assert max(len(line) for line in lines) <= 200
    assert "e041abcd" in "\n".join(lines)


def test_piped_output_honours_a_wide_columns(config: Path) -> None:
    lines = status_lines(config, "300")
    assert LONG["reason"] in "\n".join(lines)  # on one line: nothing folded
