"""Shared fixtures. Real things only: a real sshd on 127.0.0.1, real processes, real files.

Machines and transports
    sshd                  session-scoped real OpenSSH server (tests.support.sshd.SshdServer):
                          .host .port .user .client_key .host_key .known_hosts_line() .fingerprint()
    ssh_home              HOME -> a temporary home with .ssh/known_hosts (the sshd's host key as
                          `[127.0.0.1]:PORT ssh-ed25519 ...`) and .ssh/config (`Host coordssh-test`
                          alias -> 127.0.0.1, port, user, client key). SSH_AUTH_SOCK is unset. The
                          user's real ~/.ssh is never read or written. Returns the home Path.
    ssh_machine_factory   (**overrides) -> Machine(connection="ssh", name="sshbox", ...) with
                          identity_file and known_hosts set, worktree_root/run_root absolute under
                          tmp_path (the sshd login user's real home is never written)
    ssh_machine           ssh_machine_factory()
    local_machine         Machine(connection="local", name="localbox", same tmp worker paths)
    machine               parametrized over ["local", "ssh"]: use it and a test runs on both
    connector             a coordssh.transport.connect.Connector
    transport             an open Transport to `machine` (closed after the test)

Tests marked `ssh` run against the real sshd; they are skipped when /usr/sbin/sshd is missing.

The real claude CLI against a scripted model server (tests/support/real_claude.py)
    claude_bin            Path of the pinned CLI (tests/claude-code.version); skip, or fail when
                          COORDSSH_REAL_CLAUDE_REQUIRED=1
    model_server          (script name | steps, **placeholders) -> a started ModelServer
    claude_env            (server, **extra) -> env dict for a run (per-test HOME, base URL, key)
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from coordssh.config.schema import Machine
from tests.support.real_claude import claude_bin, claude_env, model_server  # noqa: F401 (fixtures)
from tests.support.sshd import SSHD, SshdServer, start_sshd

SSH_ALIAS = "coordssh-test"


@pytest.fixture(autouse=True)
def _no_terminal_size(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rendered output must not depend on the terminal the tests run from: pytest-xdist workers
    (and some CI shells) export COLUMNS/LINES. A test that is about the width sets them."""
    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.delenv("LINES", raising=False)


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> SshdServer:
    if not os.access(SSHD, os.X_OK):
        pytest.skip(f"no {SSHD}: apt-get install openssh-server")
    server = start_sshd(tmp_path_factory.mktemp("sshd"))
    yield server
    server.stop()


@pytest.fixture
def ssh_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sshd: SshdServer) -> Path:
    home = tmp_path / "home"
    dot_ssh = home / ".ssh"
    dot_ssh.mkdir(parents=True, mode=0o700)
    (dot_ssh / "known_hosts").write_text(sshd.known_hosts_line())
    (dot_ssh / "config").write_text(
        f"Host {SSH_ALIAS}\n  HostName {sshd.host}\n  Port {sshd.port}\n  User {sshd.user}\n"
        f"  IdentityFile {sshd.client_key}\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)  # never use the developer's agent keys
    return home


@pytest.fixture
def ssh_machine_factory(tmp_path: Path, ssh_home: Path, sshd: SshdServer):
    def make(**overrides) -> Machine:
        fields = dict(
            name="sshbox", connection="ssh", host=sshd.host, port=sshd.port, user=sshd.user,
            identity_file=str(sshd.client_key), known_hosts=str(ssh_home / ".ssh" / "known_hosts"),
            worktree_root=str(tmp_path / "wt"), run_root=str(tmp_path / "runs"),
            connect_timeout=15.0)  # generous: a slow CI machine under load
        fields.update(overrides)
        return Machine(**fields)

    return make


@pytest.fixture
def ssh_machine(ssh_machine_factory) -> Machine:
    return ssh_machine_factory()


@pytest.fixture
def local_machine(tmp_path: Path) -> Machine:
    return Machine(name="localbox", connection="local", worktree_root=str(tmp_path / "wt"),
                   run_root=str(tmp_path / "runs"))


@pytest.fixture(params=["local", "ssh"])
def machine(request: pytest.FixtureRequest) -> Machine:
    if request.param == "ssh":
        return request.getfixturevalue("ssh_machine")
    return request.getfixturevalue("local_machine")


@pytest.fixture
def connector():
    from coordssh.transport.connect import Connector

    return Connector()


@pytest.fixture
async def transport(machine: Machine, connector):
    opened = await connector.connect(machine)
    yield opened
    await opened.close()
