"""Start and stop N real OpenSSH hosts for the benchmark (the Python form of shared/tools/sshd-fixture.sh).

    python3 bench/hosts.py start 50 [--netns] [--dir D] [--user coordbench]
    python3 bench/hosts.py stop [--dir D]

Loopback (default): N `sshd -D` on 127.0.0.1, one port each. `--netns` (root + CAP_NET_ADMIN):
N network namespaces cb-h0.. on bridge br-cbench (10.201.0.0/24), each sshd on port 22.
Traffic only goes to 127.0.0.0/8 or to the namespaces created here.

The login user is a clean account (`useradd -m -s /bin/bash -p '*'`): every exec runs the user's
shell, and a heavy ~/.bashrc would be paid per exec. The fleet's outputs, in its directory:
client_ed25519, known_hosts, ssh_config (Host h0.. blocks), hosts.json, pids, netns.
Stop kills only the pids recorded here and their per-connection sshd children.
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.support.sshd import SSHD_CONFIG as _TEST_SSHD_CONFIG  # noqa: E402

SSHD = "/usr/sbin/sshd"
SFTP_SERVER = "/usr/lib/openssh/sftp-server"
DEFAULT_DIR = Path("/tmp/coordbench-fleet")
DEFAULT_USER = "coordbench"
BRIDGE = "br-cbench"
NET_PREFIX = "10.201.0"

# the settings that matter (UsePAM no, StrictModes no under /tmp, MaxStartups) live in one place
SSHD_CONFIG = _TEST_SSHD_CONFIG.replace("MaxSessions 64", "MaxSessions 512")


@dataclass
class Host:
    name: str
    host: str
    port: int
    user: str
    client_key: str
    known_hosts: str
    netns: str = ""


def ensure_openssh() -> None:
    """apt-get install openssh-server/-client and GNU time when missing (root only)."""
    need = []
    if not os.access(SSHD, os.X_OK):
        need.append("openssh-server")
    if shutil.which("ssh") is None or shutil.which("ssh-keygen") is None:
        need.append("openssh-client")
    if not os.access("/usr/bin/time", os.X_OK):
        need.append("time")         # GNU time: peak RSS of each measured command
    if not need:
        return
    if os.geteuid() != 0:
        sys.exit(f"bench: need {' '.join(need)}; run as root or install them")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *need],
                   check=True, env=env)


def ensure_user(user: str) -> None:
    try:
        pwd.getpwnam(user)
    except KeyError:
        # with UsePAM no, sshd refuses a locked ('!') password field, hence -p '*'
        subprocess.run(["useradd", "-m", "-s", "/bin/bash", "-p", "*", user], check=True)


def netns_available() -> bool:
    if os.geteuid() != 0 or shutil.which("ip") is None:
        return False
    probe = f"cb-probe-{os.getpid()}"
    ok = subprocess.run(["ip", "netns", "add", probe], capture_output=True).returncode == 0
    if ok:
        subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return ok


class Fleet:
    def __init__(self, root: Path = DEFAULT_DIR, user: str = DEFAULT_USER):
        self.root = Path(root)
        self.user = user
        self.hosts: list[Host] = []

    # --- paths ----------------------------------------------------------------------------------
    @property
    def client_key(self) -> Path:
        return self.root / "client_ed25519"

    @property
    def known_hosts(self) -> Path:
        return self.root / "known_hosts"

    @property
    def ssh_config(self) -> Path:
        return self.root / "ssh_config"

    # --- start/stop -----------------------------------------------------------------------------
    def start(self, n: int, netns: bool = False) -> list[Host]:
        ensure_openssh()
        ensure_user(self.user)
        if (self.root / "pids").exists() and (self.root / "pids").read_text().strip():
            self.stop()
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o755)  # sshd reads authorized_keys as the login user
        try:
            os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
        except PermissionError:
            pass
        if not self.client_key.exists():
            _keygen(self.client_key, "coordbench-client")
        for f in ("pids", "netns"):
            (self.root / f).write_text("")
        if netns:
            self._bridge()
        procs = []
        self.hosts = []
        for i in range(n):
            name = f"h{i}"
            hdir = self.root / name
            hdir.mkdir(exist_ok=True)
            if not (hdir / "ssh_host_ed25519_key").exists():
                _keygen(hdir / "ssh_host_ed25519_key", name)
            if netns:
                ns, addr, port = f"cb-{name}", f"{NET_PREFIX}.{10 + i}", 22
                self._namespace(i, ns, addr)
                listen, prefix = "0.0.0.0", ["ip", "netns", "exec", ns]
            else:
                ns, addr, port = "", "127.0.0.1", free_port()
                listen, prefix = addr, []
            (hdir / "authorized_keys").write_text(Path(f"{self.client_key}.pub").read_text())
            os.chmod(hdir, 0o755)
            os.chmod(hdir / "authorized_keys", 0o644)
            (hdir / "sshd_config").write_text(SSHD_CONFIG.format(
                host=listen, port=port, dir=hdir, host_key=hdir / "ssh_host_ed25519_key",
                sftp=SFTP_SERVER))
            proc = subprocess.Popen(
                [*prefix, SSHD, "-D", "-f", str(hdir / "sshd_config"), "-E", str(hdir / "sshd.log")],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            with open(self.root / "pids", "a") as fh:
                fh.write(f"{proc.pid} {name}\n")
            procs.append(proc)
            self.hosts.append(Host(name, addr, port, self.user, str(self.client_key),
                                   str(self.known_hosts), ns))
        for proc, host in zip(procs, self.hosts):
            _wait_listening(proc, host.host, host.port, self.root / host.name / "sshd.log")
        self._write_client_files()
        return self.hosts

    def stop(self) -> None:
        pids = self.root / "pids"
        if pids.exists():
            for line in pids.read_text().split("\n"):
                if not line.strip():
                    continue
                pid, name = line.split()[:2]
                _kill_ours(int(pid), str(self.root / name / "sshd_config"))
            pids.write_text("")
        nsfile = self.root / "netns"
        if nsfile.exists():
            for line in reversed(nsfile.read_text().split("\n")):
                if line.strip():
                    kind, obj = line.split()
                    cmd = ["ip", "netns", "del", obj] if kind == "netns" else ["ip", "link", "del", obj]
                    subprocess.run(cmd, capture_output=True)
            nsfile.write_text("")

    def load(self) -> list[Host]:
        self.hosts = [Host(**h) for h in json.loads((self.root / "hosts.json").read_text())]
        return self.hosts

    # --- helpers --------------------------------------------------------------------------------
    def _bridge(self) -> None:
        if subprocess.run(["ip", "link", "show", BRIDGE], capture_output=True).returncode != 0:
            _ip("link", "add", BRIDGE, "type", "bridge")
            self._record_ns("link", BRIDGE)
            _ip("addr", "add", f"{NET_PREFIX}.1/24", "dev", BRIDGE)
            _ip("link", "set", BRIDGE, "up")

    def _namespace(self, i: int, ns: str, addr: str) -> None:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)  # leftovers of a crash
        subprocess.run(["ip", "link", "del", f"vcb{i}"], capture_output=True)
        _ip("netns", "add", ns)
        self._record_ns("netns", ns)
        _ip("link", "add", f"vcb{i}", "type", "veth", "peer", "name", f"vcb{i}p")
        self._record_ns("link", f"vcb{i}")
        _ip("link", "set", f"vcb{i}p", "netns", ns)
        _ip("link", "set", f"vcb{i}", "master", BRIDGE, "up")
        _ip("-n", ns, "link", "set", "lo", "up")
        _ip("-n", ns, "link", "set", f"vcb{i}p", "name", "eth0")
        _ip("-n", ns, "addr", "add", f"{addr}/24", "dev", "eth0")
        _ip("-n", ns, "link", "set", "eth0", "up")

    def _record_ns(self, kind: str, obj: str) -> None:
        with open(self.root / "netns", "a") as fh:
            fh.write(f"{kind} {obj}\n")

    def _write_client_files(self) -> None:
        kh, cfg = [], []
        for h in self.hosts:
            pub = " ".join((self.root / h.name / "ssh_host_ed25519_key.pub").read_text().split()[:2])
            kh.append(f"{h.host if h.port == 22 else f'[{h.host}]:{h.port}'} {pub}\n")
            cfg.append(f"Host {h.name}\n  HostName {h.host}\n  Port {h.port}\n  User {h.user}\n"
                       f"  IdentityFile {self.client_key}\n  IdentitiesOnly yes\n"
                       f"  UserKnownHostsFile {self.known_hosts}\n  StrictHostKeyChecking yes\n"
                       f"  BatchMode yes\n")
        self.known_hosts.write_text("".join(kh))
        self.ssh_config.write_text("".join(cfg))
        (self.root / "hosts.json").write_text(json.dumps([asdict(h) for h in self.hosts], indent=1))


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


def _keygen(path: Path, comment: str) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
                   check=True, stdin=subprocess.DEVNULL)


def _wait_listening(proc: subprocess.Popen, host: str, port: int, log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            with socket.create_connection((host, port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    text = log.read_text() if log.exists() else ""
    raise RuntimeError(f"sshd on {host}:{port} did not come up: {text[-1000:]}")


def _kill_ours(pid: int, config: str) -> None:
    """Kill `pid` only if it is still our sshd, and its per-connection sshd children."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return
    if config not in cmdline:
        return
    kids = _descendants(pid)
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    for kid in kids:
        try:
            if Path(f"/proc/{kid}/comm").read_text().startswith("sshd"):
                os.kill(kid, signal.SIGTERM)
        except (OSError, ProcessLookupError):
            pass


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        for kid in children.get(todo.pop(), []):
            out.append(kid)
            todo.append(kid)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("action", choices=["start", "stop"])
    ap.add_argument("n", nargs="?", type=int, default=1)
    ap.add_argument("--netns", action="store_true")
    ap.add_argument("--dir", type=Path, default=DEFAULT_DIR)
    ap.add_argument("--user", default=DEFAULT_USER)
    args = ap.parse_args(argv)
    fleet = Fleet(args.dir, args.user)
    if args.action == "start":
        hosts = fleet.start(args.n, netns=args.netns)
        print(f"started {len(hosts)} sshd host(s) in {args.dir}; ssh -F {fleet.ssh_config} h0 true")
    else:
        fleet.stop()
        print("stopped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
