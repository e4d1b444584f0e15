"""`coordssh fix | retry | continue` through the real entry point: refusals name the state and the
way out, exit 1 (refused) or 2 (unknown id, bad usage), and change nothing on the board."""

from __future__ import annotations

from pathlib import Path

from coordssh.config.load import load_config
from tests.support.envelopes import fixture
from tests.test_status_cli import run_cli, setup  # noqa: F401 (a coordinator.yml, envelopes)
from tests.test_work_cli import SHA, start

SUCCESS = fixture("success.jsonl")


def board_bytes(config: Path) -> bytes:
    state = load_config(str(config)).state_dir
    return b"".join(p.read_bytes() for p in sorted(state.glob("*.json")))


def test_refusals_exit_1_or_2_and_change_nothing(setup, capsys):
    config, env = setup
    env.make("run1", stream=SUCCESS, live=False).finish(0, pushed_sha=SHA)
    start(config, "run1", 1)
    assert run_cli(capsys, "work", "--config", str(config))[0] == 0   # observed: run1 done
    before = board_bytes(config)

    code, _, err = run_cli(capsys, "retry", "run1", "--json", "--config", str(config))
    assert code == 1 and "run run1 is done: retry is for runs that failed for infrastructure" in err
    code, _, err = run_cli(capsys, "continue", "run1", "--guidance", "go", "--config",
                           str(config))
    assert code == 1 and "run run1 is done: continue is for runs that stopped" in err
    assert "coordssh test demo#1" in err
    code, _, err = run_cli(capsys, "fix", "demo#1", "--json", "--config", str(config))
    assert code == 1 and "demo#1 has no failure recorded at abc1234" in err
    assert "coordssh fix demo#1 --guidance" in err
    code, _, err = run_cli(capsys, "fix", "nosuch", "--config", str(config))
    assert code == 2 and "no assignment id starts with 'nosuch'" in err
    code, _, err = run_cli(capsys, "retry", "demo#7", "--config", str(config))
    assert code == 2 and "no work item demo#7" in err
    code, _, err = run_cli(capsys, "continue", "run1", "--config", str(config))
    assert code == 2 and "--guidance" in err
    assert board_bytes(config) == before
