"""Following a run whose machine cannot be reached (issue 8, item 6): `watch`, `wait`, `log -f`
say on stderr what is happening while they retry, and a timeout names the machine and since
when it is unreachable (exit 3), instead of a silent wait and "did not end within the timeout".
A real ssh machine pointing at a closed port on 127.0.0.1."""

from __future__ import annotations

import subprocess
import sys

import pytest

from coordssh.cli.main import main
from coordssh.errors import EXIT_UNREACHABLE, Unreachable
from coordssh.services.watch import wait_run, watch_run
from tests.support.envelopes import assignment_for, make_context
from tests.support.sshd import free_port

pytestmark = pytest.mark.ssh


async def test_wait_on_an_unreachable_machine_says_so_and_times_out_naming_it(
        tmp_path, ssh_machine_factory):
    down = ssh_machine_factory(port=free_port(), connect_timeout=2)
    ctx = make_context(tmp_path, down)
    ctx.board.put(assignment_for(down, "far1"))
    notices: list[str] = []

    with pytest.raises(Unreachable) as info:
        await wait_run(ctx, "far1", timeout=3, on_notice=notices.append)

    assert info.value.exit_code == EXIT_UNREACHABLE
    assert "sshbox" in info.value.message and "unreachable since" in info.value.message
    assert "did not end" not in info.value.message and info.value.hint
    assert notices and all("sshbox" in n for n in notices)
    assert "unreachable" in notices[0] and "retrying" in notices[0]


async def test_watch_with_lines_reports_the_same_way(tmp_path, ssh_machine_factory):
    down = ssh_machine_factory(port=free_port(), connect_timeout=2)
    ctx = make_context(tmp_path, down)
    ctx.board.put(assignment_for(down, "far2"))
    notices: list[str] = []
    with pytest.raises(Unreachable):
        await watch_run(ctx, "far2", on_line=lambda line: None, timeout=2,
                        on_notice=notices.append)
    assert notices


def test_cli_wait_and_log_follow_print_notices_on_stderr(tmp_path, capsys, sshd, ssh_home):
    config = tmp_path / "coordinator.yml"
    config.write_text(
        "repos:\n  - name: demo\n"
        "machines:\n"
        "  - name: down\n    host: 127.0.0.1\n    connection: ssh\n"
        f"    port: {free_port()}\n    user: {sshd.user}\n"
        f"    identity_file: {sshd.client_key}\n    connect_timeout: 2\n"
        f"    run_root: {tmp_path / 'far'}\n")
    from coordssh.board.store import Board
    from coordssh.config.load import load_config

    cfg = load_config(str(config))
    Board.open(cfg.state_dir).put(assignment_for(cfg.machines["down"], "far3"))

    code = main(["wait", "far3", "--timeout", "3", "--config", str(config)])
    _, err = capsys.readouterr()
    assert code == 3
    assert "down unreachable since" in err and "retrying" in err

    code = main(["watch", "far3", "--timeout", "2", "--config", str(config)])
    _, err = capsys.readouterr()
    assert code == 3 and "retrying" in err and "unreachable since" in err

    # `log -f` has no timeout: it retries until Ctrl-C, saying so on stderr meanwhile
    follow = subprocess.Popen([sys.executable, "-m", "coordssh", "log", "-f", "far3", "--config",
                               str(config)], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                              text=True)
    try:
        line = follow.stderr.readline()
        assert "down unreachable since" in line and "retrying" in line
        assert follow.poll() is None
    finally:
        follow.kill()
        follow.wait()
