"""The machines hold the truth: runs the board does not know are found, shown and adopted, and
capacity counts them (issue 8, item 2). Real runs of the claude stand-in, real git, local and ssh.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from coordssh.domain import models as m
from coordssh.errors import Refused
from coordssh.remote.probe import probe
from coordssh.services.assign import AssignRequest, assign
from coordssh.services.observe import observe
from tests.support.dispatch import contexts, world  # noqa: F401 (fixtures)
from tests.support.envelopes import Envelopes, until

LONG = 300


async def start(ctx, machine, issue: int, scenario: str = "hang"):
    result = await assign(ctx, AssignRequest(machine=machine.name, repo="demo", issue=issue,
                                             title=f"Scenario {scenario}",
                                             briefing=f"[[fake-claude:{scenario}]]"))
    return result.assignment


def end_runs(runs) -> None:
    """Kill the runs started here whatever the board says (it was emptied)."""
    for row in runs:
        for name in ("claude_pid", "pid"):
            try:
                os.killpg(int((Path(row.run_dir) / name).read_text().strip()), signal.SIGKILL)
            except (OSError, ValueError):
                pass


@pytest.mark.parametrize("emptied", ["", '{"assignments":{},"kv":{},"meta":{"schema":{"version":1}}}'])
async def test_an_emptied_board_finds_running_work_and_keeps_capacity(machine, contexts, emptied):
    ctx = contexts(machine, max_workers=2)
    runs = [await start(ctx, machine, n) for n in (1, 2)]
    try:
        for row in runs:
            await until(lambda: (Path(row.run_dir) / "pid").exists(), LONG, "the run's pid")
        ctx.board.path.write_text(emptied)
        assert ctx.board.list() == []

        with pytest.raises(Refused) as refused:    # the capacity check itself finds them
            await start(ctx, machine, 3)
        assert "at capacity (2/2" in refused.value.message

        seen = await observe(ctx, [machine.name])
        assert seen.machine(machine.name).running == 2
        shown = {row.id: row for row in seen.assignments}
        assert set(shown) == {row.id for row in runs}
        for before in runs:
            row = shown[before.id]
            assert row.status == m.RUNNING and row.machine == machine.name
            assert (row.repo, row.issue, row.branch) == (before.repo, before.issue, before.branch)
            assert (row.run_dir, row.worktree) == (before.run_dir, before.worktree)
            assert (row.session_id, row.base_sha, row.launcher) == (
                before.session_id, before.base_sha, before.launcher)
            assert row.extra.get("adopted")
        assert {row.id for row in ctx.board.list(live_only=True)} == {row.id for row in runs}
    finally:
        end_runs(runs)


async def test_the_probe_lists_only_unknown_live_runs_with_meta(machine, transport, tmp_path):
    env = Envelopes(Path(machine.run_root))
    try:
        meta = json.dumps({"id": "x", "repo": "demo", "issue": 1}) + "\n"
        env.make("known1", files={"meta.json": meta})
        env.make("orphan1", files={"meta.json": meta})
        env.make("nometa1")                                  # not ours: no meta.json
        env.make("dead1", live=False, files={"meta.json": meta})
        env.make(".doctor-abc", files={"meta.json": meta})  # the doctor's scratch dir
        report = await probe(transport, machine.run_root, {"known1": None}, scan=True)
        assert set(report.runs) == {"known1", "orphan1"}
        assert not report.runs["known1"].found and report.runs["orphan1"].found
        run_dir, found_meta = report.runs["orphan1"].found_meta()
        assert run_dir == str(Path(machine.run_root) / "orphan1")
        assert found_meta == {"id": "x", "repo": "demo", "issue": 1}
    finally:
        env.cleanup()
