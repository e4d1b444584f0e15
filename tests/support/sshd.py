"""A real OpenSSH server on 127.0.0.1 for tests (the Python form of shared/tools/sshd-fixture.sh).

    server = start_sshd(tmp_dir)            # new host key, new client key, free port
    server.known_hosts_line()               # "[127.0.0.1]:PORT ssh-ed25519 AAAA..."
    other = start_sshd(tmp_dir2, client_key=server.client_key)   # same client, DIFFERENT host key
    server = rotate_host_key(server)        # same port, new host key (a reinstalled machine)
    server.stop()                           # kills only the pid it started (and its sshd children)

The login user is the current user (root in CI: `PermitRootLogin prohibit-password`). Each exec
runs the user's login shell, which may source a heavy ~/.bashrc: that is the real world.
"""

from __future__ import annotations

import getpass
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

SSHD = "/usr/sbin/sshd"   # sshd re-execs itself, so it needs an absolute path
SFTP_SERVER = "/usr/lib/openssh/sftp-server"
START_TIMEOUT = 30.0      # generous: a slow 2-core CI machine

SSHD_CONFIG = """\
ListenAddress {host}
Port {port}
HostKey {host_key}
PidFile {dir}/sshd.pid
AuthorizedKeysFile {dir}/authorized_keys
# the fixture lives under /tmp (mode 1777), which StrictModes would reject
StrictModes no
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
UseDNS no
PrintMotd no
PrintLastLog no
# OpenSSH's default, stated: the transport must stay below it
MaxSessions 10
MaxStartups 1000:30:2000
MaxAuthTries 6
LoginGraceTime 30
ClientAliveInterval 0
AcceptEnv LANG LC_*
Subsystem sftp {sftp}
LogLevel ERROR
"""


@dataclass
class SshdServer:
    dir: Path
    host: str
    port: int
    user: str
    host_key: Path            # private host key; `.pub` beside it
    client_key: Path          # private client key (in authorized_keys); `.pub` beside it
    proc: subprocess.Popen = field(repr=False)

    @property
    def log(self) -> Path:
        return self.dir / "sshd.log"

    def host_public_key(self) -> str:
        """`ssh-ed25519 AAAA...` (type and base64, no comment)."""
        return " ".join(Path(f"{self.host_key}.pub").read_text().split()[:2])

    def known_hosts_line(self, host: str | None = None, port: int | None = None) -> str:
        host, port = host or self.host, port or self.port
        name = host if port == 22 else f"[{host}]:{port}"
        return f"{name} {self.host_public_key()}\n"

    def fingerprint(self) -> str:
        """The host key's `SHA256:...` fingerprint, as ssh-keygen prints it."""
        out = subprocess.run(["ssh-keygen", "-l", "-E", "sha256", "-f", f"{self.host_key}.pub"],
                             check=True, capture_output=True, text=True).stdout
        return out.split()[1]

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        """Kill the listener we started and the per-connection sshd processes it forked."""
        if self.proc.poll() is not None:
            return
        children = _sshd_children(self.proc.pid)
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        for pid in children:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass


def rotate_host_key(server: SshdServer) -> SshdServer:
    """Stop `server`, give it a new host key, and start it again on the same port."""
    server.stop()
    for path in (server.host_key, Path(f"{server.host_key}.pub")):
        path.unlink()
    return start_sshd(server.dir, client_key=server.client_key, port=server.port,
                      host=server.host)


def start_sshd(base: Path, *, client_key: Path | None = None, port: int | None = None,
               host: str = "127.0.0.1") -> SshdServer:
    """Start `sshd -D` in `base` with a fresh ed25519 host key; wait until it accepts TCP.

    `client_key` reuses an existing client key (so a second server differs only by host key);
    `port` picks the port (default: a free one).
    """
    base = Path(base)
    base.mkdir(parents=True, exist_ok=True)
    _ensure_privsep_dir()
    host_key = base / "ssh_host_ed25519_key"
    if not host_key.exists():
        _keygen(host_key, "coordssh-test-host")
    if client_key is None:
        client_key = base / "client_ed25519"
        if not client_key.exists():
            _keygen(client_key, "coordssh-test-client")
    (base / "authorized_keys").write_text(Path(f"{client_key}.pub").read_text())
    for attempt in range(5):  # a free port can be taken between probing and binding it
        chosen = port or free_port(host)
        (base / "sshd_config").write_text(SSHD_CONFIG.format(
            host=host, port=chosen, host_key=host_key, dir=base, sftp=SFTP_SERVER))
        proc = subprocess.Popen(
            [SSHD, "-D", "-f", str(base / "sshd_config"), "-E", str(base / "sshd.log")],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if _wait_listening(proc, host, chosen):
            return SshdServer(base, host, chosen, getpass.getuser(), host_key, client_key, proc)
        if port is not None or attempt == 4:
            log = (base / "sshd.log").read_text() if (base / "sshd.log").exists() else ""
            raise RuntimeError(f"sshd on {host}:{chosen} did not come up: {log[-2000:]}")
    raise AssertionError("unreachable")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _wait_listening(proc: subprocess.Popen, host: str, port: int) -> bool:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection((host, port), timeout=1):
                return True
        except OSError:
            time.sleep(0.05)
    proc.kill()
    proc.wait()
    return False


def _keygen(path: Path, comment: str) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
                   check=True, stdin=subprocess.DEVNULL)


def _ensure_privsep_dir() -> None:
    try:
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
    except PermissionError:  # not root: sshd runs without privilege separation
        pass


def _sshd_children(pid: int) -> list[int]:
    """Direct children of `pid` that are sshd processes (the per-connection servers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            comm = (entry / "comm").read_text().strip()
        except OSError:
            continue
        if int(fields[1]) == pid and comm.startswith("sshd"):
            found.append(int(entry.name))
    return found
