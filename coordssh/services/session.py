"""`coordssh resume` (after a crash of the operator's machine) and `coordssh done` (end a session).

resume: reconcile everything (observe every machine: live runs the board lost are adopted, ended
runs recorded on their work items; the chores done), then sort the work items: live (a run
going), parked (until when, why), waiting (an automatic next step, or a run of ours on an
unreachable machine), needs a human (with the command). It starts nothing: the next notify pass
(or the operator) does.

done: the session's summary from the board (which observe fills from every machine's run
envelopes, not from local logs): work items per stage, runs per status, cost per model, per
machine, per role, and per merged PR; then `hooks.on_session_end`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from coordssh.domain import stages as s
from coordssh.domain.next_action import next_action
from coordssh.services import budgets, parking, stale
from coordssh.services.notify_actions import active_rows
from coordssh.services.pipeline import policy_from_config

if TYPE_CHECKING:
    from coordssh.services.context import Context

SESSION_KEY = "session.ended_at"


@dataclass
class ResumeReport:
    live: list[dict[str, Any]] = field(default_factory=list)
    parked: list[dict[str, Any]] = field(default_factory=list)
    waiting: list[dict[str, Any]] = field(default_factory=list)
    needs_human: list[dict[str, Any]] = field(default_factory=list)
    finished: list[dict[str, Any]] = field(default_factory=list)
    machines: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


async def resume(ctx: Context) -> ResumeReport:
    from coordssh.services.housekeeping import act_on
    from coordssh.services.observe import observe

    observation = await observe(ctx)
    await act_on(ctx, observation)
    notes = {**parking.machine_notes(ctx), **stale.machine_notes(ctx)}
    report = ResumeReport(machines=[
        {"name": mo.name, "reachable": mo.reachable, "error": mo.error, "running": mo.running,
         "note": notes.get(mo.name, "")} for mo in observation.machines])
    policy, now = policy_from_config(ctx.config), ctx.clock()
    for item in ctx.board.list_work():
        action = next_action(item, policy, now, active_rows(ctx, item))
        entry = {"work": item.key, "stage": item.stage, "action": action.kind,
                 "reason": action.reason, "command": action.command,
                 "auto": action.auto, "run": item.active_run or action.run}
        report_list(report, item.stage, action.kind).append(entry)
    return report


def report_list(report: ResumeReport, stage: str, kind: str) -> list[dict[str, Any]]:
    if stage in s.RUNNING_STAGES or stage == s.MERGING:
        return report.live
    if stage == s.PARKED and kind != "needs_human":
        return report.parked
    if kind == "needs_human" or (kind != "none" and stage == s.PARKED):
        return report.needs_human
    if kind == "none":
        return report.finished
    return report.waiting


# --- done -------------------------------------------------------------------------------------
def summary(ctx: Context) -> dict[str, Any]:
    rows = ctx.board.list(include_archived=True)
    items = ctx.board.list_work()
    stages: dict[str, int] = {}
    for item in items:
        stages[item.stage] = stages.get(item.stage, 0) + 1
    statuses: dict[str, int] = {}
    for row in rows:
        statuses[row.status] = statuses.get(row.status, 0) + 1
    merged = [i for i in items if i.stage == s.MERGED]
    return {
        "work_items": len(items), "stages": stages, "runs": len(rows), "statuses": statuses,
        "cost_usd": round(sum(r.cost_usd or 0 for r in rows), 6),
        "cost_by_model": budgets.cost_by(rows, "model"),
        "cost_by_machine": budgets.cost_by(rows, "machine"),
        "cost_by_role": budgets.cost_by(rows, "role"),
        "merged": [{"work": i.key, "pr": i.pr_number, "cost_usd": round(i.spend_usd, 6)}
                   for i in merged],
        "cost_per_merged_pr": round(sum(i.spend_usd for i in merged) / len(merged), 6)
        if merged else None,
    }


def summary_text(data: dict[str, Any]) -> str:
    lines = [f"# coordssh summary", "",
             f"work items: {data['work_items']} "
             f"({', '.join(f'{k} {v}' for k, v in sorted(data['stages'].items())) or 'none'})",
             f"runs: {data['runs']} "
             f"({', '.join(f'{k} {v}' for k, v in sorted(data['statuses'].items())) or 'none'})",
             f"cost: ${data['cost_usd']:.2f}"]
    for title, key in (("per model", "cost_by_model"), ("per machine", "cost_by_machine"),
                       ("per role", "cost_by_role")):
        if data[key]:
            lines.append(f"cost {title}: " + ", ".join(f"{k} ${v:.2f}"
                                                       for k, v in data[key].items()))
    if data["merged"]:
        lines.append(f"merged: {len(data['merged'])}, cost per merged PR "
                     f"${data['cost_per_merged_pr']:.2f}")
    return "\n".join(lines) + "\n"


async def done(ctx: Context) -> dict[str, Any]:
    from coordssh.services.hooks import run_hook
    from coordssh.services.observe import observe

    await observe(ctx)   # the last costs from every machine
    data = summary(ctx)
    hooks = await run_hook(ctx, "on_session_end", {"kind": "session_end",
                                                   "runs": str(data["runs"]),
                                                   "cost_usd": f"{data['cost_usd']:.6f}"})
    ctx.board.kv_set(SESSION_KEY, ctx.clock())
    return {**data, "hooks": hooks}
