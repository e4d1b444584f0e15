"""tmux hygiene: when observe sees a tmux run end, its pane goes to pane.log and its session ends.

Real runs in real tmux sessions (local and over the real sshd), with the claude stand-in.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
from pathlib import Path

from coordssh.domain import models as m
from coordssh.remote.tmux import reap_panes, session_name
from coordssh.services.assign import AssignRequest, assign
from coordssh.services.attach import attach_plan
from coordssh.services.housekeeping import act_on
from coordssh.services.observe import observe
from tests.support.dispatch import contexts, world  # noqa: F401 (fixtures)
from tests.support.dispatch import finished, wait_for


def has_session(assignment_id: str) -> bool:
    return subprocess.run(["tmux", "has-session", "-t", f"={session_name(assignment_id)}"],
                          capture_output=True, check=False).returncode == 0


def pane_dead(assignment_id: str) -> bool:
    out = subprocess.run(["tmux", "list-panes", "-t", f"={session_name(assignment_id)}:", "-F",
                          "#{pane_dead}"], capture_output=True, text=True, check=False)
    return out.stdout.strip() == "1"


async def test_a_finished_tmux_run_is_captured_and_its_session_ended(machine, contexts):
    ctx = contexts(machine, launcher="tmux")
    result = await assign(ctx, AssignRequest(machine=machine.name, repo="demo", issue=5,
                                             title="Say hello"))
    a = result.assignment
    # live: the session is there to attach to
    assert has_session(a.id)
    assert attach_plan(ctx, a.id).command is not None
    wait_for(lambda: finished(a.run_dir))
    assert pane_dead(a.id)            # remain-on-exit keeps the dead pane until observed

    observed = await observe(ctx, [machine.name])

    [row] = [r for r in observed.assignments if r.id == a.id]
    assert row.status == m.DONE
    assert not has_session(a.id)
    pane_log = Path(a.run_dir) / "pane.log"
    assert pane_log.is_file() and stat.S_IMODE(pane_log.stat().st_mode) == 0o600
    assert (Path(a.run_dir) / "tmux_session").read_text().strip() == session_name(a.id)

    again = await observe(ctx, [machine.name])    # idempotent: nothing left to do
    assert [r.status for r in again.assignments if r.id == a.id] == [m.DONE]


async def test_a_killed_tmux_run_is_reaped_too(machine, contexts):
    ctx = contexts(machine, launcher="tmux")
    result = await assign(ctx, AssignRequest(machine=machine.name, repo="demo", issue=6,
                                             title="Hang around",
                                             briefing="[[fake-claude:hang]]"))
    a = result.assignment
    run_dir = Path(a.run_dir)
    wait_for(lambda: (run_dir / "claude_pid").exists())
    for name in ("claude_pid", "pid"):           # SIGKILL: no trap, so no finished_at
        os.killpg(int((run_dir / name).read_text().strip()), signal.SIGKILL)
    wait_for(lambda: pane_dead(a.id))

    observed = await observe(ctx, [machine.name])

    [row] = [r for r in observed.assignments if r.id == a.id]
    assert row.status == m.CRASHED and not finished(a.run_dir)
    assert has_session(a.id)                    # reads observe; the act step reaps
    assert "reaped" in (await act_on(ctx, observed))[a.id]
    assert not has_session(a.id) and (run_dir / "pane.log").is_file()


async def test_reaping_a_missing_session_is_fine(machine, transport, tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    await reap_panes(transport, [(str(run_dir), "coordssh-no-such-session")])
    await reap_panes(transport, [])
    assert list(run_dir.iterdir()) == []
