"""The observing commands through the real entry point (`coordssh.cli.main.main`): status (human
and --json), wait/watch exit codes, log, stop and attach, over a coordinator.yml with a local
machine and, for `status`, an ssh machine that cannot be reached."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from coordssh.board.store import Board
from coordssh.cli.main import main
from coordssh.cli.render.status import ASSIGNMENT_KEYS, MACHINE_KEYS
from coordssh.config.load import load_config
from coordssh.domain import models as m
from coordssh.services.attach import attach_plan
from tests.support.envelopes import Envelopes, assignment_for, fixture, make_context
from tests.support.sshd import free_port

SUCCESS = fixture("success.jsonl")
FIRST_LINES = b"".join(SUCCESS.splitlines(keepends=True)[:3])


@pytest.fixture
def setup(tmp_path):
    """A coordinator.yml with local machine `box`; its board; envelopes under its run_root."""
    config = tmp_path / "coordinator.yml"
    config.write_text(
        "repos:\n  - name: demo\n"
        "machines:\n"
        "  - name: box\n    connection: local\n"
        f"    worktree_root: {tmp_path / 'wt'}\n    run_root: {tmp_path / 'runs'}\n"
        "runs:\n  result_grace: 2\n  stop_grace: 1\n")
    (tmp_path / "runs").mkdir()
    env = Envelopes(tmp_path / "runs")
    yield config, env
    env.cleanup()


def row_on(config: Path, machine: str, run_id: str, **fields):
    cfg = load_config(str(config))
    board = Board.open(cfg.state_dir)
    row = assignment_for(cfg.machines[machine], run_id, **fields)
    board.put(row)
    return row


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_status_json_has_exactly_the_documented_keys(setup, capsys):
    config, env = setup
    env.make("ok1", stream=SUCCESS, live=False).finish(0, pushed_sha="abc1234")
    env.make("run1", stream=FIRST_LINES)
    row_on(config, "box", "ok1")
    row_on(config, "box", "run1", title="x")
    code, out, _ = run_cli(capsys, "status", "--json", "--config", str(config))
    assert code == 0
    data = json.loads(out)
    assert list(data) == ["machines", "assignments"]
    [box] = data["machines"]
    assert tuple(box) == MACHINE_KEYS
    assert box == {"name": "box", "reachable": True, "error": "", "running": 1, "max_workers": 2,
                   "note": "", "account": "machine:box", "parked_until": None,
                   "stale_since": None, "disk": None}
    rows = {a["id"]: a for a in data["assignments"]}
    assert all(tuple(a) == ASSIGNMENT_KEYS for a in rows.values())
    assert rows["ok1"]["status"] == "done" and rows["ok1"]["turns"] == 6
    assert rows["ok1"]["cost_usd"] == pytest.approx(0.13223)
    assert rows["run1"]["status"] == "running" and rows["run1"]["model"] == "claude-sonnet-4-6"


def test_status_json_is_one_line_when_piped_and_indented_on_a_terminal(setup, capsys, monkeypatch):
    config, _ = setup
    code, out, _ = run_cli(capsys, "status", "--json", "--config", str(config))
    assert code == 0 and out.count("\n") == 1  # capsys is not a terminal
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    code, tty_out, _ = run_cli(capsys, "status", "--json", "--config", str(config))
    assert code == 0 and tty_out.startswith('{\n  "machines": [')
    assert json.loads(tty_out) == json.loads(out)


def test_status_human_names_the_config_and_the_runs(setup, capsys):
    config, env = setup
    env.make("ok2", stream=SUCCESS, live=False).finish(0, pushed_sha="abc1234")
    row_on(config, "box", "ok2")
    code, out, _ = run_cli(capsys, "status", "--config", str(config))
    assert code == 0
    assert str(config) in out.replace("\n", "")
    assert "ok2" in out and "done" in out and "$0.13" in out and "demo#1" in out


def test_status_of_an_unknown_machine_is_a_usage_error(setup, capsys):
    config, _ = setup
    code, _, err = run_cli(capsys, "status", "--machine", "nope", "--config", str(config))
    assert code == 2 and "unknown machine 'nope'" in err


@pytest.mark.ssh
def test_an_unreachable_machine_shows_unknown_and_others_still_report(setup, capsys, sshd,
                                                                      ssh_home):
    config, env = setup
    config.write_text(config.read_text().replace("runs:\n", (
        "  - name: down\n    host: 127.0.0.1\n    connection: ssh\n"
        f"    port: {free_port()}\n    user: {sshd.user}\n"
        f"    identity_file: {sshd.client_key}\n    connect_timeout: 3\n"
        f"    run_root: {config.parent / 'far'}\n"
        "runs:\n"), 1))
    env.make("near", stream=FIRST_LINES)
    row_on(config, "box", "near")
    row_on(config, "down", "far1")
    code, out, _ = run_cli(capsys, "status", "--json", "--config", str(config))
    assert code == 0
    data = json.loads(out)
    machines = {mo["name"]: mo for mo in data["machines"]}
    assert not machines["down"]["reachable"] and machines["down"]["error"]
    assert machines["box"]["reachable"] and machines["box"]["running"] == 1
    rows = {a["id"]: a for a in data["assignments"]}
    assert rows["far1"]["status"] == "unknown" and rows["near"]["status"] == "running"

    code, out, _ = run_cli(capsys, "status", "--config", str(config))
    assert code == 0 and "unreachable" in out and "unknown" in out


def test_wait_exit_codes(setup, capsys):
    config, env = setup
    env.make("good", stream=SUCCESS, live=False).finish(0, pushed_sha="abc1234")
    env.make("bad", stream=fixture("max_turns.jsonl"), live=False).finish(1)
    env.make("slow", stream=FIRST_LINES)
    for run_id in ("good", "bad", "slow"):
        row_on(config, "box", run_id)
    base = ["--config", str(config)]
    code, out, _ = run_cli(capsys, "wait", "good", *base)
    assert code == 0 and out.startswith("good done")
    code, out, err = run_cli(capsys, "wait", "bad", *base)
    assert code == 1 and "max_turns" in out and "hint:" in err
    code, _, err = run_cli(capsys, "wait", "nosuch", *base)
    assert code == 2 and "no assignment" in err
    code, _, err = run_cli(capsys, "wait", "slow", "--timeout", "1", *base)
    assert code == 3 and "did not end" in err


def test_watch_prints_key_events_then_the_outcome(setup, capsys):
    config, env = setup
    env.make("w1", stream=SUCCESS, live=False).finish(0, pushed_sha="abc1234")
    row_on(config, "box", "w1", status=m.DONE, reason="pushed abc1234", cost_usd=0.13223,
           turns=6, duration_s=31)
    code, out, _ = run_cli(capsys, "watch", "w1", "--config", str(config))
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("* started: model claude-sonnet-4-6")
    assert any(line.startswith("> Read: ") for line in lines)
    assert any(line == "# STATUS: running tests" for line in lines)
    assert lines[-1] == "w1 done: pushed abc1234 ($0.13, 6 turns, 31s)"
    code, everything, _ = run_cli(capsys, "watch", "w1", "--all", "--config", str(config))
    assert code == 0 and len(everything.splitlines()) > len(lines)


def test_log_prints_the_raw_stream(setup, capsys):
    config, env = setup
    env.make("l1", stream=SUCCESS, live=False).finish(0)
    row_on(config, "box", "l1")
    code = main(["log", "l1", "--config", str(config)])
    out = capsys.readouterr().out
    assert code == 0 and out.encode() == SUCCESS


def test_stop_through_the_cli(setup, capsys):
    config, env = setup
    run = env.make("s1", stream=FIRST_LINES)
    row_on(config, "box", "s1")
    code, out, _ = run_cli(capsys, "stop", "s1", "--config", str(config))
    assert code == 0 and out.startswith("stopped after SIG") and "cancelled" in out
    assert not run.alive() or run.kill() is None
    code, out, _ = run_cli(capsys, "stop", "s1", "--config", str(config))
    assert code == 0 and out.startswith("nothing to stop")


def test_attach_plans(tmp_path, local_machine):
    ctx = make_context(tmp_path, local_machine)
    ctx.board.put(assignment_for(local_machine, "n1", launcher="nohup"))
    ctx.board.put(assignment_for(local_machine, "t1", launcher="tmux"))
    assert attach_plan(ctx, "n1").follow_log
    assert attach_plan(ctx, "t1").local
    assert attach_plan(ctx, "t1").command.argv() == ["tmux", "attach-session", "-t",
                                                     "=coordssh-t1"]


@pytest.mark.ssh
def test_attach_to_a_remote_tmux_run_runs_tmux_on_the_worker(tmp_path, ssh_machine):
    # over coordssh's own SSH connection (tests/test_attach.py attaches for real), not `ssh`
    ctx = make_context(tmp_path, ssh_machine)
    ctx.board.put(assignment_for(ssh_machine, "t2", launcher="tmux"))
    plan = attach_plan(ctx, "t2")
    assert not plan.local
    assert plan.command.argv() == ["tmux", "attach-session", "-t", "=coordssh-t2"]


def test_live_refuses_what_it_cannot_do_with_a_clear_usage_error(setup, capsys):
    config, _ = setup
    for args, said in ((["--live"], "not one"), (["--live", "--json"], "not both"),
                       (["--refresh", "5"], "only goes with --live"),
                       (["--live", "--refresh", "soon"], "--refresh soon"),
                       (["--live", "--refresh=0"], "from 0.2 to 3600")):
        code, out, err = run_cli(capsys, "status", "--config", str(config), *args)
        assert code == 2 and said in err and "hint:" in err, (args, err)
        assert out == ""


# --- the fast path (cli/fastpath.py): plain `status` lines run without typer ----------------------
def test_fast_path_takes_the_plain_forms_of_status_and_leaves_the_rest_to_typer():
    from coordssh.cli.fastpath import STATUS_OPTIONS, parse_options

    def parse(*argv):
        return parse_options(list(argv), STATUS_OPTIONS)

    assert parse() == {"machine": None, "json_output": False, "live": False, "refresh": None,
                       "config": None}
    assert parse("--json", "-m", "a", "--machine=b", "--config", "c.yml") == {
        "machine": ["a", "b"], "json_output": True, "live": False, "refresh": None,
        "config": "c.yml"}
    assert parse("--config=x.yml", "--live", "--refresh", "5")["refresh"] == "5"
    for typers in (["--help"], ["--jsn"], ["-mbox"], ["--config"], ["--config", "--json"],
                   ["--json=1"], ["--config", "a", "--config", "b"], ["extra"], ["--", "x"]):
        assert parse(*typers) is None, typers


def test_the_typer_status_command_is_built_from_the_fast_path_options():
    import typer.main

    from coordssh.cli.app import build_app
    from coordssh.cli.fastpath import STATUS_OPTIONS

    group = typer.main.get_command(build_app())
    command = group.commands["status"]
    params = {p.name: p for p in command.params if p.param_type_name == "option"}
    assert set(params) == set(STATUS_OPTIONS)
    for name, (flags, takes_value, repeatable, help_text) in STATUS_OPTIONS.items():
        assert tuple(params[name].opts + params[name].secondary_opts) == flags
        assert params[name].is_flag is not takes_value and params[name].multiple is repeatable
        assert params[name].help == help_text


def test_status_json_imports_neither_typer_nor_rich_nor_the_lock(setup):
    config, _ = setup
    Board.open(load_config(str(config)).state_dir)  # created (under the lock) before
    script = ("import sys\nfrom coordssh.cli.main import main\n"
              f"code = main(['status', '--json', '--config', {str(config)!r}])\n"
              "heavy = [m for m in ('typer', 'click', 'rich', 'filelock', 'coordssh.agent.stream',"
              " 'coordssh.agent.outcome') if m in sys.modules]\n"
              "print(code, heavy, file=sys.stderr)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60)
    assert done.stderr.strip().splitlines()[-1] == "0 []", done.stderr
    assert json.loads(done.stdout)["machines"][0]["name"] == "box"


# --- the model, API retries, denials and push_failed as the commands show them ------------------
RETRYING = (b'{"type":"system","subtype":"init","session_id":"5f0c8c4e-7d3c-4a53-9a8a-3f1c2f0d6b11",'
            b'"model":"claude-sonnet-5-5","cwd":"/w","claude_code_version":"2.1.328"}\n'
            b'{"type":"system","subtype":"api_retry","attempt":6,"max_retries":10,'
            b'"retry_delay_ms":16800,"error_status":529,"error":"overloaded"}\n')
DENYING = (b'{"type":"assistant","message":{"id":"m2","content":[{"type":"tool_use","id":"t1",'
           b'"name":"Bash","input":{"command":"echo x > f && git add f"}}]}}\n'
           b'{"type":"user","message":{"role":"user","content":[{"type":"tool_result",'
           b'"tool_use_id":"t1","is_error":true,"content":"This Bash command contains multiple '
           b'operations. The following part requires approval: echo x > f"}]}}\n')


def test_status_shows_the_model_asked_for_then_the_one_init_reports(setup, capsys):
    config, env = setup
    env.make("new1", stream=b"")
    env.make("ran1", stream=RETRYING)
    extra = {"model_requested": "sonnet", "model_source": "models.default"}
    row_on(config, "box", "new1", model="sonnet", extra=extra)
    row_on(config, "box", "ran1", model="sonnet", extra=extra)
    code, out, _ = run_cli(capsys, "status", "--config", str(config))
    assert code == 0
    new = next(line for line in out.splitlines() if " new1 " in line)
    ran = next(line for line in out.splitlines() if " ran1 " in line)
    assert "sonnet (models.default)" in new
    assert "claude-sonnet-5-5" in ran and "models.default" not in ran
    assert "API retry 6/10: overloaded (529), next in 17 s" in out
    code, out, _ = run_cli(capsys, "status", "--json", "--config", str(config))
    rows = {a["id"]: a for a in json.loads(out)["assignments"]}
    assert rows["new1"]["model"] == "sonnet" and rows["new1"]["model_source"] == "models.default"
    assert rows["ran1"]["model"] == "claude-sonnet-5-5"
    assert rows["ran1"]["api_retry"] == {"attempt": 6, "max_retries": 10, "error": "overloaded",
                                         "error_status": 529, "delay_s": 16.8,
                                         "text": "API retry 6/10: overloaded (529), next in 17 s"}


def test_status_and_json_count_denied_tool_calls(setup, capsys):
    config, env = setup
    env.make("den1", stream=RETRYING + DENYING)
    row_on(config, "box", "den1")
    code, out, _ = run_cli(capsys, "status", "--config", str(config))
    assert "1 denied: Bash(echo x > f && git add f)" in " ".join(out.split())
    code, out, _ = run_cli(capsys, "status", "--json", "--config", str(config))
    [row] = json.loads(out)["assignments"]
    assert row["denials"] == 1 and row["denied_tools"] == ["Bash(echo x > f && git add f)"]
    assert row["api_retry"] is None          # a response came after the retry


def test_a_failed_push_is_push_failed_with_gits_message(setup, capsys):
    config, env = setup
    run = env.make("pf1", stream=SUCCESS, live=False,
                   files={"push.log": "To /srv/o.git\n ! [rejected]  issue-1-pf1 -> issue-1-pf1 "
                                      "(fetch first)\nerror: failed to push some refs\n"})
    run.finish(0)
    run.write("push_failed", "1700000000\n")
    row_on(config, "box", "pf1")
    code, out, _ = run_cli(capsys, "status", "--json", "--config", str(config))
    [row] = json.loads(out)["assignments"]
    assert row["status"] == "push_failed" and row["pushed_sha"] == ""
    assert row["reason"].startswith("git push failed: ! [rejected] issue-1-pf1 -> issue-1-pf1")
    assert "coordssh push pf1" in row["reason"]
