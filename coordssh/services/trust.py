"""`coordssh trust MACHINE`: fetch the host key a machine offers, and record it once confirmed.

The key is fetched before any authentication and nothing is trusted while fetching. A key that
differs from the one already recorded is never replaced here: the operator removes the old
line by hand (named by file and line), as OpenSSH asks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from coordssh.errors import UsageError

if TYPE_CHECKING:
    from coordssh.config.schema import Machine
    from coordssh.transport.known_hosts import HostKeyReport

TrustStatus = Literal["added", "already-known", "declined"]


@dataclass(frozen=True)
class TrustOutcome:
    status: TrustStatus
    report: HostKeyReport

    @property
    def path(self) -> Path:
        return self.report.path


async def fetch_host_key(machine: Machine) -> HostKeyReport:
    """The key `machine` offers and what its known_hosts file says about it."""
    if machine.connection == "local":
        raise UsageError(f"machine '{machine.name}' is local: there is no host key to trust",
                         hint="trust is only for machines with connection: ssh")
    from coordssh.transport.ssh_connect import offered_host_key

    return await offered_host_key(machine)


async def trust_machine(machine: Machine,
                        confirm: Callable[[HostKeyReport], bool]) -> TrustOutcome:
    """Fetch the key, ask `confirm(report)` for an unknown one, and append it to known_hosts.

    Raises HostKeyChanged (naming file and line) when a different key is recorded already.
    """
    from coordssh.transport.known_hosts import host_key_error

    report = await fetch_host_key(machine)
    if report.status == "changed":
        raise host_key_error(machine, report)
    if report.status == "known":
        return TrustOutcome("already-known", report)
    if not confirm(report):
        return TrustOutcome("declined", report)
    return TrustOutcome("added", record_host_key(machine, report))


def record_host_key(machine: Machine, report: HostKeyReport) -> HostKeyReport:
    """Append the offered key, re-checking the file first: it may have changed meanwhile."""
    from coordssh.transport.known_hosts import append_entry, check_host_key, host_key_error

    now = check_host_key(report.path, report.host, report.addr, report.port, report.key)
    if now.status == "changed":
        raise host_key_error(machine, now)
    if now.status == "unknown":
        append_entry(report.path, report.entry)
    return check_host_key(report.path, report.host, report.addr, report.port, report.key)
