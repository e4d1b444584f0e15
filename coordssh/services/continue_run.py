"""`coordssh continue ID --guidance T`: a run that stopped without finishing (stuck, max_turns,
crashed, cancelled, usage_limited) goes on with `claude --resume SESSION`, the guidance as the
new prompt (the `continue` playbook), on the SAME machine: the transcript lives there, under the
run's claude config dir: its slot's (services/slots.py), else `~/.claude` (the machine's `env`
HOME or CLAUDE_CONFIG_DIR, when it sets one). The continued run takes the earlier run's slot
when it is free; else another slot, into which the transcript is copied before it starts.

The CLI finds a session from its cwd, so the continued run uses the earlier run's worktree path:
the worktree itself when it still has the branch checked out (reused as it is, uncommitted work
included), else a new worktree at the same path on the branch. A machine without the session's
transcript is refused before anything is written; a transcript kept for another cwd is a
warning (`--resume` may not find it). The run keeps its role (implement or fix), mode
`continue` (`resume` after a usage limit), and its session id.
"""

from __future__ import annotations

import os

from coordssh.config.schema import Machine
from coordssh.domain import models as m
from coordssh.domain.models import Assignment
from coordssh.domain.work import WorkItem
from coordssh.errors import Refused, UsageError
from coordssh.remote.checkout import Checkout
from coordssh.remote.transcript import Transcript, find_transcript
from coordssh.remote.worktree import OriginFacts
from coordssh.services import assign as dispatch
from coordssh.services import followup, slots
from coordssh.services.assign import AssignResult, RunShape
from coordssh.services.context import Context

CONTINUED = frozenset({m.STUCK, m.MAX_TURNS, m.CRASHED, m.CANCELLED, m.USAGE_LIMITED})
PLAYBOOK = "continue"


class Reused(Checkout):
    @property
    def note(self) -> str:
        return f"reusing the earlier worktree {self.free} on {self.branch} (--resume's cwd)"


async def continue_run(ctx: Context, which: str, guidance: str) -> AssignResult:
    if not guidance.strip():
        raise UsageError("--guidance is required: it is the continued run's prompt",
                         hint="coordssh continue ID --guidance 'what to do now'")
    target = await followup.observed(ctx, followup.resolve(ctx, which))
    row = followup.ensure_latest(target, "continue")
    item = target.item
    _ensure_continuable(row)
    mode = "resume" if row.status == m.USAGE_LIMITED else "continue"
    followup.check_start(item, row.role, mode, ctx.clock())
    machine = ctx.config.machine(row.machine)
    repo = ctx.config.repo(item.repo)
    issue = await followup.issue_of(ctx, repo, item, followup.first_briefing(ctx, item))
    book = followup.playbook(ctx, PLAYBOOK)
    prompt = book.render(followup.prompt_values(repo, item, issue, guidance=guidance))
    brief = followup.make_brief(ctx, repo, issue, book, prompt,
                                followup.requested_model(row) or ctx.config.models.default,
                                f"as run {row.id}, resumed")
    async with await ctx.connector.connect(machine) as transport:
        transcript = await find_transcript(transport, slots.run_env(machine, row),
                                           row.session_id)
        notes = _check_transcript(row, machine, transcript)
        shape = RunShape(role=row.role, mode=mode, worktree=row.worktree, resume=row.session_id,
                         slot=slots.held_dir(row), transcripts=transcript.paths,
                         extra={"continues": row.id, "guidance": guidance,
                                "playbook": PLAYBOOK})
        return await followup.dispatch_on_branch(ctx, item, machine, brief, shape,
                                                 checkout=_same_worktree(row), notes=notes,
                                                 transport=transport)


def _ensure_continuable(row: Assignment) -> None:
    if row.role == "test":
        raise Refused(f"run {row.id} is a test run: it has no session to continue",
                      hint=f"run the test again: coordssh test {row.work_key}")
    if row.status in CONTINUED and row.session_id and row.worktree:
        return
    if row.live:
        raise Refused(f"run {row.id} is {row.status}: it is still going (or its machine is "
                      "unreachable)", hint=f"wait for it (coordssh wait {row.id}), or stop it")
    if row.status in CONTINUED:
        raise Refused(f"run {row.id} has no session id to resume",
                      hint=f"start the work again: coordssh retry {row.id}")
    ways = {m.DONE: f"test it: coordssh test {row.work_key}",
            m.ADVISORY: f"`coordssh work {row.work_key}` says what comes next",
            m.FAILED: f"fix it: coordssh fix {row.id} --guidance '...'",
            m.PUSH_FAILED: f"push it again: coordssh retry {row.id}",
            m.API_ERROR: f"go again elsewhere: coordssh retry {row.id}",
            m.AUTH_FAILED: f"go again elsewhere: coordssh retry {row.id}",
            m.BUDGET: f"raise max_budget_usd, then coordssh fix {row.id} --guidance '...'"}
    raise Refused(f"run {row.id} is {row.status}: continue is for runs that stopped without "
                  "finishing (stuck, max_turns, crashed, cancelled, usage_limited)",
                  hint=ways.get(row.status, f"`coordssh work {row.work_key}` says what's next"))


def _check_transcript(row: Assignment, machine: Machine, found: Transcript) -> tuple[str, ...]:
    if not found.found:
        raise Refused(
            f"on {machine.name}: claude has no transcript of session {row.session_id} "
            f"(looked in {found.projects_dir or '~/.claude/projects'}): --resume cannot "
            f"continue run {row.id}",
            hint=f"start the work again instead: coordssh retry {row.id} (a crashed run), or "
                 f"coordssh fix {row.work_key} --guidance '...' (a new session on the branch)")
    if found.ran_in(row.worktree):
        return ()
    return (f"warning: session {row.session_id} was kept for another cwd ({found.cwds()[0]}), "
            f"not {row.worktree}: --resume looks it up by cwd and may start afresh",)


def _same_worktree(row: Assignment):
    def rule(ctx: Context, machine: Machine, item: WorkItem, facts: OriginFacts) -> Checkout:
        holder = facts.holder(item.branch)
        if holder is not None and os.path.normpath(holder.path) == os.path.normpath(
                row.worktree):
            remote, local = facts.origin(item.branch), facts.local_branch(item.branch)
            start = remote.sha if remote else (local.sha if local else facts.base_sha)
            return Reused(item.branch, start, continued=True, free=row.worktree)
        return dispatch.checkout_branch(ctx, machine, item.branch, facts)
    return rule
