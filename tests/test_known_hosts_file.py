"""One rule for which known_hosts file a machine uses, for the check, the message and `trust`:
machine.known_hosts, else UserKnownHostsFile from ~/.ssh/config for that host, else
~/.ssh/known_hosts. Against the real sshd, with the ssh_home fixture's ~/.ssh/config."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from coordssh.cli.main import main
from coordssh.errors import HostKeyUnknown
from coordssh.services.trust import trust_machine
from coordssh.shell.command import cmd
from coordssh.transport.connect import Connector
from coordssh.transport.known_hosts import known_hosts_file
from tests.conftest import SSH_ALIAS


def configure_known_hosts_file(home: Path, value: str) -> None:
    config = home / ".ssh" / "config"
    config.write_text(config.read_text() + f"  UserKnownHostsFile {value}\n")


async def echo_over(machine) -> bytes:
    async with await Connector().connect(machine) as transport:
        return (await transport.run(cmd("echo", "trusted"), check=True)).stdout


def aliased(ssh_machine_factory):
    """The machine by its ~/.ssh/config alias: host, port, user and key come from the config."""
    return ssh_machine_factory(host=SSH_ALIAS, port=None, user=None, identity_file=None,
                               known_hosts=None)


def test_the_rule(ssh_machine_factory, ssh_home: Path, tmp_path: Path) -> None:
    machine = aliased(ssh_machine_factory)
    assert known_hosts_file(machine) == ssh_home / ".ssh" / "known_hosts"
    configure_known_hosts_file(ssh_home, "~/.ssh/kh_custom")
    assert known_hosts_file(machine) == ssh_home / ".ssh" / "kh_custom"
    own = tmp_path / "own_known_hosts"
    assert known_hosts_file(ssh_machine_factory(host=SSH_ALIAS, known_hosts=str(own))) == own
    other = ssh_machine_factory(host="not-in-the-config", known_hosts=None)
    assert known_hosts_file(other) == ssh_home / ".ssh" / "known_hosts"


async def test_trust_writes_the_file_the_check_reads(ssh_machine_factory, ssh_home: Path,
                                                     sshd) -> None:
    configure_known_hosts_file(ssh_home, "~/.ssh/kh_custom")
    default = ssh_home / ".ssh" / "known_hosts"
    custom = ssh_home / ".ssh" / "kh_custom"
    before = default.read_text()  # already vouches for the sshd: must not count
    machine = aliased(ssh_machine_factory)
    with pytest.raises(HostKeyUnknown) as err:
        await echo_over(machine)
    assert str(custom) in err.value.message

    outcome = await trust_machine(machine, lambda report: True)

    assert outcome.status == "added" and outcome.path == custom
    assert custom.read_text() == sshd.known_hosts_line()
    assert default.read_text() == before
    assert await echo_over(machine) == b"trusted\n"


def test_cli_trust_then_status_works(ssh_home: Path, sshd, tmp_path: Path, capsys) -> None:
    configure_known_hosts_file(ssh_home, str(tmp_path / "kh_cli"))
    config = tmp_path / "coordinator.yml"
    config.write_text(
        "repos:\n  - name: api\nmachines:\n"
        f"  - name: sshbox\n    host: {SSH_ALIAS}\n    connection: ssh\n"
        f"    worktree_root: {tmp_path}/wt\n    run_root: {tmp_path}/runs\n"
        "    repo_paths:\n      api: ~/src/api\n")
    assert main(["status", "--json", "--config", str(config)]) == 0
    [before] = json.loads(capsys.readouterr().out)["machines"]
    assert f"is not in {tmp_path / 'kh_cli'}" in before["error"]
    assert main(["trust", "sshbox", "--yes", "--config", str(config)]) == 0
    assert str(tmp_path / "kh_cli") in capsys.readouterr().out
    assert (tmp_path / "kh_cli").read_text() == sshd.known_hosts_line()
    assert main(["status", "--json", "--config", str(config)]) == 0
    [after] = json.loads(capsys.readouterr().out)["machines"]
    assert after["reachable"] is True, after
