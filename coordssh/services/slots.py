"""A claude config dir per worker slot (LESSONS 11: several `claude` processes on one host that
share `~/.claude` race on credential refreshes and corrupt `.claude.json`).

`coordssh setup` (step `claude_config_dirs`) makes `slot-1` .. `slot-N` (N = max_workers) and
records them on the board (kv `claude_config_dirs:<machine>`). Every claude run dispatched to
that machine then gets `CLAUDE_CONFIG_DIR=<a slot dir no live run there holds>` in its env,
chosen inside the board transaction that takes the machine's capacity (two dispatches racing
never get one slot), kept on the row (`extra["slot"]`, `extra["claude_config_dir"]`) and in
meta.json (an adopted run keeps its slot). The caller may prefer a slot (`continue`: the earlier
run's, where its transcript is). Test runs run no claude: they take no slot.

- The machine's `env` sets CLAUDE_CONFIG_DIR: it wins, no slot (a note says so).
- No dirs recorded: no slot; the run has the machine's env as before.
- Every slot held (max_workers raised after setup): refused like a full machine, naming
  `coordssh setup MACHINE`. Falling back to the shared dir would bring back the race the slots
  exist for, and each slot has its own login: the shared dir may not be logged in at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from coordssh.config.schema import Machine
from coordssh.domain.models import Assignment
from coordssh.errors import Refused
from coordssh.shell.paths import expand_with

ENV = "CLAUDE_CONFIG_DIR"
DIR_KEY = "claude_config_dir"     # on the row's extra (and in meta.json)
SLOT_KEY = "slot"


def config_dirs_key(machine: str) -> str:
    return f"claude_config_dirs:{machine}"


class Reader(Protocol):            # a Board or a board transaction (Tx)
    def kv_get(self, key: str, default: Any = None) -> Any: ...
    def list(self, *, live_only: bool = False) -> list[Assignment]: ...


@dataclass(frozen=True)
class Slot:
    number: int                    # 1-based, as setup named its dir (slot-N)
    dir: str                       # absolute on the worker


def recorded(reader: Reader, machine: Machine, home: str) -> tuple[Slot, ...]:
    """The machine's slots (absolute paths), or () when its env sets CLAUDE_CONFIG_DIR."""
    dirs = reader.kv_get(config_dirs_key(machine.name)) or []
    if ENV in machine.env or not isinstance(dirs, list):
        return ()
    return tuple(Slot(n, expand_with(d, home)) for n, d in enumerate(dirs, 1)
                 if isinstance(d, str) and d)


def capacity(reader: Reader, machine: Machine) -> int:
    """How many claude runs the machine takes at once: max_workers, or fewer when setup
    recorded fewer slots (each holds one live run; `plan` proposes no more than that)."""
    count = len(recorded(reader, machine, "~"))
    return min(machine.max_workers, count) if count else machine.max_workers


def held_dir(row: Assignment) -> str:
    extra = row.extra if isinstance(row.extra, dict) else {}
    return str(extra.get(DIR_KEY) or "")


def choose(reader: Reader, machine: Machine, home: str, *, prefer: str = "",
           live: Iterable[Assignment] | None = None) -> Slot | None:
    """A slot no live run on the machine holds (`prefer` when it is free); None: no slots.
    Refused when every slot is held."""
    slots = recorded(reader, machine, home)
    if not slots:
        return None
    rows = reader.list(live_only=True) if live is None else live
    held = {held_dir(row) for row in rows if row.machine == machine.name}
    free = [slot for slot in slots if slot.dir not in held]
    if not free:
        raise Refused(
            f"machine {machine.name}: all {len(slots)} claude config slots are held by live "
            f"runs (max_workers {machine.max_workers})",
            hint=f"wait for a run to finish, or make a slot per worker: coordssh setup "
                 f"{machine.name} (step claude_config_dirs), then log each new slot in")
    return next((slot for slot in free if slot.dir == prefer), free[0])


def seat(row: Assignment, env: Mapping[str, str],
         slot: Slot | None) -> tuple[Assignment, dict[str, str]]:
    """The row and env of a run in `slot` (as they were when there is none)."""
    if slot is None:
        return row, dict(env)
    extra = {**row.extra, SLOT_KEY: slot.number, DIR_KEY: slot.dir}
    return row.evolve(extra=extra), {**env, ENV: slot.dir}


def run_env(machine: Machine, row: Assignment) -> dict[str, str]:
    """The env `row` ran under (its slot's dir over the machine's env, even one that sets its
    own dir since): where its transcript is."""
    found = held_dir(row)
    return {**machine.env, ENV: found} if found else dict(machine.env)


def env_note(reader: Reader, machine: Machine) -> tuple[str, ...]:
    """Says so when the machine's env overrides the slots setup recorded."""
    if ENV not in machine.env or not reader.kv_get(config_dirs_key(machine.name)):
        return ()
    return (f"claude config: machine {machine.name}'s env sets {ENV}={machine.env[ENV]}; it wins "
            "over the per-slot dirs `coordssh setup` recorded",)


def shown(row: Assignment) -> dict[str, Any]:
    """`slot` and `claude_config_dir` for a row's JSON (None for a run without a slot)."""
    extra = row.extra if isinstance(row.extra, dict) else {}
    return {SLOT_KEY: extra.get(SLOT_KEY), DIR_KEY: extra.get(DIR_KEY)}
