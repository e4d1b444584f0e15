"""`coordssh trust`: record a machine's host key after confirmation; never replace a changed one."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import pytest

from coordssh.cli.main import main
from coordssh.errors import EXIT_AUTH, HostKeyChanged, HostKeyUnknown, UsageError
from coordssh.services.trust import trust_machine
from coordssh.shell.command import cmd
from coordssh.transport.connect import Connector
from tests.support.sshd import rotate_host_key, start_sshd


async def echo_over(machine) -> bytes:
    async with await Connector().connect(machine) as transport:
        return (await transport.run(cmd("echo", "trusted"), check=True)).stdout


async def test_trust_records_the_key_and_connect_then_succeeds(ssh_machine_factory, sshd,
                                                               tmp_path):
    known = tmp_path / "kh" / "known_hosts"  # neither file nor directory exists yet
    machine = ssh_machine_factory(known_hosts=str(known))
    with pytest.raises(HostKeyUnknown):
        await echo_over(machine)
    shown = []

    outcome = await trust_machine(machine, lambda report: shown.append(report) or True)

    assert outcome.status == "added"
    assert [r.fingerprint for r in shown] == [sshd.fingerprint()]
    assert shown[0].key_type == "ssh-ed25519" and shown[0].status == "unknown"
    assert known.read_text() == sshd.known_hosts_line()   # `[127.0.0.1]:PORT ssh-ed25519 ...`
    assert stat.S_IMODE(known.stat().st_mode) == 0o600
    assert stat.S_IMODE(known.parent.stat().st_mode) == 0o700
    assert outcome.report.status == "known" and outcome.report.lines == (1,)
    assert await echo_over(machine) == b"trusted\n"


async def test_declining_writes_nothing(ssh_machine_factory, tmp_path):
    known = tmp_path / "known_hosts"
    known.write_text("# mine\n")
    machine = ssh_machine_factory(known_hosts=str(known))
    outcome = await trust_machine(machine, lambda report: False)
    assert outcome.status == "declined"
    assert known.read_text() == "# mine\n"
    with pytest.raises(HostKeyUnknown):
        await echo_over(machine)


async def test_already_known_key_is_not_added_twice(ssh_machine):
    before = Path(ssh_machine.known_hosts).read_text()
    outcome = await trust_machine(ssh_machine, lambda report: pytest.fail("asked needlessly"))
    assert outcome.status == "already-known"
    assert Path(ssh_machine.known_hosts).read_text() == before


async def test_changed_key_is_refused_and_the_file_left_alone(ssh_machine_factory, sshd,
                                                              tmp_path):
    impostor = start_sshd(tmp_path / "impostor", client_key=sshd.client_key)
    try:
        known = tmp_path / "known_hosts"
        known.write_text("other.example ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDqY3x5i1XSWtBHvw/hz"
                         "Yf2e0ij4Gr0Ix8J4s3UkLmoi\n" + sshd.known_hosts_line(port=impostor.port))
        before = known.read_text()
        machine = ssh_machine_factory(port=impostor.port, known_hosts=str(known))
        with pytest.raises(HostKeyChanged) as info:
            await trust_machine(machine, lambda report: pytest.fail("must not ask"))
    finally:
        impostor.stop()
    assert known.read_text() == before
    assert f"{known}:2" in str(info.value) and f"remove line 2 of {known}" in info.value.hint


async def test_default_known_hosts_under_home_is_created_private(ssh_machine_factory, sshd,
                                                                tmp_path, monkeypatch):
    home = tmp_path / "bare-home"  # no ~/.ssh at all
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    machine = ssh_machine_factory(known_hosts=None)
    outcome = await trust_machine(machine, lambda report: True)
    known = home / ".ssh" / "known_hosts"
    assert outcome.status == "added" and outcome.path == known
    assert known.read_text() == sshd.known_hosts_line()
    assert stat.S_IMODE(known.stat().st_mode) == 0o600
    assert stat.S_IMODE(known.parent.stat().st_mode) == 0o700
    assert await echo_over(machine) == b"trusted\n"


async def test_local_machine_has_nothing_to_trust(local_machine):
    with pytest.raises(UsageError):
        await trust_machine(local_machine, lambda report: True)


def write_config(tmp_path: Path, sshd, known: Path) -> Path:
    path = tmp_path / "coordinator.yml"
    path.write_text(
        "repos:\n  - name: api\nmachines:\n"
        f"  - name: sshbox\n    host: {sshd.host}\n    connection: ssh\n    port: {sshd.port}\n"
        f"    user: {sshd.user}\n    identity_file: {sshd.client_key}\n"
        f"    known_hosts: {known}\n    connect_timeout: 15\n"
        f"    worktree_root: {tmp_path}/wt\n    run_root: {tmp_path}/runs\n"
        "    repo_paths:\n      api: ~/src/api\n")
    return path


def test_cli_trust_yes_records_then_reports_known(ssh_home, sshd, tmp_path, capsys):
    known = tmp_path / "known_hosts"
    config = write_config(tmp_path, sshd, known)
    assert main(["trust", "sshbox", "--yes", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert f"added ssh-ed25519 {sshd.fingerprint()}" in out
    assert known.read_text() == sshd.known_hosts_line()
    assert main(["trust", "sshbox", "--config", str(config)]) == 0
    assert "already trusted" in capsys.readouterr().out


def test_cli_trust_changed_key_exits_4(ssh_home, sshd, tmp_path, capsys):
    known = tmp_path / "known_hosts"
    other = start_sshd(tmp_path / "other", client_key=sshd.client_key)
    try:
        known.write_text(other.known_hosts_line(port=sshd.port))  # another key for sshd's port
        config = write_config(tmp_path, sshd, known)
        assert main(["trust", "sshbox", "--yes", "--config", str(config)]) == EXIT_AUTH
    finally:
        other.stop()
    err = capsys.readouterr().err
    assert "REMOTE HOST IDENTIFICATION HAS CHANGED" in err and f"{known}:1" in err


def test_cli_trust_asks_and_a_no_writes_nothing(ssh_home, sshd, tmp_path):
    known = tmp_path / "known_hosts"
    config = write_config(tmp_path, sshd, known)
    done = subprocess.run([sys.executable, "-m", "coordssh", "trust", "sshbox", "--config",
                           str(config)], input="n\n", capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert sshd.fingerprint() in done.stdout and "nothing written" in done.stdout
    assert not known.exists()


async def test_reinstalled_host_is_refused_until_the_old_line_is_removed(ssh_machine_factory,
                                                                          sshd, tmp_path):
    server = start_sshd(tmp_path / "box", client_key=sshd.client_key)
    known = tmp_path / "known_hosts"
    machine = ssh_machine_factory(port=server.port, known_hosts=str(known))
    try:
        assert (await trust_machine(machine, lambda report: True)).status == "added"
        server = rotate_host_key(server)  # same address, new key: as after a reinstall
        with pytest.raises(HostKeyChanged):
            await echo_over(machine)
        with pytest.raises(HostKeyChanged):
            await trust_machine(machine, lambda report: True)
        known.write_text("")  # what the hint asks the operator to do: remove the old line
        assert (await trust_machine(machine, lambda report: True)).status == "added"
        assert await echo_over(machine) == b"trusted\n"
    finally:
        server.stop()


async def test_one_connector_sees_a_key_trusted_after_it_read_the_file(ssh_machine_factory,
                                                                        sshd, tmp_path):
    # the Connector parses each known_hosts file once; a file changed since (trust appends) is
    # read again, in the same process, by the same Connector
    known = tmp_path / "known_hosts"
    known.write_text("# nothing trusted yet\n")
    machine = ssh_machine_factory(known_hosts=str(known))
    connector = Connector()
    with pytest.raises(HostKeyUnknown):
        await connector.connect(machine)
    assert (await trust_machine(machine, lambda report: True)).status == "added"
    async with await connector.connect(machine) as transport:
        assert (await transport.run(cmd("echo", "trusted"), check=True)).stdout == b"trusted\n"


def test_known_hosts_file_is_parsed_once_until_it_changes(sshd, tmp_path):
    from coordssh.transport.ssh_connect import KnownHostsCache

    known = tmp_path / "known_hosts"
    known.write_text(sshd.known_hosts_line())
    cache = KnownHostsCache()
    first = cache.option(str(known))
    assert cache.option(str(known)) is first  # not parsed again
    with known.open("a") as fh:
        fh.write("# a comment appended\n")
    assert cache.option(str(known)) is not first
    assert cache.option(None) == ()  # no file named: asyncssh's own lookup (~/.ssh/config first)
