"""known_hosts on the operator's machine: which file, what it says about a host, adding a line.

Host keys are always verified. This module lets coordssh tell an unknown host (offer
`coordssh trust`) from a CHANGED host key (refuse loudly, name the file and line), which
asyncssh reports as the same HostKeyNotVerifiable. Matching follows asyncssh's own rules
(patterns, hashed names, `[host]:port`, the port-less fallback) by asking asyncssh to match.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from coordssh.errors import HostKeyChanged, HostKeyUnknown

if TYPE_CHECKING:
    import asyncssh

    from coordssh.config.schema import Machine

KeyStatus = Literal["known", "unknown", "changed"]


def known_hosts_file(machine: Machine) -> Path:
    """The one known_hosts file of `machine`: what the connection checks, what messages name and
    what `trust` writes. The machine's `known_hosts`, else the first UserKnownHostsFile that
    ~/.ssh/config gives its host, else ~/.ssh/known_hosts."""
    if machine.known_hosts:
        return Path(machine.known_hosts)
    return Path(os.path.expanduser(_ssh_config_known_hosts(machine) or "~/.ssh/known_hosts"))


def _ssh_config_known_hosts(machine: Machine) -> str | None:
    """The first UserKnownHostsFile of ~/.ssh/config for the machine's host (asyncssh's parser,
    the same one its connect uses); None when there is none, `none`, or the file is unreadable.
    """
    path = Path("~", ".ssh", "config").expanduser()
    try:
        st = path.stat()
    except OSError:
        return None
    return _configured_file(str(path), (st.st_mtime_ns, st.st_size, st.st_ino), machine.host,
                            machine.user, machine.port)


@functools.lru_cache(maxsize=256)
def _configured_file(path: str, stamp: tuple[int, int, int], host: str, user: str | None,
                     port: int | None) -> str | None:
    """Parsed once per host and version of the file (`stamp`), however many connections."""
    import getpass

    from asyncssh.config import SSHClientConfig

    if not os.access(path, os.R_OK):
        return None
    try:
        config = SSHClientConfig.load(None, [Path(path)], False, False, False, getpass.getuser(),
                                      user or (), host, port or ())
    except Exception:  # a config asyncssh rejects: its connect reports it, with the line
        return None
    files = config.get("UserKnownHostsFile") or []
    first = files[0] if files else None
    return None if first is None or first.lower() == "none" else first


def machine_address(machine: Machine) -> str:
    return f"{machine.host}:{machine.port}" if machine.port else machine.host


@dataclass(frozen=True)
class HostKeyReport:
    """What known_hosts says about the key a server offered."""

    status: KeyStatus
    path: Path
    host: str                       # as matched and recorded (HostName or HostKeyAlias applied)
    addr: str
    port: int
    key_type: str                   # "ssh-ed25519"
    fingerprint: str                # "SHA256:..."
    lines: tuple[int, ...]          # 1-based lines holding the recorded key(s) for this host
    key: asyncssh.SSHKey = field(repr=False, compare=False)

    @property
    def entry(self) -> str:
        """The known_hosts line that would trust the offered key."""
        return entry_line(self.host, self.port, self.key)

    def where(self) -> str:
        return ", ".join(f"{self.path}:{n}" for n in self.lines) or str(self.path)


def host_key_error(machine: Machine, report: HostKeyReport) -> HostKeyChanged | HostKeyUnknown:
    """The error for a host key known_hosts does not vouch for: loud when it CHANGED."""
    where = f"{machine.name} ({machine_address(machine)})"
    if report.status == "changed":
        return HostKeyChanged(
            f"REMOTE HOST IDENTIFICATION HAS CHANGED for {where}: it offers {report.key_type} "
            f"{report.fingerprint}, which differs from the key recorded at {report.where()}. "
            "Someone could be intercepting the connection (man-in-the-middle), or the host key "
            "was just replaced.",
            hint=f"if the change is expected, remove line {', '.join(map(str, report.lines))} of "
                 f"{report.path} and run: coordssh trust {machine.name}",
            machine=machine.name)
    return HostKeyUnknown(
        f"{where} is not in {report.path}: it offers {report.key_type} {report.fingerprint}",
        hint=f"check the fingerprint with the machine's owner, then run: coordssh trust "
             f"{machine.name}",
        machine=machine.name, fingerprint=report.fingerprint)


def check_host_key(path: Path, host: str, addr: str, port: int,
                   key: asyncssh.SSHKey) -> HostKeyReport:
    import asyncssh

    text = _read(path)
    trusted = asyncssh.import_known_hosts(text).match(host, addr, port)[0] if text else []
    if key in trusted:
        status: KeyStatus = "known"
    else:
        status = "changed" if trusted else "unknown"
    lines = tuple(n for n, line in enumerate(text.splitlines(), 1)
                  if _line_keys(line, host, addr, port) & set(trusted))
    return HostKeyReport(status, path, host, addr, port, key.get_algorithm(),
                         key.get_fingerprint("sha256"), lines, key)


def entry_line(host: str, port: int, key: asyncssh.SSHKey) -> str:
    """One OpenSSH known_hosts line: `host type base64`, `[host]:port ...` off port 22."""
    name = host if port == 22 else f"[{host}]:{port}"
    key_type, blob = key.export_public_key("openssh").decode().split()[:2]
    return f"{name} {key_type} {blob}\n"


def append_entry(path: Path, line: str) -> None:
    """Append a line; a new file is created 0600 in a 0700 directory."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as fh:
        if fh.tell() > 0 and not _read(path).endswith("\n"):
            fh.write("\n")
        fh.write(line)


def _line_keys(line: str, host: str, addr: str, port: int) -> set:
    import asyncssh

    stripped = line.strip()
    if not stripped or stripped.startswith(("#", "@")):
        return set()
    try:
        return set(asyncssh.import_known_hosts(stripped + "\n").match(host, addr, port)[0])
    except (ValueError, asyncssh.KeyImportError):
        return set()


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return ""
