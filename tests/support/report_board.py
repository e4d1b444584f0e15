"""A board with a week of finished runs for the report tests: several models, machines, roles and
outcomes, tokens in the stream fold, hostile titles, and (optionally) the pipeline's work items."""

from __future__ import annotations

import json
from pathlib import Path

from coordssh.board.events import EventLog
from coordssh.board.store import Board
from coordssh.domain.models import Assignment

NOW = 1_780_000_000.0          # a fixed "now" (2026-05-28), so days and windows are exact
DAY = 86400.0
HOSTILE = '<script>alert("x")</script> & "quotes" [bold red]markup[/]'

# (id, machine, repo, issue, role, model, status, cost, turns, days ago, minutes)
RUNS = [
    ("a1", "alpha", "api", 1, "implement", "claude-sonnet-4-6", "done", 1.25, 30, 6.0, 40),
    ("a2", "alpha", "api", 1, "review", "claude-haiku-4-5", "done", 0.10, 5, 5.9, 5),
    ("a3", "beta", "api", 1, "fix", "claude-sonnet-4-6", "done", 0.80, 12, 5.8, 20),
    ("b1", "beta", "api", 2, "implement", "claude-opus-4-6", "failed", 3.50, 60, 4.0, 90),
    ("b2", "beta", "api", 2, "implement", "claude-opus-4-6", "done", 4.75, 75, 3.0, 120),
    ("c1", "gamma", "web", 7, "implement", "claude-sonnet-4-6", "stuck", 0.60, 14, 2.0, 15),
    ("c2", "alpha", "web", 7, "implement", "claude-haiku-4-5", "max_turns", 0.30, 80, 1.0, 30),
    ("d1", "gamma", "web", 9, "implement", "claude-sonnet-4-6", "done", 2.10, 33, 0.5, 50),
    ("old", "alpha", "api", 3, "implement", "claude-sonnet-4-6", "done", 9.99, 99, 20.0, 60),
]


def usage(cost: float) -> dict:
    return {"input_tokens": int(cost * 1000), "output_tokens": int(cost * 400),
            "cache_read_input_tokens": int(cost * 5000), "cache_creation_input_tokens": 100}


def fill_board(state_dir: Path, *, merged: bool = True, title: str = HOSTILE) -> Board:
    board = Board.open(state_dir)
    with board.transaction() as tx:
        for rid, machine, repo, issue, role, model, status, cost, turns, ago, minutes in RUNS:
            created = NOW - ago * DAY
            stream = {"model": model, "result": {"type": "result", "usage": usage(cost)}}
            tx.put(Assignment(
                id=rid, machine=machine, repo=repo, issue=issue, branch=f"issue-{issue}",
                title=title if issue == 1 else f"issue {issue}", model=model, role=role,
                status=status, created_at=created, started_at=created,
                finished_at=created + minutes * 60, cost_usd=cost, turns=turns,
                extra={"stream": stream}))
    if merged:
        add_work_items(board.path)
    return board


def add_work_items(board_file: Path) -> None:
    """The pipeline's tables as it writes them: api#1 and api#2 merged, web#7 open."""
    data = json.loads(board_file.read_text())
    data["work_items"] = {
        "api#1": {"repo": "api", "issue": 1, "stage": "merged", "updated_at": NOW - 5.5 * DAY},
        "api#2": {"repo": "api", "issue": 2, "stage": "merged", "updated_at": NOW - 2.0 * DAY},
        "web#7": {"repo": "web", "issue": 7, "stage": "implementing", "updated_at": NOW},
    }
    board_file.write_text(json.dumps(data))
    EventLog(board_file.parent / "events.jsonl").append(   # the history, since board schema 3
        [{"seq": 1, "work": "api#1", "kind": "pr_merged", "at": NOW - 5.6 * DAY, "run": "",
          "data": {}}])
