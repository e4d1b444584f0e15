"""`coordssh setup MACHINE... [--check]`: prepare workers with the setup playbook.

Each machine gets its steps in order over its one connection (SSH or local), all machines at
once. Every step is one exec of a constant script (remote/setup_steps.py) that reads its fact
and, unless `check`, makes the change; the result is `ok`, `changed` (with `check`: would
change), `failed` (with the fix) or `skipped`. Nothing is installed unless the user allows it
(`install`, or `install: true` on the step). Found facts are recorded on the board (never with
`check`): the absolute path of `claude` (`claude_path:<machine>`) and the per-slot config dirs
(`claude_config_dirs:<machine>`: dispatch gives each live run its own, services/slots.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from coordssh.config.schema import Machine
from coordssh.errors import TransportError
from coordssh.remote import setup_steps as remote
from coordssh.remote.claude_path import claude_path_key, resolve_claude_path
from coordssh.services.context import Context
from coordssh.services.setup_playbook import SetupPlaybook, SetupStep, load_setup_playbook
from coordssh.services.setup_text import explain
from coordssh.services.slots import config_dirs_key
from coordssh.shell.paths import join
from coordssh.transport.base import Transport

OK, CHANGED, FAILED, SKIPPED = "ok", "changed", "failed", "skipped"


@dataclass(frozen=True)
class Item:
    state: str
    item: str
    message: str


@dataclass
class StepResult:
    name: str
    kind: str
    items: list[Item] = field(default_factory=list)
    skipped: str = ""          # why the step did nothing

    @property
    def state(self) -> str:
        if self.skipped:
            return SKIPPED
        states = {i.state for i in self.items}
        return FAILED if FAILED in states else CHANGED if CHANGED in states else OK

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "step": self.kind, "state": self.state,
                "skipped": self.skipped or None,
                "items": [{"state": i.state, "item": i.item, "message": i.message}
                          for i in self.items]}


@dataclass
class MachineSetup:
    name: str
    host: str
    steps: list[StepResult] = field(default_factory=list)
    error: TransportError | None = None   # unreachable, or a step's command failed to run

    @property
    def ok(self) -> bool:
        return self.error is None and all(s.state != FAILED for s in self.steps)

    @property
    def changes(self) -> int:
        return sum(1 for s in self.steps if s.state == CHANGED)

    def to_dict(self) -> dict[str, Any]:
        error = None if self.error is None else {"message": self.error.message,
                                                 "hint": self.error.hint}
        return {"name": self.name, "host": self.host, "ok": self.ok, "changes": self.changes,
                "error": error, "steps": [s.to_dict() for s in self.steps]}


@dataclass
class SetupReport:
    check: bool
    playbook: str
    machines: list[MachineSetup]

    @property
    def ok(self) -> bool:
        return all(m.ok for m in self.machines)

    @property
    def changes(self) -> int:
        return sum(m.changes for m in self.machines)

    def to_dict(self) -> dict[str, Any]:
        return {"check": self.check, "ok": self.ok, "changes": self.changes,
                "playbook": self.playbook, "machines": [m.to_dict() for m in self.machines]}


@dataclass
class _Run:
    """What one machine's steps hand on to the next, and what goes on the board."""
    ctx: Context
    machine: Machine
    transport: Transport
    mode: str
    install: bool
    claude_path: str | None = None
    config_dirs: list[str] | None = None   # None: no per-slot dirs, the machine's env as is
    record: dict[str, Any] = field(default_factory=dict)


async def run_setup(ctx: Context, names: Sequence[str] = (), *, check: bool,
                    install: bool = False, playbook: SetupPlaybook | None = None) -> SetupReport:
    machines = [ctx.config.machine(n) for n in names] or list(ctx.config.machines.values())
    book = playbook or load_setup_playbook(ctx.config.playbooks_dir)
    records: dict[str, dict[str, Any]] = {}

    async def prepare(machine: Machine, transport: Transport) -> MachineSetup:
        run = _Run(ctx, machine, transport, "check" if check else "apply", install)
        result = MachineSetup(machine.name, machine.host)
        try:
            for step in book.steps:
                result.steps.append(await STEPS[step.kind](run, step))
        except TransportError as err:
            result.error = err
        records[machine.name] = run.record
        return result

    found = await ctx.connector.fan_out(machines, prepare)
    report = SetupReport(check, str(book.path), [_machine(m, found[m.name]) for m in machines])
    if not check:
        _record(ctx, records)
    return report


def _machine(machine: Machine, found: MachineSetup | TransportError) -> MachineSetup:
    if isinstance(found, MachineSetup):
        return found
    return MachineSetup(machine.name, machine.host, error=found)


def _record(ctx: Context, records: dict[str, dict[str, Any]]) -> None:
    if not any(records.values()):
        return
    with ctx.board.transaction() as tx:
        for values in records.values():
            for key, value in values.items():
                tx.kv_set(key, value)


# --- the steps ---------------------------------------------------------------------------------
async def _exec(run: _Run, step: SetupStep, command, timeout: float) -> StepResult:
    result = await run.transport.run(command, timeout=timeout)
    records = remote.parse_records(result.text)
    if not records:  # the script itself failed: say so with its stderr
        tail = result.stderr_text.strip().splitlines()[-1:] or [f"exit {result.returncode}"]
        return StepResult(step.name, step.kind, [Item(FAILED, step.kind, tail[0])])
    items = [Item(r.state, r.item, explain(step, r)) for r in records]
    return StepResult(step.name, step.kind, items)


async def _package(run: _Run, step: SetupStep) -> StepResult:
    o = step.options
    needed_with = o.get("only_with_launcher")
    required = needed_with is None or needed_with == run.machine.launcher
    command = remote.package_command(run.mode, o["command"], o["package"],
                                     install=run.install or o["install"], required=required)
    return await _exec(run, step, command, remote.INSTALL_TIMEOUT)


async def _directories(run: _Run, step: SetupStep) -> StepResult:
    paths = [getattr(run.machine, name) for name in step.options["paths"]]
    return await _exec(run, step, remote.directories_command(run.mode, paths),
                       remote.STEP_TIMEOUT)


async def _clones(run: _Run, step: SetupStep) -> StepResult:
    repos = run.ctx.config.repos
    clones = [(name, run.machine.repo_paths[name], _clone_url(repos.get(name)))
              for name in run.machine.repos if name in run.machine.repo_paths]
    if not clones:
        return StepResult(step.name, step.kind, skipped="the machine serves no repos")
    return await _exec(run, step, remote.clones_command(run.mode, clones), remote.CLONE_TIMEOUT)


async def _identity(run: _Run, step: SetupStep) -> StepResult:
    o = step.options
    command = remote.identity_command(run.mode, o["user_name"], o["user_email"],
                                      run.machine.env)
    return await _exec(run, step, command, remote.STEP_TIMEOUT)


def _clone_url(repo) -> str:
    if repo is None:
        return ""
    if repo.url:
        return repo.url
    return f"https://github.com/{repo.github}.git" if repo.github else ""


async def _claude(run: _Run, step: SetupStep) -> StepResult:
    command = run.machine.claude_command
    path = await resolve_claude_path(run.transport, command, timeout=remote.STEP_TIMEOUT)
    run.claude_path = path
    if path is None:
        return StepResult(step.name, step.kind, [Item(FAILED, command, explain(
            step, remote.Record(FAILED, command, "missing")))])
    run.record[claude_path_key(run.machine.name)] = path
    return StepResult(step.name, step.kind, [Item(OK, command, f"found at {path}")])


async def _config_dirs(run: _Run, step: SetupStep) -> StepResult:
    if not step.options["enabled"]:
        return StepResult(step.name, step.kind, skipped="not enabled (enabled: true turns it on)")
    root = step.options["root"]
    dirs = [join(root, f"slot-{n}") for n in range(1, run.machine.max_workers + 1)]
    result = await _exec(run, step, remote.directories_command(run.mode, dirs),
                         remote.STEP_TIMEOUT)
    present = [d for d, item in zip(dirs, result.items)
               if item.state == OK or (item.state == CHANGED and run.mode == "apply")]
    run.config_dirs = present or None   # with --check, dirs yet to be made are not asked
    if len(present) == len(dirs):
        run.record[config_dirs_key(run.machine.name)] = dirs
    return result


async def _auth(run: _Run, step: SetupStep) -> StepResult:
    if run.claude_path is None:
        return StepResult(step.name, step.kind, skipped="claude was not found")
    command = remote.auth_command(run.claude_path, tuple(step.options["args"]),
                                  run.config_dirs or [""], run.machine.env)
    return await _exec(run, step, command, remote.STEP_TIMEOUT * 2)


STEPS = {"package": _package, "directories": _directories, "clones": _clones,
         "git_identity": _identity,
         "claude": _claude, "claude_config_dirs": _config_dirs, "claude_auth": _auth}
