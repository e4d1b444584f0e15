"""Per-slot claude config dirs with the REAL claude CLI (tests/claude-code.version) against the
scripted model server, on a local and an ssh machine: a run in a slot keeps its session under
that slot's dir (not ~/.claude); continued while another run holds that slot, it runs in the
other slot with the transcript copied there, and `claude --resume` finds it (the server's first
request after it carries the earlier conversation)."""

from __future__ import annotations

import os
import signal
from dataclasses import replace
from pathlib import Path

import pytest

from coordssh.domain import models as m
from coordssh.services.assign import AssignRequest, assign
from coordssh.services.continue_run import continue_run
from coordssh.services.observe import observe
from coordssh.services.watch import wait_run
from tests.support.dispatch import contexts, world  # noqa: F401 (fixtures)
from tests.support.dispatch import envelope_file, finished, wait_for
from tests.support.model_server import tool_result_count, user_texts
from tests.test_real_followup import write_commit
from tests.test_slots import make_slots

pytestmark = pytest.mark.real_claude
LONG = 300


def transcripts(config_dir: Path, session_id: str) -> list[Path]:
    return list((config_dir / "projects").glob(f"*/{session_id}.jsonl"))


def saved_tool_results(config_dir: Path, session_id: str) -> int:
    return sum(p.read_text().count('"tool_result"') for p in transcripts(config_dir, session_id))


async def start(ctx, machine: str, issue: int):
    return (await assign(ctx, AssignRequest(machine=machine, repo="demo", issue=issue,
                                            title="Mark the file fixed",
                                            briefing="file.txt must say fixed."))).assignment


async def hold_a_slot(ctx, name: str, model_server, claude_env):
    """A run of another issue that stays live (its own server hangs), on the same machine."""
    hanging = model_server([{"hang": True}, {"text": "never sent"}])
    machines = ctx.config.machines
    ctx.config = replace(ctx.config, machines={name: replace(
        machines[name], env=claude_env.overrides(hanging))})
    try:
        holder = await start(ctx, name, 42)
    finally:
        ctx.config = replace(ctx.config, machines=machines)
    hanging.wait_for_requests(1)
    return holder


async def test_a_run_keeps_its_session_in_its_slot_and_continues_in_another(
        machine, contexts, world, tmp_path, claude_bin, model_server, claude_env):
    server = model_server([
        {"tool": {"name": "Write", "input": {"file_path": "draft.txt", "content": "draft\n"}}},
        {"hang": True},                                  # the first run, until it is killed
        *write_commit("done after the guidance\n", "Finish file.txt")])
    ctx = contexts(machine, claude_command=str(claude_bin), env=claude_env.overrides(server))
    one, two = (Path(d) for d in await make_slots(ctx, ctx.config.machines[machine.name],
                                                  tmp_path / "slots"))
    crashed = await start(ctx, machine.name, 41)
    assert crashed.extra["claude_config_dir"] == str(one)
    server.wait_for_requests(2)
    wait_for(lambda: saved_tool_results(one, crashed.session_id), LONG)   # in the slot's dir
    assert transcripts(claude_env.home / ".claude", crashed.session_id) == []
    os.killpg(int(envelope_file(crashed.run_dir, "claude_pid")), signal.SIGKILL)
    wait_for(lambda: finished(crashed.run_dir), LONG)
    await observe(ctx)
    assert ctx.board.get(crashed.id).status == m.CRASHED

    holder = await hold_a_slot(ctx, machine.name, model_server, claude_env)
    assert holder.extra["claude_config_dir"] == str(one)     # slot 1 was free again: taken
    before = len(server.main_requests())
    result = await continue_run(ctx, crashed.id, "Write file.txt and commit it.")
    run = result.assignment
    assert (run.extra["claude_config_dir"], run.session_id) == (str(two), crashed.session_id)
    done = await wait_run(ctx, run.id, timeout=LONG)
    resumed = server.main_requests()[before]["body"]
    earlier = user_texts(server.main_requests()[0]["body"])[-1]
    assert earlier.startswith("You are a software engineer") and earlier in user_texts(resumed)
    assert tool_result_count(resumed) == 1                    # the Write it made, resent
    assert user_texts(resumed)[-1].startswith("The operator read where you stopped and says:")
    assert done.status == m.DONE and world.heads()[crashed.branch] == done.pushed_sha
    assert saved_tool_results(two, crashed.session_id) > saved_tool_results(
        one, crashed.session_id)                              # it went on in slot 2
    assert server.problems == []
