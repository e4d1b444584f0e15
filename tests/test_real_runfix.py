"""What real runs expose, through coordssh with the REAL claude CLI (tests/claude-code.version)
against the scripted model server, on a local and an ssh machine, both launchers: the model
shown, a 401 ending as auth_failed at once, API retries shown while they happen, denied tool
calls judged, and a stopped run keeping its work."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from coordssh.cli.render.assign import summary_text
from coordssh.cli.render.rows import doing
from coordssh.cli.render.status_json import row_json
from coordssh.config.schema import WorkerPermissions
from coordssh.domain import models as m
from coordssh.errors import RunFailed
from coordssh.remote.envelope import RESCUE_MESSAGE
from coordssh.services.assign import AssignRequest, assign
from coordssh.services.observe import observe
from coordssh.services.stop import stop
from coordssh.services.watch import wait_run
from tests.support.dispatch import contexts, world  # noqa: F401 (fixtures)
from tests.support.dispatch import envelope_file, git, wait_for

pytestmark = pytest.mark.real_claude
LONG = 300
LAUNCHERS = pytest.mark.parametrize("launcher", ["nohup", "tmux"])


def real(contexts, machine, launcher, claude_bin, claude_env, server, **options):
    return contexts(machine, launcher=launcher, claude_command=str(claude_bin),
                    env=claude_env.overrides(server), **options)


async def start(ctx, machine, issue: int, title: str = "Real work"):
    return await assign(ctx, AssignRequest(machine=machine.name, repo="demo", issue=issue,
                                           title=title, briefing="Do the work."))


async def row_now(ctx, machine, run_id):
    observed = await observe(ctx, [machine.name])
    return next(r for r in observed.assignments if r.id == run_id)


@LAUNCHERS
async def test_the_model_is_what_was_asked_for_then_what_init_reports(
        machine, launcher, contexts, world, claude_bin, model_server, claude_env):
    server = model_server("commit_relative")
    ctx = real(contexts, machine, launcher, claude_bin, claude_env, server)
    result = await start(ctx, machine, 21)
    shown = summary_text(result)
    assert "  model     sonnet (models.default)\n" in shown
    assert "claude-" not in shown.split("  run ")[0]      # no model id the CLI did not report
    row = await wait_run(ctx, result.assignment.id, timeout=LONG)
    assert row.status == m.DONE and world.heads()[row.branch] == row.pushed_sha
    [init] = [json.loads(line) for line in Path(row.run_dir, "stream.jsonl").read_text()
              .splitlines() if '"subtype":"init"' in line]
    assert row.model == init["model"] == server.main_requests()[0]["body"]["model"]
    assert row.model != "sonnet"                          # the CLI resolved its own alias
    assert row_json(row)["model_source"] == "models.default"


@LAUNCHERS
async def test_a_401_is_auth_failed_at_once_with_the_fix(machine, launcher, contexts, world,
                                                         claude_bin, model_server, claude_env):
    server = model_server("auth_401")
    ctx = real(contexts, machine, launcher, claude_bin, claude_env, server)
    a = (await start(ctx, machine, 22)).assignment
    with pytest.raises(RunFailed):
        await wait_run(ctx, a.id, timeout=LONG)
    row = ctx.board.get(a.id)
    assert row.status == m.AUTH_FAILED
    assert "authentication_failed (401)" in row.reason
    assert f"log in with `claude /login` on {machine.name}, or fix ANTHROPIC_API_KEY" in row.reason
    # within 15 s of the first retry (which follows the first request at once)
    started = int(envelope_file(a.run_dir, "started_at"))
    assert int(envelope_file(a.run_dir, "auth_failed")) - started <= 15
    assert row_json(row)["api_retries"] >= 1


@LAUNCHERS
async def test_retries_are_shown_while_they_happen_and_stop_cancels(
        machine, launcher, contexts, world, claude_bin, model_server, claude_env):
    server = model_server([{"error": 529, "repeat": "forever"}])
    ctx = real(contexts, machine, launcher, claude_bin, claude_env, server)
    a = (await start(ctx, machine, 23)).assignment
    for _ in range(LONG * 2):
        row = await row_now(ctx, machine, a.id)
        if row_json(row)["api_retry"]:
            break
    retry = row_json(row)["api_retry"]
    assert row.status == m.RUNNING and retry["error"] == "overloaded"
    assert retry["error_status"] == 529 and retry["max_retries"] == 10
    assert doing(row).startswith(f"API retry {retry['attempt']}/10: overloaded (529), next in")
    result = await stop(ctx, a.id)
    assert result.assignment.status == m.CANCELLED
    assert not Path(a.run_dir, "auth_failed").exists()


@LAUNCHERS
async def test_denied_calls_are_not_a_clean_outcome(machine, launcher, contexts, world,
                                                    claude_bin, model_server, claude_env):
    server = model_server("compound_denied")
    ctx = real(contexts, machine, launcher, claude_bin, claude_env, server)
    repo = replace(ctx.config.repos["demo"],
                   worker_permissions=WorkerPermissions(deny=("Bash(echo *)",)))
    ctx.config = replace(ctx.config, repos={"demo": repo})
    a = (await start(ctx, machine, 24)).assignment
    with pytest.raises(RunFailed):
        await wait_run(ctx, a.id, timeout=LONG)
    row = ctx.board.get(a.id)
    assert row.status == m.FAILED
    assert row.reason.startswith("1 tool call was denied (Bash(echo x > f.txt && git add f.txt")
    assert row.reason.endswith("allow it with worker_permissions.allow for repo demo in "
                               "coordinator.yml")
    data = row_json(row)
    assert data["denials"] == 1 and data["denied_tools"][0].startswith("Bash(echo x > f.txt")
    assert a.branch not in world.heads()


async def test_the_implement_playbook_lets_ordinary_work_through(
        local_machine, contexts, world, claude_bin, model_server, claude_env):
    """`python3 -m pytest` in a compound command: denied under the old, narrow allow-list."""
    command = "python3 -m pytest --version && git add f.txt && git commit -m 'add f'"
    server = model_server([
        {"tool": {"name": "Write", "input": {"file_path": "f.txt", "content": "x\n"}}},
        {"tool": {"name": "Bash", "input": {"command": command, "description": "Test, commit"}}},
        {"text": "Committed f.txt after checking pytest runs."}])
    ctx = real(contexts, local_machine, "nohup", claude_bin, claude_env, server)
    a = (await start(ctx, local_machine, 25)).assignment
    row = await wait_run(ctx, a.id, timeout=LONG)
    assert row.status == m.DONE and row_json(row)["denials"] == 0, row.reason
    assert git("show", "-s", "--format=%s", row.pushed_sha, cwd=world.origin).strip() == "add f"


@LAUNCHERS
async def test_a_stopped_real_run_keeps_its_work(machine, launcher, contexts, world, claude_bin,
                                                 model_server, claude_env):
    server = model_server([
        {"tool": {"name": "Write", "input": {"file_path": "draft.txt", "content": "draft\n"}}},
        {"hang": True}, {"text": "never"}])
    ctx = real(contexts, machine, launcher, claude_bin, claude_env, server)
    a = (await start(ctx, machine, 26)).assignment
    wait_for(lambda: (Path(a.worktree) / "draft.txt").exists(), LONG)
    server.wait_for_requests(2)                      # the CLI waits on the hung response
    result = await stop(ctx, a.id)
    row = result.assignment
    assert row.status == m.CANCELLED
    rescue = envelope_file(a.run_dir, "rescue_sha")
    assert git("log", "-1", "--format=%s", rescue, cwd=world.clone).strip() == \
        f"{RESCUE_MESSAGE} {a.id}"
    assert world.heads()[a.branch] == rescue == row.pushed_sha
    assert "draft.txt" in git("show", "--name-only", "--format=", rescue, cwd=world.clone)
