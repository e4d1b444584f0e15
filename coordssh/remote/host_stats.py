"""A worker's load and free disk, in one lean exec (the live view asks every few refreshes).

    load 0.42
    disk 123456789        (bytes free to the login user on run_root's file system)

The 1-minute load comes from /proc/loadavg (Linux) or `sysctl -n vm.loadavg` (BSD, macOS).
Free space is `df -Pk` of run_root, or of its nearest existing parent while it does not exist
yet. A line that cannot be read is left out; `parse_host_stats` is pure.
"""

from __future__ import annotations

from dataclasses import dataclass

from coordssh.shell.command import Command, sh_script
from coordssh.shell.paths import EXPAND_HOME
from coordssh.transport.base import Transport

STATS_TIMEOUT = 15.0

STATS_SCRIPT = EXPAND_HOME + r'''d=$(expand_home "$1")
l=
if [ -r /proc/loadavg ]; then read -r l _ < /proc/loadavg; else
  set -- $(sysctl -n vm.loadavg 2>/dev/null); [ "$1" = "{" ] && shift; l=$1; fi
[ -n "$l" ] && printf 'load %s\n' "$l"
while [ ! -e "$d" ] && [ "$d" != / ] && [ "$d" != . ]; do d=$(dirname -- "$d"); done
df -Pk -- "$d" 2>/dev/null | awk 'NR == 2 { printf "disk %.0f\n", $4 * 1024 }'
'''


@dataclass(frozen=True)
class HostStats:
    load: float | None = None          # 1-minute load average
    free_bytes: int | None = None      # free on run_root's file system


def stats_command(run_root: str) -> Command:
    return sh_script(STATS_SCRIPT, run_root)


def parse_host_stats(out: bytes) -> HostStats:
    load = free = None
    for line in out.decode("ascii", "replace").splitlines():
        key, _, value = line.partition(" ")
        try:
            if key == "load":
                load = float(value)
            elif key == "disk":
                free = int(value)
        except ValueError:
            continue
    return HostStats(load, free)


async def host_stats(transport: Transport, run_root: str) -> HostStats:
    result = await transport.run(stats_command(run_root), timeout=STATS_TIMEOUT)
    return parse_host_stats(result.stdout)
