"""End to end on local and ssh machines, both launchers: a stopped run keeps its work (a labelled
rescue commit of its dirty worktree, pushed), and a failed push is `push_failed` with git's
message until `push_again` (`coordssh push ID`) pushes the kept commits."""

from __future__ import annotations

from pathlib import Path

import pytest

from coordssh.domain import models as m
from coordssh.errors import Refused, RunFailed
from coordssh.remote.envelope import RESCUE_MESSAGE
from coordssh.services.assign import AssignRequest, assign
from coordssh.services.repush import push_again
from coordssh.services.stop import stop
from coordssh.services.watch import wait_run
from tests.support.dispatch import contexts, world  # noqa: F401 (fixtures)
from tests.support.dispatch import git
from tests.support.envelopes import until

LONG = 300


async def start(ctx, machine, issue: int, scenario: str):
    result = await assign(ctx, AssignRequest(machine=machine.name, repo="demo", issue=issue,
                                             title=f"Scenario {scenario}",
                                             briefing=f"[[fake-claude:{scenario}]]"))
    return result.assignment


@pytest.mark.parametrize("launcher", ["nohup", "tmux"])
async def test_a_stopped_run_pushes_its_work_under_either_launcher(machine, launcher, contexts,
                                                                   world):
    ctx = contexts(machine, launcher=launcher)
    a = await start(ctx, machine, 11, "hang")
    stream = Path(a.run_dir) / "stream.jsonl"       # tmux: the pane may not have made it yet
    await until(lambda: stream.exists() and stream.stat().st_size > 0, LONG,
                "the run to write its init line")
    (Path(a.worktree) / "half-done.txt").write_text("work in progress\n")  # the agent's edit
    result = await stop(ctx, a.id)
    row = result.assignment
    assert row.status == m.CANCELLED and result.signal.stopped
    rescue = (Path(a.run_dir) / "rescue_sha").read_text().strip()
    assert git("log", "-1", "--format=%s", rescue, cwd=world.clone).strip() == \
        f"{RESCUE_MESSAGE} {a.id}"
    assert world.heads()[a.branch] == rescue
    assert row.pushed_sha == rescue and f"pushed {rescue[:7]}" in row.reason


@pytest.mark.parametrize("launcher", ["nohup", "tmux"])
async def test_a_failed_push_is_push_failed_until_pushed_again(machine, launcher, contexts,
                                                               world):
    hook = world.origin / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'push access denied for this worker' >&2\nexit 1\n")
    hook.chmod(0o755)
    ctx = contexts(machine, launcher=launcher)
    a = await start(ctx, machine, 12, "success")
    with pytest.raises(RunFailed):
        await wait_run(ctx, a.id, timeout=LONG)
    row = ctx.board.get(a.id)
    assert row.status == m.PUSH_FAILED and not row.pushed_sha
    assert "push access denied for this worker" in row.reason
    assert f"the commits stay on {a.branch} on {machine.name}" in row.reason
    assert f"`coordssh push {a.id}`" in row.reason
    assert a.branch not in world.heads()
    local = git("rev-parse", f"refs/heads/{a.branch}", cwd=world.clone).strip()

    still = await push_again(ctx, a.id)               # nothing fixed yet: the same outcome
    assert still.status == m.PUSH_FAILED and "push access denied" in still.reason
    hook.unlink()                                     # the operator fixed the access
    row = await push_again(ctx, a.id[:5])
    assert row.status == m.DONE and row.pushed_sha == local == world.heads()[a.branch]
    assert row.reason == f"pushed {local[:7]}"
    assert ctx.board.get(a.id).status == m.DONE


async def test_pushing_a_live_run_again_is_refused(local_machine, contexts):
    ctx = contexts(local_machine)
    a = await start(ctx, local_machine, 13, "hang")
    with pytest.raises(Refused) as info:
        await push_again(ctx, a.id)
    assert "it pushes its branch when it ends" in info.value.message


def test_cli_push_again_as_json(tmp_path, world, capsys):
    import json

    from coordssh.board.store import Board
    from coordssh.cli.main import main
    from tests.support.dispatch import FAKE_CLAUDE, finished, reap, wait_for

    config = tmp_path / "coordinator.yml"
    config.write_text(
        "repos:\n  - name: demo\nmachines:\n  - name: box\n    connection: local\n"
        f"    claude_command: {FAKE_CLAUDE}\n"
        f"    worktree_root: {tmp_path / 'wt'}\n    run_root: {tmp_path / 'runs'}\n"
        f"    repo_paths:\n      demo: {world.clone}\n")
    hook = world.origin / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'no push for you' >&2\nexit 1\n")
    hook.chmod(0o755)
    try:
        assert main(["assign", "box", "demo", "5", "--title", "Push me", "--json",
                     "--config", str(config)]) == 0
        run = json.loads(capsys.readouterr().out)
        wait_for(lambda: finished(run["run_dir"]))
        assert main(["status", "--json", "--config", str(config)]) == 0
        [row] = json.loads(capsys.readouterr().out)["assignments"]
        assert row["status"] == "push_failed" and "remote: no push for you" in row["reason"]
        assert main(["push", run["id"], "--config", str(config)]) == 1   # not fixed yet
        assert "push_failed" in capsys.readouterr().out
        hook.unlink()
        assert main(["push", run["id"], "--json", "--config", str(config)]) == 0
        row = json.loads(capsys.readouterr().out)
        assert row["status"] == "done" and row["pushed_sha"] == world.heads()[run["branch"]]
    finally:
        reap(Board.open(tmp_path / ".coordssh"))
