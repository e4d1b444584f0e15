"""Faults at the SSH boundary become coordssh errors with the right class, exit code and hint.

Real faults only: a closed port, a listener that never speaks SSH, a second real sshd with a
different host key, a client key the server does not know, an sshd that dies mid-command.
"""

from __future__ import annotations

import asyncio
import subprocess

import pytest

from coordssh.errors import (EXIT_AUTH, EXIT_UNREACHABLE, AuthFailed, ConnectTimeout,
                             HostKeyChanged, HostKeyUnknown, RemoteTimeout, Unreachable)
from coordssh.shell.command import cmd
from coordssh.transport.connect import Connector
from tests.support.sshd import free_port, start_sshd


async def connect_error(machine) -> Exception:
    with pytest.raises(Exception) as info:
        transport = await Connector().connect(machine)
        await transport.close()
    return info.value


async def test_closed_port_is_unreachable(ssh_machine_factory):
    err = await connect_error(ssh_machine_factory(port=free_port(), connect_timeout=30))
    assert isinstance(err, Unreachable) and not isinstance(err, ConnectTimeout)
    assert err.exit_code == EXIT_UNREACHABLE
    assert "sshbox" in str(err) and "127.0.0.1" in str(err) and err.hint


async def test_silent_listener_is_a_connect_timeout(ssh_machine_factory):
    async def never_speak(reader, writer):
        await reader.read()  # hold the connection open and say nothing
        writer.close()

    server = await asyncio.start_server(never_speak, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        err = await connect_error(ssh_machine_factory(port=port, connect_timeout=1))
    finally:
        server.close()
    assert isinstance(err, ConnectTimeout) and err.exit_code == EXIT_UNREACHABLE
    assert "timed out" in str(err) and "connect_timeout" in err.hint


async def test_unknown_host_key_names_fingerprint_and_trust(ssh_machine_factory, sshd, tmp_path):
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    err = await connect_error(ssh_machine_factory(known_hosts=str(empty)))
    assert isinstance(err, HostKeyUnknown) and err.exit_code == EXIT_AUTH
    assert err.fingerprint == sshd.fingerprint()
    assert sshd.fingerprint() in str(err)
    assert "coordssh trust sshbox" in err.hint


async def test_missing_known_hosts_file_is_unknown_not_a_crash(ssh_machine_factory, tmp_path):
    err = await connect_error(ssh_machine_factory(known_hosts=str(tmp_path / "nope")))
    assert isinstance(err, HostKeyUnknown)


async def test_changed_host_key_is_refused_loudly(ssh_machine_factory, sshd, tmp_path):
    impostor = start_sshd(tmp_path / "impostor", client_key=sshd.client_key)
    try:
        known = tmp_path / "known_hosts"
        # line 2 records the ORIGINAL server's key for the impostor's address
        known.write_text("# comment\n" + sshd.known_hosts_line(port=impostor.port))
        err = await connect_error(ssh_machine_factory(port=impostor.port, known_hosts=str(known)))
    finally:
        impostor.stop()
    assert isinstance(err, HostKeyChanged) and err.exit_code == EXIT_AUTH
    text = str(err)
    assert "REMOTE HOST IDENTIFICATION HAS CHANGED" in text
    assert f"{known}:2" in text and impostor.fingerprint() in text
    assert "man-in-the-middle" in text
    assert f"remove line 2 of {known}" in err.hint


async def test_wrong_client_key_is_auth_failed(ssh_machine_factory, tmp_path):
    stranger = tmp_path / "stranger_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(stranger)],
                   check=True)
    err = await connect_error(ssh_machine_factory(identity_file=str(stranger)))
    assert type(err) is AuthFailed and err.exit_code == EXIT_AUTH
    assert "identity_file" in err.hint and "ssh-agent" in err.hint


async def test_missing_identity_file_is_auth_failed(ssh_machine_factory, tmp_path):
    err = await connect_error(ssh_machine_factory(identity_file=str(tmp_path / "no_key")))
    assert isinstance(err, AuthFailed) and "no_key" in str(err)


async def test_hanging_command_times_out(ssh_machine):
    async with await Connector().connect(ssh_machine) as transport:
        with pytest.raises(RemoteTimeout) as info:
            await transport.run(cmd("sleep", "600"), timeout=1)
        assert info.value.machine == "sshbox"
        # the connection stays usable after a timeout
        assert (await transport.run(cmd("echo", "still here"))).stdout == b"still here\n"


async def test_sshd_dying_mid_command_is_unreachable(ssh_machine_factory, sshd, tmp_path):
    server = start_sshd(tmp_path / "doomed", client_key=sshd.client_key)
    known = tmp_path / "known_hosts"
    known.write_text(server.known_hosts_line())
    machine = ssh_machine_factory(port=server.port, known_hosts=str(known))
    transport = await Connector().connect(machine)
    try:
        started = transport.run(cmd("sleep", "600"), timeout=120)
        task = asyncio.ensure_future(started)
        await asyncio.sleep(0)  # let the channel open before the server goes away
        server.stop()
        with pytest.raises(Unreachable):
            await task
    finally:
        await transport.close()


async def test_ssh_config_alias_is_honoured(ssh_home, tmp_path):
    """host may be a ~/.ssh/config alias: HostName, Port, User and IdentityFile come from there,
    and the host key is checked against ~/.ssh/known_hosts."""
    from coordssh.config.schema import Machine

    machine = Machine(name="aliased", connection="ssh", host="coordssh-test",
                      worktree_root=str(tmp_path / "wt"), run_root=str(tmp_path / "runs"),
                      connect_timeout=15)
    async with await Connector().connect(machine) as transport:
        result = await transport.run(cmd("echo", "via alias"), check=True)
    assert result.stdout == b"via alias\n"


async def test_fan_out_returns_each_failure_as_a_value(ssh_machine_factory, local_machine):
    machines = [ssh_machine_factory(), ssh_machine_factory(name="down", port=free_port()),
                local_machine]

    async def whoami(machine, transport):
        return (await transport.run(cmd("echo", machine.name), check=True)).text.strip()

    results = await Connector(max_connections=2).fan_out(machines, whoami)
    assert results["sshbox"] == "sshbox" and results["localbox"] == "localbox"
    assert isinstance(results["down"], Unreachable) and results["down"].machine == "down"


async def test_fan_out_turns_remote_failures_into_values(machine):
    async def fail(machine, transport):
        await transport.run(cmd("false"), check=True)

    results = await Connector().fan_out([machine], fail)
    assert results[machine.name].exit_status == 1


def test_one_connector_serves_successive_event_loops(ssh_machine_factory):
    # a CLI command may call asyncio.run twice with the same context
    connector = Connector(max_connections=1)
    machines = [ssh_machine_factory(), ssh_machine_factory(name="second")]

    async def echo(machine, transport):
        return (await transport.run(cmd("echo", machine.name), check=True)).text

    for _ in range(2):
        assert asyncio.run(connector.fan_out(machines, echo)) == {
            "sshbox": "sshbox\n", "second": "second\n"}
