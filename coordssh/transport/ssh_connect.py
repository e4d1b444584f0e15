"""Opening asyncssh connections: options from the Machine, errors translated at the boundary.

asyncssh reads ~/.ssh/config (HostName, Port, User, IdentityFile, ProxyJump, ...) for whatever
the Machine leaves unset. Host keys are verified against one file, `known_hosts_file(machine)`
(the machine's known_hosts, else UserKnownHostsFile from ~/.ssh/config, else ~/.ssh/known_hosts),
always passed explicitly: the same file messages name and `trust` writes; never disabled. Agent forwarding stays off: a forwarded agent dies with the
connection, and detached workers must not depend on it.

Connection set-up cost (measured over 50 loopback sshd hosts, see docs/performance.md): given a
path, asyncssh parses the known_hosts file again for every connection, so a `KnownHostsCache`
(one per Connector, i.e. per command) parses each file once and passes the parsed object; and
AES-GCM (hardware AES) is preferred to asyncssh's default chacha20-poly1305, which builds two
ChaCha20 contexts per packet.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import os
import socket

import asyncssh

from coordssh.config.schema import Machine
from coordssh.errors import (AuthFailed, ConnectTimeout, HostKeyUnknown, TransportError,
                             Unreachable)
from coordssh.transport.known_hosts import (HostKeyReport, check_host_key, host_key_error,
                                            known_hosts_file, machine_address)
from coordssh.transport.ssh import SSHTransport

# AES-GCM first (about 8 % less client CPU than chacha20-poly1305 over a 50-host fan-out), then
# asyncssh's other defaults in their order. An explicit list overrides `Ciphers` in ~/.ssh/config.
PREFERRED_CIPHERS = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com")
KEEPALIVE_INTERVAL = 20   # seconds; only for long-lived connections (follow, live view)
KEEPALIVE_COUNT = 3


class _Client(asyncssh.SSHClient):
    """Remembers the host key the server offered when known_hosts did not vouch for it."""

    def __init__(self) -> None:
        self.offered: tuple[str, str, int, asyncssh.SSHKey] | None = None

    def connection_made(self, conn: asyncssh.SSHClientConnection) -> None:
        _rearm_quickack(conn)

    def validate_host_public_key(self, host: str, addr: str, port: int,
                                 key: asyncssh.SSHKey) -> bool:
        self.offered = (host, addr, port, key)
        return False


class KnownHostsCache:
    """Each known_hosts file parsed once, however many machines use it.

    Keyed by path and checked against the file's (mtime, size, inode) before every use, so a file
    changed in the same process (`coordssh trust` appends a line) is read again. Anything unusual
    (unreadable, a line asyncssh rejects) falls back to handing asyncssh the path, as before, so
    its errors are unchanged.
    """

    def __init__(self) -> None:
        self._parsed: dict[str, tuple[tuple[int, int, int], asyncssh.SSHKnownHosts]] = {}

    def option(self, path: str | None):
        """The `known_hosts` option for a machine whose known_hosts file is `path`."""
        if path is None:
            # (): asyncssh's "not given" (use ~/.ssh/config, then ~/.ssh/known_hosts); None
            # would disable host key checks, which coordssh never does
            return ()
        try:
            st = os.stat(path)
        except (OSError, ValueError):  # nothing trusted yet: the offered key is HostKeyUnknown
            return asyncssh.import_known_hosts("")
        stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        hit = self._parsed.get(path)
        if hit is not None and hit[0] == stamp:
            return hit[1]
        try:
            parsed = asyncssh.read_known_hosts(path)
        except (OSError, ValueError, asyncssh.KeyImportError):
            return path  # asyncssh reads it again and fails as it always did
        self._parsed[path] = (stamp, parsed)
        return parsed


async def open_ssh(machine: Machine, *, keepalive: bool = False,
                   known_hosts: KnownHostsCache | None = None) -> SSHTransport:
    """`known_hosts`: the command's cache (a Connector's); without one the file is read here."""
    if machine.identity_file and not os.path.isfile(machine.identity_file):
        raise AuthFailed(f"identity_file {machine.identity_file} of {machine.name} does not exist",
                         hint="fix identity_file in coordinator.yml", machine=machine.name)
    client = _Client()
    try:
        if known_hosts is None:
            known_hosts = KnownHostsCache()
        conn = await _connect(machine, client, _options(machine, keepalive, known_hosts))
    except asyncssh.HostKeyNotVerifiable as exc:
        raise _host_key_error(machine, client) from exc
    return SSHTransport(machine.name, conn)


async def offered_host_key(machine: Machine) -> HostKeyReport:
    """Fetch the host key the server offers (before any authentication) and judge it.

    An empty trust list makes asyncssh hand every key to the client, which records and rejects
    it: nothing is trusted here, the caller decides.
    """
    client = _Client()
    options = {**_options(machine, False, None), "known_hosts": asyncssh.import_known_hosts("")}
    try:
        conn = await _connect(machine, client, options)
        conn.close()  # cannot happen with an empty trust list; never keep it if it does
    except asyncssh.HostKeyNotVerifiable:
        pass
    if client.offered is None:
        raise Unreachable(f"{machine.name} ({machine_address(machine)}) offered no host key",
                          hint="check that the machine runs an SSH server", machine=machine.name)
    host, addr, port, key = client.offered
    return check_host_key(known_hosts_file(machine), host, addr, port, key)


async def _connect(machine: Machine, client: _Client,
                   options: dict) -> asyncssh.SSHClientConnection:
    """asyncssh.connect; every failure but HostKeyNotVerifiable becomes a coordssh error."""
    try:
        return await asyncssh.connect(machine.host, client_factory=lambda: client, **options)
    except asyncssh.HostKeyNotVerifiable:
        raise
    except Exception as exc:
        err = translate_connect_error(machine, exc)
        if err is None:
            raise
        raise err from exc


def _options(machine: Machine, keepalive: bool, known_hosts: KnownHostsCache | None) -> dict:
    options: dict = {
        "agent_forwarding": False,
        "connect_timeout": machine.connect_timeout,
        "encryption_algs": _encryption_algs(),
    }
    if known_hosts is not None:
        options["known_hosts"] = known_hosts.option(str(known_hosts_file(machine)))
    if machine.port:
        options["port"] = machine.port
    if machine.user:
        options["username"] = machine.user
    if machine.identity_file:
        options["client_keys"] = [machine.identity_file]
    if keepalive:
        options.update(keepalive_interval=KEEPALIVE_INTERVAL, keepalive_count_max=KEEPALIVE_COUNT)
    return options


@functools.cache
def _encryption_algs() -> tuple[str, ...]:
    from asyncssh.encryption import get_default_encryption_algs, get_encryption_algs

    available = {alg.decode() for alg in get_encryption_algs()}
    first = [alg for alg in PREFERRED_CIPHERS if alg in available]
    return (*first, *(alg for alg in (a.decode() for a in get_default_encryption_algs())
                      if alg not in first))


def _host_key_error(machine: Machine, client: _Client) -> TransportError:
    if client.offered is None:  # e.g. a revoked key: asyncssh refused before asking us
        return HostKeyUnknown(
            f"the host key of {machine.name} ({machine_address(machine)}) is not trusted",
            hint=f"run: coordssh trust {machine.name}", machine=machine.name)
    host, addr, port, key = client.offered
    return host_key_error(machine, check_host_key(known_hosts_file(machine), host, addr, port, key))


def translate_connect_error(machine: Machine, exc: BaseException) -> TransportError | None:
    """The coordssh error for a failed connect, or None to let `exc` propagate (a bug)."""
    where, name = machine_address(machine), machine.name
    if isinstance(exc, asyncssh.PermissionDenied):
        return AuthFailed(
            f"{name} ({where}) refused our key: {exc.reason}",
            hint="check identity_file in coordinator.yml (or IdentityFile in ~/.ssh/config), "
                 "that ssh-agent holds the key, and the remote authorized_keys",
            machine=name)
    if isinstance(exc, (TimeoutError, asyncio.TimeoutError)) or (
            isinstance(exc, OSError) and exc.errno == errno.ETIMEDOUT):
        return ConnectTimeout(
            f"connecting to {name} ({where}) timed out after {machine.connect_timeout:g}s",
            hint="check that the machine is up and reachable, or raise connect_timeout",
            machine=name)
    if isinstance(exc, socket.gaierror):
        return Unreachable(f"cannot resolve {machine.host} for {name}: {exc.strerror}",
                           hint="check host in coordinator.yml or HostName in ~/.ssh/config",
                           machine=name)
    if isinstance(exc, asyncssh.KeyImportError):
        return AuthFailed(f"cannot load the client key for {name}: {exc}",
                          hint="fix identity_file in coordinator.yml (or IdentityFile in "
                               "~/.ssh/config); encrypted keys belong in ssh-agent", machine=name)
    if isinstance(exc, OSError):
        return Unreachable(f"cannot connect to {name} ({where}): {exc.strerror or exc}",
                           hint="check that sshd runs there and the port is right",
                           machine=name)
    if isinstance(exc, asyncssh.Error):
        return Unreachable(f"SSH to {name} ({where}) failed: {exc}",
                           hint="check the machine's sshd and `ssh` to it by hand",
                           machine=name)
    return None


def _rearm_quickack(conn: asyncssh.SSHClientConnection) -> None:
    """Re-arm TCP_QUICKACK after every read (Linux): it cuts the ~40 ms first-exec stall
    (measured on loopback OpenSSH 9.2: first exec 55.8 -> 14.4 ms median).

    The kernel drops QUICKACK mode on its own, so setting it once is not enough. Replacing the
    connection's data_received on the instance is the one hook asyncssh leaves for reads.
    """
    quickack = getattr(socket, "TCP_QUICKACK", None)
    sock = conn.get_extra_info("socket")
    if quickack is None or sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return
    received = conn.data_received

    def data_received(data: bytes, datatype=None) -> None:
        received(data, datatype)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, quickack, 1)
        except OSError:
            pass

    conn.data_received = data_received  # type: ignore[method-assign]
    try:
        sock.setsockopt(socket.IPPROTO_TCP, quickack, 1)
    except OSError:
        pass

