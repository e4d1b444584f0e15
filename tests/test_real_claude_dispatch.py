"""coordssh dispatches the REAL claude CLI (tests/claude-code.version) on a local and an ssh
machine, both launchers; the scripted model server plays the model. The usage pattern for every
test that wants the real CLI behind `assign`."""

from __future__ import annotations

import pytest

from coordssh.domain import models as m
from coordssh.services.assign import AssignRequest, assign
from coordssh.services.observe import observe
from tests.support.dispatch import contexts, world  # noqa: F401 (fixtures)
from tests.support.dispatch import envelope_file, finished, git, wait_for
from tests.support.model_server import user_texts

pytestmark = pytest.mark.real_claude


@pytest.mark.parametrize("launcher", ["nohup", "tmux"])
async def test_the_real_cli_commits_and_coordssh_pushes(machine, launcher, contexts, world,
                                                        claude_bin, model_server, claude_env):
    server = model_server("commit_relative")
    ctx = contexts(machine, launcher=launcher, claude_command=str(claude_bin),
                   env=claude_env.overrides(server))
    result = await assign(ctx, AssignRequest(machine=machine.name, repo="demo", issue=7,
                                             title="Add hello", briefing="Say hello."))
    a = result.assignment
    wait_for(lambda: finished(a.run_dir))

    assert envelope_file(a.run_dir, "exit_code") == "0"
    pushed = envelope_file(a.run_dir, "pushed_sha")
    assert world.heads()[a.branch] == pushed
    assert git("show", "-s", "--format=%s", pushed, cwd=world.origin).strip() == "Add hello.txt"
    requests = server.main_requests()
    assert [r["served"] for r in requests] == ["tools:Write", "tools:Bash", "tools:Bash", "text"]
    assert user_texts(requests[0]["body"])[-1] == result.prompt
    assert server.problems == []
    observed = await observe(ctx, [machine.name])
    [row] = [r for r in observed.assignments if r.id == a.id]
    assert row.status == m.DONE and row.pushed_sha == pushed
