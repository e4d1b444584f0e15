"""`coordssh gc [--dry-run]` (and every notify pass): clean up what finished work left behind.

From the board (archived rows too), per machine:
  worktree  the worktree of a finished run whose work item is merged or abandoned (a dirty one
            gets a rescue commit pushed to its branch first)
  testtree  the worktree of a finished test run (detached at the tested SHA: build output only)
  rundir    the run directory of a run finished more than `pipeline.run_dir_max_age` ago
All through ONE guarded function (remote/gc.remove_under_roots): nothing outside the machine's
worktree_root / run_root, symlinks resolved. What was removed is marked on the row
(`extra["gc"]`), so a later pass does not ask again; a refusal is reported and asked again
next time. Disk use of both roots per machine is measured in the same exec and kept on the board
(kv `disk.usage`) for `status --json` and `doctor`. A pass of notify measures a machine only
when it has something to remove or its last measure is over an hour old; `coordssh gc` always.

The board itself is compacted too (`compact`): for work items merged or abandoned more than
max(`pipeline.run_dir_max_age`, 2 days) ago, their events move from events.jsonl to
events-archive.jsonl (`work --history` and `report` still read them) and their archived runs
with nothing left to clean up from board-archive.json to runs-archive.jsonl (`get`, `report`
and `assign` still read them; gc's plan and the day's spend do not need to). What every write
and every notify pass touches then stays the size of the work in flight. A notify pass moves
them once COMPACT_MIN have gathered (each file is rewritten whole); `coordssh gc` whenever any.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from coordssh.domain import stages as s
from coordssh.domain.work_cycle import stage_of_run
from coordssh.errors import CoordError
from coordssh.remote.gc import Removal, remove_under_roots

if TYPE_CHECKING:
    from coordssh.config.schema import Machine
    from coordssh.domain.models import Assignment
    from coordssh.services.context import Context

DISK_KEY = "disk.usage"
MEASURE_EVERY_S = 3600.0
COMPACT_MIN = 500
COLD_MIN_AGE_S = 2 * 86400.0     # older than today, whatever run_dir_max_age: the day's spend


@dataclass
class GcReport:
    dry_run: bool = False
    planned: dict[str, list[dict[str, str]]] = field(default_factory=dict)   # machine -> entries
    results: dict[str, dict[str, str]] = field(default_factory=dict)        # machine -> results
    disk: dict[str, dict[str, Any]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    compacted: dict[str, int] = field(default_factory=dict)   # {events, runs} moved

    def lines(self) -> list[str]:
        found = [f"{m}: {k} {v}" for m, got in self.results.items() for k, v in got.items()]
        if any(self.compacted.values()):
            found.append(f"board: archived {self.compacted.get('events', 0)} events and "
                         f"{self.compacted.get('runs', 0)} runs of finished work items")
        found += [f"{m}: would remove {e['kind']} {e['path']}" for m, es in self.planned.items()
                  for e in es if self.dry_run]
        return found + [f"{m}: {err}" for m, err in self.errors.items()]

    def to_json(self) -> dict[str, Any]:
        return {"dry_run": self.dry_run, "planned": self.planned, "results": self.results,
                "disk": self.disk, "errors": self.errors, "compacted": self.compacted}


async def collect(ctx: Context, *, dry_run: bool = False, always: bool = False) -> GcReport:
    report = GcReport(dry_run=dry_run)
    if not dry_run:
        report.compacted = compact(ctx, minimum=1 if always else COMPACT_MIN)
    plan = _plan(ctx)
    disk = dict(ctx.board.kv_get(DISK_KEY, {}) or {})
    now = ctx.clock()
    chosen = [mc for mc in ctx.config.machines.values()
              if plan.get(mc.name) or always or
              now - disk.get(mc.name, {}).get("at", 0) > MEASURE_EVERY_S]
    for name, entries in plan.items():
        report.planned[name] = [{"run": e.run_id, "kind": e.kind, "path": e.path}
                                for e in entries]
    if dry_run or not chosen:
        report.disk = disk
        return report

    async def one(machine: Machine, transport):
        return await remove_under_roots(transport, machine.worktree_root, machine.run_root,
                                        plan.get(machine.name, []))

    found = await ctx.connector.fan_out(chosen, one)
    for machine in chosen:
        result = found[machine.name]
        if isinstance(result, CoordError):
            report.errors[machine.name] = result.message
            continue
        report.results[machine.name] = result.results
        disk[machine.name] = {"worktrees_kb": result.disk_kb.get("worktrees_kb"),
                              "runs_kb": result.disk_kb.get("runs_kb"), "at": now}
    _record(ctx, report.results, disk)
    report.disk = disk
    return report


def compact(ctx: Context, *, minimum: int = 1) -> dict[str, int]:
    """Archive the history and the settled archived runs of items merged or abandoned long
    ago; how many of each moved (none of a kind when fewer than `minimum` would)."""
    now, age = ctx.clock(), ctx.config.pipeline.run_dir_max_age
    cutoff = now - max(age, COLD_MIN_AGE_S)
    final = {item.key: item.stage for item in ctx.board.list_work()
             if item.stage in s.FINAL_STAGES and item.updated_at < cutoff}
    if not final:
        return {"events": 0, "runs": 0}
    settled = [row.id for row in ctx.board.list(include_archived=True, cold=False)
               if row.terminal and row.work_key in final
               and (row.finished_at or row.updated_at) < cutoff
               and _settled(row, ctx.config.machines.get(row.machine), final[row.work_key],
                            now, age)]
    return {"events": ctx.board.compact_events(final, minimum=minimum),
            "runs": ctx.board.archive_cold(settled, minimum=minimum)}


def _settled(row: Assignment, machine: Machine | None, stage: str, now: float,
             age: float) -> bool:
    """Nothing of the run is left for gc to remove (or gc cannot reach its machine's config)."""
    if machine is None:
        return True
    done = row.extra.get("gc", {}) if isinstance(row.extra, dict) else {}
    return all(entry.kind in done for entry in _entries(row, machine, stage, now, age))


def _plan(ctx: Context) -> dict[str, list[Removal]]:
    now, age = ctx.clock(), ctx.config.pipeline.run_dir_max_age
    items = {item.key: item for item in ctx.board.list_work()}
    plan: dict[str, list[Removal]] = {}
    for row in ctx.board.list(include_archived=True, cold=False):   # cold: nothing left
        machine = ctx.config.machines.get(row.machine)
        if machine is None or not row.terminal:
            continue
        done = row.extra.get("gc", {}) if isinstance(row.extra, dict) else {}
        item = items.get(row.work_key)
        stage = stage_of_run(item, row.id) if item else ""     # an earlier cycle's: final
        for entry in _entries(row, machine, stage, now, age):
            if entry.kind not in done:
                plan.setdefault(machine.name, []).append(entry)
    return plan


def _entries(row: Assignment, machine: Machine, stage: str, now: float,
             age: float) -> list[Removal]:
    found = []
    repo_path = machine.repo_paths.get(row.repo, "")
    if row.worktree and row.role == "test":
        found.append(Removal(row.id, "testtree", row.worktree, repo_path))
    elif row.worktree and stage in s.FINAL_STAGES:
        found.append(Removal(row.id, "worktree", row.worktree, repo_path, row.branch))
    finished = row.finished_at or row.updated_at
    if row.run_dir and finished and now - finished > age:
        found.append(Removal(row.id, "rundir", row.run_dir))
    return found


def _record(ctx: Context, results: dict[str, dict[str, str]], disk: dict[str, Any]) -> None:
    marks: dict[str, dict[str, str]] = {}
    for got in results.values():
        for key, what in got.items():
            run_id, _, kind = key.partition(" ")
            if what.startswith(("removed", "gone")):
                marks.setdefault(run_id, {})[kind] = what
    with ctx.board.transaction() as tx:
        for run_id, kinds in marks.items():
            row = tx.get(run_id)
            if row is not None:
                tx.put(row.evolve(extra={**row.extra, "gc": {**row.extra.get("gc", {}),
                                                               **kinds}}))
        tx.kv_set(DISK_KEY, disk)
