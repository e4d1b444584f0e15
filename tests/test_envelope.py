"""The run envelope: run.sh rendering (golden shape, quoting), meta.json, the tar, and the
wrapper's behaviour run for real (`sh run.sh` around the claude stand-in in a real worktree)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import tarfile
import uuid
from pathlib import Path

import pytest

from coordssh.agent.claude import build_claude_command
from coordssh.domain.models import Assignment
from coordssh.errors import ConfigError
from coordssh.remote.envelope import (RESCUE_MESSAGE, Limits, bundle, env_command,
                                      envelope_files, render_meta, render_run_sh)
from coordssh.shell.command import Command
from tests.support.dispatch import (FAKE_CLAUDE, GitWorld, envelope_file, finished, git,
                                    wait_for)

HOSTILE = "it's \"$(touch /tmp/pwned-{u})\" `touch /tmp/pwned-{u}` $HOME\nnext line ü ✓"


def _assignment(tmp_path: Path, **changes) -> Assignment:
    fields = dict(id="ab12cd34", machine="box", repo="demo", issue=7, branch="issue-7-x",
                  base_sha="0" * 40, worktree=str(tmp_path / "wt"), run_dir=str(tmp_path / "run"),
                  model="claude-sonnet-4-6", session_id=str(uuid.uuid4()), created_at=1.5)
    fields.update(changes)
    return Assignment(**fields)


def test_run_sh_has_one_value_line_and_a_constant_body(tmp_path):
    marker = f"/tmp/pwned-{uuid.uuid4().hex}"
    a = _assignment(tmp_path, branch="issue-7-x", worktree=str(tmp_path / "w t'$(touch x)"))
    launch = env_command({"NOTE": f"$(touch {marker})"}, Command("/opt/claude", "-p"))
    text = render_run_sh(a, Limits.of(2.5, 60), launch)
    lines = text.splitlines()
    assert lines[0] == "#!/bin/sh"
    values = [line for line in lines if line.startswith("set -- ")]
    assert len(values) == 1
    other = render_run_sh(_assignment(tmp_path, id="ffff0000", branch="issue-9-y"),
                          Limits.of(30, 3600), env_command({}, Command("/c")))
    body = text.split(values[0] + "\n", 1)[1]
    other_values = next(line for line in other.splitlines() if line.startswith("set -- "))
    assert body == other.split(other_values + "\n", 1)[1]   # only the values line differs
    subprocess.run(["sh", "-n"], input=text.encode(), check=True)
    # the values line, run by sh, sets exactly our values (nothing is executed)
    dump = values[0] + '\nfor a in "$@"; do printf "%s\\0" "$a"; done\n'
    out = subprocess.run(["sh", "-c", dump], capture_output=True, check=True).stdout
    args = out.decode().split("\0")[:-1]
    assert args[:7] == [a.run_dir, a.worktree, a.branch, a.base_sha, "3", "60", a.id]
    assert args[7:] == ["env", "-u", "CLAUDECODE", "DISABLE_AUTOUPDATER=1",
                        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1", f"NOTE=$(touch {marker})",
                        "/opt/claude", "-p"]
    assert not Path(marker).exists()


def test_env_command_masks_secrets_and_lets_the_machine_override():
    launch = env_command({"ANTHROPIC_API_KEY": "sk-live-123", "DISABLE_AUTOUPDATER": "0"},
                         Command("/c"))
    assert "sk-live-123" not in launch.display() and "***" in launch.display()
    assert "sk-live-123" in launch.render()
    argv = launch.argv()
    assert "DISABLE_AUTOUPDATER=0" in argv and "DISABLE_AUTOUPDATER=1" not in argv
    with pytest.raises(ConfigError) as info:
        env_command({"BAD NAME": "x"}, Command("/c"))
    assert "not a valid environment variable name" in info.value.message


def test_meta_and_tar(tmp_path):
    a = _assignment(tmp_path)
    meta = json.loads(render_meta(a))
    assert {k: meta[k] for k in ("id", "repo", "issue", "branch", "base_sha", "model", "role",
                                 "launcher")} == {
        "id": a.id, "repo": "demo", "issue": 7, "branch": "issue-7-x", "base_sha": "0" * 40,
        "model": "claude-sonnet-4-6", "role": "implement", "launcher": "nohup"}
    prompt = HOSTILE.format(u="x")
    files = envelope_files(a, prompt, "#!/bin/sh\n")
    with tarfile.open(fileobj=io.BytesIO(bundle(files, mtime=1000)), mode="r") as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert set(members) == {"prompt.md", "run.sh", "meta.json"}
        assert members["run.sh"].mode == 0o700 and members["prompt.md"].mode == 0o600
        assert tar.extractfile("prompt.md").read() == prompt.encode()


# --- the wrapper, for real ----------------------------------------------------------------------
def _worktree_and_run(tmp_path: Path) -> tuple[GitWorld, Assignment, Path]:
    """A worktree on a new branch from origin/main, its assignment, and an empty run dir."""
    world = GitWorld.create(tmp_path / "git")
    base = git("rev-parse", "origin/main", cwd=world.clone).strip()
    worktree, run_dir = tmp_path / "wt", tmp_path / "run"
    git("worktree", "add", "-q", "-b", "issue-7-x", str(worktree), base, cwd=world.clone)
    run_dir.mkdir(mode=0o700)
    return world, _assignment(tmp_path, base_sha=base, worktree=str(worktree),
                              run_dir=str(run_dir)), run_dir


@pytest.fixture
def stage(tmp_path):
    """A worktree on a new branch from origin/main, and a run dir; `start(scenario)` runs
    run.sh under setsid like the nohup launcher does."""
    world, a, run_dir = _worktree_and_run(tmp_path)
    procs = []

    def start(scenario: str, *, grace: float = 30, max_runtime: float = 600,
              prompt: str = "do it\n") -> subprocess.Popen:
        claude = build_claude_command(str(FAKE_CLAUDE), model="sonnet", permission_mode="acceptEdits",
                                      allowed_tools=("Read",), max_turns=5, max_budget_usd=None,
                                      session_id=a.session_id)
        launch = env_command({"FAKE_CLAUDE_SCENARIO": scenario}, claude)
        for name, (data, mode) in envelope_files(
                a, prompt, render_run_sh(a, Limits.of(grace, max_runtime), launch)).items():
            (run_dir / name).write_bytes(data)
            os.chmod(run_dir / name, mode)
        proc = subprocess.Popen(["setsid", "sh", str(run_dir / "run.sh")], stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(proc)
        return proc

    yield world, a, run_dir, start
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _read(run_dir: Path, name: str) -> str:
    return envelope_file(str(run_dir), name)


def _finished(run_dir: Path) -> bool:
    return finished(str(run_dir))


def test_success_pushes_the_branch_and_records_everything(stage):
    world, a, run_dir, start = stage
    start("success")
    wait_for(lambda: _finished(run_dir))
    assert _read(run_dir, "exit_code") == "0" and _read(run_dir, "claude_exit") == "0"
    assert int(_read(run_dir, "pid")) > 0 and int(_read(run_dir, "started_at")) > 0
    pushed = _read(run_dir, "pushed_sha")
    assert pushed and world.heads()["issue-7-x"] == pushed
    assert not (run_dir / "rescue_sha").exists()
    for name in ("exit_code", "finished_at", "stream.jsonl", "pid"):
        assert (run_dir / name).stat().st_mode & 0o077 == 0, name


def test_dirty_worktree_gets_a_labelled_rescue_commit(stage):
    world, a, run_dir, start = stage
    start("dirty")
    wait_for(lambda: _finished(run_dir))
    rescue = _read(run_dir, "rescue_sha")
    assert git("log", "-1", "--format=%s", rescue, cwd=world.clone).strip() == \
        f"{RESCUE_MESSAGE} {a.id}"
    assert git("status", "--porcelain", cwd=Path(a.worktree)) == ""
    assert world.heads()["issue-7-x"] == rescue == _read(run_dir, "pushed_sha")


def test_lingering_claude_is_ended_after_the_grace_and_the_result_stands(stage):
    world, a, run_dir, start = stage
    start("linger", grace=2)
    wait_for(lambda: _finished(run_dir))
    assert (run_dir / "lingered").exists()
    assert _read(run_dir, "claude_exit") != "0"      # it was killed...
    assert _read(run_dir, "exit_code") == "0"        # ...but its success result stands
    last = (run_dir / "stream.jsonl").read_bytes().splitlines()[-1]
    assert json.loads(last)["type"] == "result"
    claude_pid = int(_read(run_dir, "claude_pid"))
    with pytest.raises(ProcessLookupError):
        os.killpg(claude_pid, 0)


def test_max_runtime_ends_a_hung_run(stage):
    world, a, run_dir, start = stage
    start("hang", max_runtime=2)
    wait_for(lambda: _finished(run_dir))
    assert (run_dir / "timed_out").exists()
    assert _read(run_dir, "exit_code") != "0"


def test_term_to_the_wrapper_group_writes_the_exit_code_and_ends_claude(stage):
    world, a, run_dir, start = stage
    proc = start("hang")
    wait_for(lambda: (run_dir / "claude_pid").exists())
    claude_pid = int(_read(run_dir, "claude_pid"))
    os.killpg(int(_read(run_dir, "pid")), signal.SIGTERM)
    wait_for(lambda: _finished(run_dir))
    assert _read(run_dir, "exit_code") == "143"
    assert proc.wait(timeout=60) == 143
    with pytest.raises(ProcessLookupError):
        os.killpg(claude_pid, 0)


def test_a_hostile_prompt_is_only_data(stage):
    world, a, run_dir, start = stage
    u = uuid.uuid4().hex
    prompt = HOSTILE.format(u=u)
    start("success", prompt=prompt)
    wait_for(lambda: _finished(run_dir))
    assert (run_dir / "prompt.md").read_bytes() == prompt.encode()
    assert not Path(f"/tmp/pwned-{u}").exists()


def test_a_stop_that_came_before_the_wrapper_started_is_honoured(stage):
    world, a, run_dir, start = stage
    (run_dir / "cancelled").write_text("1\n")
    proc = start("success")
    assert proc.wait(timeout=60) == 130
    assert _read(run_dir, "exit_code") == "130" and _finished(run_dir)
    assert not (run_dir / "claude_pid").exists()         # claude was never started
    assert "issue-7-x" not in world.heads()


def test_the_agent_can_be_interrupted_with_sigint(tmp_path):
    """`stop` sends INT first: the agent must not inherit the ignored SIGINT of a background job."""
    world = GitWorld.create(tmp_path / "git")
    base = git("rev-parse", "origin/main", cwd=world.clone).strip()
    worktree, run_dir = tmp_path / "wt", tmp_path / "run"
    git("worktree", "add", "-q", "-b", "issue-7-x", str(worktree), base, cwd=world.clone)
    run_dir.mkdir(mode=0o700)
    agent = tmp_path / "agent.sh"  # relies on the default INT disposition: no trap
    agent.write_text("#!/bin/sh\ncat >/dev/null\nexec sleep 300\n")
    agent.chmod(0o755)
    a = _assignment(tmp_path, base_sha=base, worktree=str(worktree), run_dir=str(run_dir))
    text = render_run_sh(a, Limits.of(30, 600), env_command({}, Command(str(agent))))
    for name, (data, mode) in envelope_files(a, "go\n", text).items():
        (run_dir / name).write_bytes(data)
        os.chmod(run_dir / name, mode)
    # started the way the nohup launcher starts it: in the background of a non-interactive sh
    subprocess.run(["sh", "-c", 'setsid sh "$1" </dev/null >/dev/null 2>&1 &', "sh",
                    str(run_dir / "run.sh")], check=True)
    wait_for(lambda: (run_dir / "claude_pid").exists())
    os.killpg(int(_read(run_dir, "claude_pid")), signal.SIGINT)
    wait_for(lambda: _finished(run_dir))
    assert _read(run_dir, "claude_exit") == "130"


# --- a stage whose agent is a small script (what the stand-in cannot be made to do) -------------
INIT = ('{"type":"system","subtype":"init","session_id":"5f0c8c4e-7d3c-4a53-9a8a-3f1c2f0d6b11",'
        '"model":"claude-sonnet-5-5","cwd":"/w","claude_code_version":"2.1.328"}')


def _retry(status: int, error: str) -> str:
    return ('{"type":"system","subtype":"api_retry","attempt":1,"max_retries":10,'
            f'"retry_delay_ms":543,"error_status":{status},"error":"{error}",'
            '"session_id":"5f0c8c4e-7d3c-4a53-9a8a-3f1c2f0d6b11","uuid":"u1"}')


@pytest.fixture
def scripted(tmp_path):
    """start(agent_sh_body, *, background) runs run.sh around `sh -c BODY` in a real worktree:
    `background=True` as the nohup launcher starts it (INT ignored by the wrapper), False as a
    tmux pane does (the wrapper gets every signal)."""
    world, a, run_dir = _worktree_and_run(tmp_path)
    started = []

    def start(body: str, *, background: bool = False) -> None:
        agent = tmp_path / "agent.sh"
        agent.write_text("#!/bin/sh\ncat >/dev/null\n" + body)
        agent.chmod(0o755)
        text = render_run_sh(a, Limits.of(30, 600), env_command({}, Command(str(agent))))
        for name, (data, mode) in envelope_files(a, "go\n", text).items():
            (run_dir / name).write_bytes(data)
            os.chmod(run_dir / name, mode)
        script = ('setsid sh "$1" </dev/null >/dev/null 2>&1 &' if background
                  else 'exec setsid sh "$1" </dev/null >/dev/null 2>&1')
        if background:
            subprocess.run(["sh", "-c", script, "sh", str(run_dir / "run.sh")], check=True)
        else:
            started.append(subprocess.Popen(["sh", "-c", script, "sh", str(run_dir / "run.sh")]))
        wait_for(lambda: (run_dir / "claude_pid").exists())

    yield world, a, run_dir, start
    for name in ("claude_pid", "pid"):
        try:
            os.killpg(int(_read(run_dir, name)), signal.SIGKILL)
        except (OSError, ValueError):
            pass
    for proc in started:
        proc.wait()


def test_an_authentication_retry_ends_the_run_at_once(scripted):
    """The real CLI retries a 401 for minutes; waiting cannot help. The agent here sleeps an hour,
    far past the test's wait and the fixture's max runtime (which did not end it: no `timed_out`),
    so the run finishing at all is the wrapper reacting to the retry line."""
    world, a, run_dir, start = scripted
    start(f"echo '{INIT}'\necho '{_retry(401, 'authentication_failed')}'\nexec sleep 3600\n")
    wait_for(lambda: _finished(run_dir))
    assert _read(run_dir, "auth_failed").isdigit()
    assert not (run_dir / "timed_out").exists()
    assert _read(run_dir, "exit_code") != "0"
    with pytest.raises(ProcessLookupError):
        os.killpg(int(_read(run_dir, "claude_pid")), 0)


def test_a_403_retry_is_an_auth_failure_too_but_an_overload_is_waited_out(scripted):
    world, a, run_dir, start = scripted
    result = ('{"type":"result","subtype":"success","is_error":false,"num_turns":1,'
              '"result":"ok","session_id":"5f0c8c4e-7d3c-4a53-9a8a-3f1c2f0d6b11"}')
    start(f"echo '{INIT}'\necho '{_retry(529, 'overloaded')}'\nsleep 3\necho '{result}'\n")
    wait_for(lambda: _finished(run_dir))
    assert not (run_dir / "auth_failed").exists() and _read(run_dir, "exit_code") == "0"
    for name in ("finished_at", "exit_code", "claude_exit", "pushed_sha"):
        (run_dir / name).unlink()
    start(f"echo '{INIT}'\necho '{_retry(403, 'unknown')}'\nexec sleep 300\n")
    wait_for(lambda: _finished(run_dir))
    assert (run_dir / "auth_failed").exists()


@pytest.mark.parametrize("sig, background", [
    (signal.SIGINT, False),     # `stop` on a tmux run: the pane's wrapper gets the INT
    (signal.SIGTERM, False),
    (signal.SIGHUP, False),     # the tmux session closed
    (signal.SIGINT, True),      # `stop` on a nohup run: INT reaches only the agent
])
def test_a_stopped_run_keeps_its_work(scripted, sig, background):
    """Whatever ends it, the dirty worktree gets its rescue commit and the branch is pushed."""
    world, a, run_dir, start = scripted
    start(f"echo '{INIT}'\necho half done > half.txt\nexec sleep 300\n", background=background)
    wait_for(lambda: (Path(a.worktree) / "half.txt").exists())
    os.killpg(int(_read(run_dir, "pid")), sig)     # both groups, as `coordssh stop` does;
    with contextlib.suppress(ProcessLookupError):    # the wrapper's trap may have ended
        os.killpg(int(_read(run_dir, "claude_pid")), sig)  # the agent's already
    wait_for(lambda: _finished(run_dir))
    rescue = _read(run_dir, "rescue_sha")
    assert git("log", "-1", "--format=%s", rescue, cwd=world.clone).strip() == \
        f"{RESCUE_MESSAGE} {a.id}"
    assert world.heads()["issue-7-x"] == rescue == _read(run_dir, "pushed_sha")


def test_a_failed_push_is_recorded_and_can_be_pushed_again(stage):
    world, a, run_dir, start = stage
    hook = world.origin / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'push access denied for this worker' >&2\nexit 1\n")
    hook.chmod(0o755)
    start("success")
    wait_for(lambda: _finished(run_dir))
    assert (run_dir / "push_failed").exists() and not (run_dir / "pushed_sha").exists()
    assert "push access denied for this worker" in (run_dir / "push.log").read_text()
    assert "issue-7-x" not in world.heads()
    hook.unlink()
    again = subprocess.run(["sh", str(run_dir / "run.sh")], env={**os.environ,
                           "COORDSSH_PUSH_ONLY": "1"}, capture_output=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert not (run_dir / "push_failed").exists()
    assert world.heads()["issue-7-x"] == _read(run_dir, "pushed_sha")
    assert _read(run_dir, "exit_code") == "0"      # the run's own record is untouched
