"""`coordssh doctor`: is every machine (and the operator's gh) ready to run workers?

All machines are checked at once (Connector.fan_out), each over its one connection: one batched
probe script (remote/doctor_probe.py), then a few bare `true` execs to time the remote shell;
with `dispatch`, then one real run with the replay agent over the same connection
(doctor_dispatch.py).
An unreachable machine is a problem in the report, never an exception. The resolved path of
`claude` is cached on the board (`claude_path:<machine>`) for the commands that launch it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from coordssh.config.schema import Machine
from coordssh.errors import CoordError, RemoteError
from coordssh.remote.claude_path import claude_path_key
from coordssh.remote.doctor_probe import ProbeFacts, run_probe, shell_cost
from coordssh.services import slots
from coordssh.services.context import Context
from coordssh.services.doctor_checks import ERROR, Problem, assess, from_error, slot_problems
from coordssh.transport.base import Transport

if TYPE_CHECKING:
    from coordssh.services.doctor_dispatch import DispatchCheck

# (machine name, stage): "connecting", "checking", "dispatching", "done" or "failed"
ProgressFn = Callable[[str, str], None]


@dataclass
class MachineReport:
    name: str
    host: str
    connection: str
    launcher: str
    reachable: bool = False
    connect_s: float | None = None   # from the start of the fan-out to an open connection
    shell_s: float | None = None     # median cost of a bare `true` exec
    facts: ProbeFacts | None = None
    dispatch: DispatchCheck | None = None   # with --dispatch, once reached
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.reachable and not any(p.severity == ERROR for p in self.problems)

    def to_dict(self) -> dict[str, Any]:
        facts = self.facts
        return {
            "name": self.name, "host": self.host, "connection": self.connection,
            "launcher": self.launcher, "ok": self.ok, "reachable": self.reachable,
            "connect_ms": _ms(self.connect_s), "shell_ms": _ms(self.shell_s),
            **(_facts_dict(facts) if facts else {}),
            "dispatch": self.dispatch.to_dict() if self.dispatch else None,
            "problems": [p.to_dict() for p in self.problems],
        }


@dataclass
class DoctorReport:
    config_path: str
    machines: list[MachineReport]
    gh: str | None = None            # None: no repo is on GitHub; else ok | not_authenticated | error
    operator_problems: list[Problem] = field(default_factory=list)

    @property
    def problems(self) -> list[Problem]:
        return [*self.operator_problems, *(p for m in self.machines for p in m.problems)]

    @property
    def ok(self) -> bool:
        return all(m.ok for m in self.machines) and not any(
            p.severity == ERROR for p in self.operator_problems)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok, "config": self.config_path,
            "operator": {"gh": self.gh, "problems": [p.to_dict() for p in self.operator_problems]},
            "machines": [m.to_dict() for m in self.machines],
        }


async def run_doctor(ctx: Context, names: Sequence[str] = (), *,
                     on_progress: ProgressFn | None = None, dispatch: bool = False,
                     dispatch_timeout: float | None = None) -> DoctorReport:
    """`dispatch`: also one real run per machine with the replay agent (doctor_dispatch)."""
    config = ctx.config
    machines = [config.machine(n) for n in names] or list(config.machines.values())
    emit = on_progress or (lambda _name, _stage: None)
    for machine in machines:
        emit(machine.name, "connecting")
    if any(m.connection == "ssh" for m in machines):
        # Imported before the clock starts: importing asyncssh blocks the event loop ~150 ms,
        # which would count as connect latency for every machine.
        import coordssh.transport.ssh_connect  # noqa: F401
    started = time.perf_counter()

    async def check(machine: Machine, transport: Transport) -> MachineReport:
        report = _blank(machine)
        report.reachable, report.connect_s = True, time.perf_counter() - started
        emit(machine.name, "checking")
        await _check_machine(report, machine, transport, ctx)
        if dispatch:
            emit(machine.name, "dispatching")
            await _dispatch(report, machine, transport, ctx, dispatch_timeout)
        return report

    results, (gh, gh_problems) = await asyncio.gather(
        ctx.connector.fan_out(machines, check), _check_gh(ctx))
    reports = [_finish(m, results[m.name], emit) for m in machines]
    _cache_claude_paths(ctx, reports)
    return DoctorReport(str(config.path), reports, gh, gh_problems)


async def _check_machine(report: MachineReport, machine: Machine, transport: Transport,
                         ctx: Context) -> None:
    try:
        report.facts = await run_probe(transport, machine)
        report.shell_s = await shell_cost(transport)  # after the probe: a warm connection
    except RemoteError as err:  # reached, then failed: report it, keep the other machines
        report.problems.append(from_error(err, machine.name))
    if report.facts is not None:
        report.problems.extend(assess(machine, report.facts, report.shell_s, ctx.config.repos))
    report.problems.extend(slot_problems(machine, slots.capacity(ctx.board, machine)))


async def _dispatch(report: MachineReport, machine: Machine, transport: Transport, ctx: Context,
                    timeout: float | None) -> None:
    from coordssh.services.doctor_dispatch import TIMEOUT_S, dispatch_check

    report.dispatch = await dispatch_check(ctx, machine, transport,
                                           timeout=TIMEOUT_S if timeout is None else timeout)
    report.problems.extend(report.dispatch.problems)


def _finish(machine: Machine, result: MachineReport | RemoteError,
            emit: ProgressFn) -> MachineReport:
    if isinstance(result, MachineReport):
        emit(machine.name, "done")
        return result
    emit(machine.name, "failed")
    report = _blank(machine)
    report.problems.append(from_error(result, machine.name))
    return report


async def _check_gh(ctx: Context) -> tuple[str | None, list[Problem]]:
    """`gh auth status` (its exit status only), when any repo lives on GitHub."""
    repo = next((r for r in ctx.config.repos.values() if r.github), None)
    if repo is None:
        return None, []
    try:
        authenticated = await ctx.forge(repo).auth_status()
    except CoordError as err:  # gh missing or failing: a problem, not a crash
        return "error", [from_error(err)]
    if authenticated:
        return "ok", []
    return "not_authenticated", [Problem(
        ERROR, "gh is not logged in to GitHub (`gh auth status` failed)",
        "run `gh auth login`, or export GH_TOKEN for coordssh")]


def _cache_claude_paths(ctx: Context, reports: list[MachineReport]) -> None:
    probed = [r for r in reports if r.facts is not None]
    if not probed:
        return
    with ctx.board.transaction() as tx:
        for report in probed:
            facts = report.facts
            path = facts.claude_path if facts and facts.claude_state == "ok" else None
            tx.kv_set(claude_path_key(report.name), path)


def _blank(machine: Machine) -> MachineReport:
    return MachineReport(machine.name, machine.host, machine.connection, machine.launcher)


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def _facts_dict(facts: ProbeFacts) -> dict[str, Any]:
    roots = {kind: {"state": r.state, "path": r.path} for kind, r in facts.roots.items()}
    return {
        "home": facts.home, "git": facts.git, "tmux": facts.tmux,
        "claude": {"state": facts.claude_state, "path": facts.claude_path or None,
                   "via": facts.claude_via or None, "version": facts.claude_version or None},
        "worktree_root": roots.get("worktree"), "run_root": roots.get("run"),
        "disk_free_bytes": None if facts.disk_free_kb is None else facts.disk_free_kb * 1024,
        "disk_used_kb": {"worktrees": facts.used_kb[0], "runs": facts.used_kb[1]},
        "repos": [{"name": r.name, "state": r.state, "path": r.path,
                   ("origin" if r.state == "ok" else "detail"): r.detail or None}
                  for r in facts.repos.values()],
    }
