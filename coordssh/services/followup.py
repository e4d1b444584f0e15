"""Follow-up runs of a work item, on its branch: what `fix`, `retry` and `continue` share.

Each resolves ID (a run id or prefix, or REPO#ISSUE: then the item's latest run) to the work
item and the run it acts on, refuses early what cannot be (the stage table, the run's status:
nothing is written then), builds a `Brief` (the role's playbook prompt, the model and where it
came from) and hands it to `dispatch_on_branch`, which uses assign's own plan and start
(services/assign.py: `plan_run`, `checkout_branch`, `start_run`): the worktree checks out the
item's existing branch (freeing a stale clean worktree that holds it), the intent transaction
starts the run on the item through `pipeline.record_start` (so two commands acting on one item
at once are serialised by the board lock: the second sees the first's stage and is refused).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from coordssh.agent.permissions import repo_rules
from coordssh.agent.playbook import Playbook, load_playbook
from coordssh.config.schema import Machine, Repo
from coordssh.domain.models import Assignment
from coordssh.domain.work import Event, WorkItem, transition
from coordssh.errors import NotFound, Refused
from coordssh.forge.issue import Issue
from coordssh.remote import launcher
from coordssh.remote.checkout import Checkout
from coordssh.remote.worktree import OriginFacts, origin_facts
from coordssh.services import assign as dispatch
from coordssh.services import claims, pipeline
from coordssh.services.assign import AssignResult, RunShape
from coordssh.services.brief import Brief, fetch_issue
from coordssh.services.context import Context
from coordssh.transport.base import Transport

FAILURE_MAX = 4000        # characters of a failure (test output tail, findings) in a prompt


@dataclass(frozen=True)
class Target:
    item: WorkItem
    run: Assignment | None        # the run named, or the item's latest run


def resolve(ctx: Context, which: str) -> Target:
    """The work item and run that ID names (NotFound for an unknown id or item)."""
    if "#" in which:
        key = pipeline.resolve_key(ctx.board, which)
        item = _item(ctx, key)
        run = next((r for r in (ctx.board.get(i) for i in reversed(item.runs)) if r), None)
        return Target(item, run)
    run = ctx.board.find(which)
    return Target(_item(ctx, run.work_key), run)


def _item(ctx: Context, key: str) -> WorkItem:
    item = ctx.board.get_work(key)
    if item is None:
        raise NotFound(f"no work item {key} on the board",
                       hint="`coordssh work` lists the work items; `coordssh assign` starts one")
    return item


async def observed(ctx: Context, target: Target) -> Target:
    """The target again after observing its run's machine (a run that ended since the last
    command has its end applied first); an unreachable machine leaves it as it was."""
    run = target.run
    if run is None or not run.live or run.machine not in ctx.config.machines:
        return target
    from coordssh.services.observe import observe

    await observe(ctx, [run.machine])
    return Target(_item(ctx, target.item.key), ctx.board.get(run.id) or run)


def ensure_latest(target: Target, verb: str) -> Assignment:
    """The run, if it is the item's latest (the one whose end set its stage)."""
    item, run = target.item, target.run
    if run is None:
        raise Refused(f"{item.key} has no run to {verb}",
                      hint=f"`coordssh assign MACHINE {item.repo} {item.issue}` starts one")
    latest = item.active_run or item.last_run.get("id") or (item.runs[-1] if item.runs else "")
    if run.id != latest:
        raise Refused(f"run {run.id} is not the latest run of {item.key} ({latest} is)",
                      hint=f"{verb} the latest one: coordssh {verb} {latest}")
    return run


def check_start(item: WorkItem, role: str, mode: str, now: float) -> None:
    """TransitionRefused now, before anything is written or run, if the stage says no."""
    transition(item, Event("run_started", {"role": role, "mode": mode}), now)


# --- the brief ----------------------------------------------------------------------------------
async def issue_of(ctx: Context, repo: Repo, item: WorkItem, briefing: str) -> Issue:
    """The issue as the first run saw it (GitHub's, or the title and briefing a plain-git repo's
    first run was given)."""
    return await fetch_issue(ctx, repo, item.issue, item.title or f"issue {item.issue}", briefing)


def first_briefing(ctx: Context, item: WorkItem) -> str:
    for run_id in item.runs:
        row = ctx.board.get(run_id)
        if row is not None and isinstance(row.extra, dict) and row.extra.get("briefing"):
            return str(row.extra["briefing"])
    return ""


def playbook(ctx: Context, role: str) -> Playbook:
    return load_playbook(role, ctx.config.playbooks_dir)


def prompt_values(repo: Repo, item: WorkItem, issue: Issue, **more: Any) -> dict[str, Any]:
    return {"issue_number": issue.number, "issue_title": issue.title, "issue_body": issue.body,
            "issue_url": issue.url, "branch": item.branch, "base_branch": item.base_branch,
            "repo_name": repo.name, "repo_notes": repo.notes, "head_sha": item.head_sha, **more}


def make_brief(ctx: Context, repo: Repo, issue: Issue, book: Playbook, prompt: str,
               model: str, source: str) -> Brief:
    given = ctx.config.models.aliases.get(model, model)
    return Brief(issue, prompt, given, model, source, book, repo_rules(repo))


def requested_model(row: Assignment) -> str:
    """What a run asked for (`sonnet`), not the id its init line reported."""
    extra = row.extra if isinstance(row.extra, dict) else {}
    return str(extra.get("model_requested") or row.model or "")


# --- machines -----------------------------------------------------------------------------------
def serving(ctx: Context, repo: Repo, *, prefer: str = "", exclude: str = "") -> list[Machine]:
    """Machines that serve the repo, `prefer` first, without `exclude`."""
    found = [mc for mc in ctx.config.machines.values()
             if repo.name in mc.repos and mc.repo_paths.get(repo.name) and mc.name != exclude]
    return sorted(found, key=lambda mc: mc.name != prefer)


async def on_some_machine(ctx: Context, machines: Iterable[Machine], named: bool, what: str,
                          attempt: Callable[[Machine], Any]) -> Any:
    """`attempt(machine)` on the first machine that does not refuse (a full machine, say); a
    named machine's refusal stands. The work item's refusal is never a machine's."""
    from coordssh.errors import TransitionRefused

    refusals = []
    for machine in machines:
        try:
            return await attempt(machine)
        except TransitionRefused:
            raise
        except Refused as err:
            if named:
                raise
            refusals.append(err.message)
    raise Refused(f"no machine can {what} now: " + ("; ".join(refusals) or "none serves it"),
                  hint="wait for a run to finish, or name a machine with --machine")


# --- the dispatch -------------------------------------------------------------------------------
CheckoutRule = Callable[[Context, Machine, WorkItem, OriginFacts], Checkout]


def existing_branch(ctx: Context, machine: Machine, item: WorkItem,
                    facts: OriginFacts) -> Checkout:
    """The item's branch, continued from its newest head (a stale clean worktree freed)."""
    return dispatch.checkout_branch(ctx, machine, item.branch, facts)


async def dispatch_on_branch(ctx: Context, item: WorkItem, machine: Machine, brief: Brief,
                             shape: RunShape, *, checkout: CheckoutRule = existing_branch,
                             before: Callable[[Any], None] | None = None,
                             notes: tuple[str, ...] = (),
                             transport: Transport | None = None) -> AssignResult:
    """A run of `brief` on the item's branch on `machine`: assign's plan and start."""
    repo = ctx.config.repo(item.repo)
    repo_path = claims.ensure_serves(machine, repo)
    if transport is not None:
        return await _on(ctx, item, machine, repo, repo_path, brief, shape, checkout, before,
                         notes, transport)
    async with await ctx.connector.connect(machine) as opened:
        return await _on(ctx, item, machine, repo, repo_path, brief, shape, checkout, before,
                         notes, opened)


async def _on(ctx: Context, item: WorkItem, machine: Machine, repo: Repo, repo_path: str,
              brief: Brief, shape: RunShape, checkout: CheckoutRule, before, notes,
              transport: Transport) -> AssignResult:
    shown = [await dispatch.check_capacity(ctx, machine, transport), *notes]
    facts = await origin_facts(transport, repo_path, item.base_branch, item.issue, fetch=True)
    where = checkout(ctx, machine, item, facts)
    claude = await launcher.claude_path(transport, machine.claude_command, ctx.board)
    plan = dispatch.plan_run(ctx, machine, repo, repo_path, brief, facts, where, claude, shape)
    result = await dispatch.start_run(ctx, transport, machine, plan, check_claims=False,
                                      before=before)
    return AssignResult(result.assignment, result.prompt, result.command, result.launch,
                        pid=result.pid, model_source=result.model_source,
                        notes=(*shown, *((where.note,) if where.note else ()),
                               *result.notes))


def tail(text: str, limit: int = FAILURE_MAX) -> str:
    text = text.strip()
    return text if len(text) <= limit else "...\n" + text[-limit:]
