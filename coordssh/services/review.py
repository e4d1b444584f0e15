"""`coordssh review ID [--machine M] [--model M]`: an adversarial review run of the item's PR.

A claude run of role `review` (playbooks/review.yml) in a FRESH session (a new session id,
never --resume: it shares nothing with the runs that wrote the code), on another machine that
serves the repo when there is one (the same one is allowed, and the prompt says so), on a
worktree detached at the PR's head SHA. Read-only: the playbook lists read tools only, the
repo's build and test commands are allowed, and Edit, Write, commit and push are denied
explicitly; the envelope is rendered without a branch, so the wrapper never commits or pushes
(as for test runs). The prompt: the issue, the diff range `origin/BASE...HEAD`, the repo's
CLAUDE.md at that SHA, the checklist (reviews.checklist + repo_overrides) and the verdict's
format (agent/verdict.py). Its end becomes `review_verdict` for the SHA it reviewed
(pipeline.end_event); `review_post.settle_review` posts it on the PR. It takes a claude config
slot like any claude run (services/slots.py).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from coordssh.agent.claude import build_for_playbook, resolve_model
from coordssh.agent.permissions import command_rules
from coordssh.agent.playbook import load_playbook
from coordssh.agent.verdict import VERDICT_INSTRUCTIONS
from coordssh.config.schema import Machine, Repo
from coordssh.domain.models import Assignment
from coordssh.domain.work import Event, WorkItem, transition
from coordssh.errors import ForgeError, Refused, TransitionRefused
from coordssh.forge.issue import Issue
from coordssh.remote import envelope, launcher
from coordssh.remote import test_run as remote
from coordssh.remote.git_log import file_at
from coordssh.services import claims, slots
from coordssh.services.context import Context
from coordssh.services.pr import pushed_item, runs_of
from coordssh.services.assign import mark_running
from coordssh.services.test_run import detached_row, launch_detached
from coordssh.shell.command import Command
from coordssh.transport.base import Transport

ROLE = "review"
READ_ONLY_DENY = ("Edit", "Write", "NotebookEdit", "Bash(git commit *)", "Bash(git push *)",
                  "Bash(git push)", "Bash(git reset *)", "Bash(git checkout *)")
CLAUDE_MD_KEEP = 20000


@dataclass(frozen=True)
class DispatchedReview:
    assignment: Assignment
    pr_number: int
    same_machine: bool
    pid: int | None

    def to_json(self) -> dict[str, Any]:
        a = self.assignment
        return {"id": a.id, "machine": a.machine, "repo": a.repo, "issue": a.issue,
                "work": a.work_key, "role": a.role, "pr": self.pr_number, "sha": a.base_sha,
                "model": a.model, "session_id": a.session_id, "worktree": a.worktree,
                "run_dir": a.run_dir, "status": a.status, "pid": self.pid,
                "same_machine": self.same_machine, **slots.shown(a)}


async def dispatch_review(ctx: Context, which: str, *, machine: str | None = None,
                          model: str | None = None) -> DispatchedReview:
    item = await pushed_item(ctx, which, "review")
    if item.pr_number is None:
        raise Refused(f"{item.key} has no pull request to review",
                      hint=f"open it first: coordssh pr {item.key}")
    repo = ctx.config.repo(item.repo)
    pr = await ctx.forge(repo).pr_view(item.pr_number)
    if pr.head_sha and pr.head_sha != item.head_sha:
        raise Refused(f"PR #{pr.number}'s head is {pr.head_sha[:7]}, but {item.key} is at "
                      f"{item.head_sha[:7]}: the branch moved outside coordssh's runs",
                      hint="test the new head first (`coordssh test`), then review it")
    transition(item, Event("run_started", {"role": ROLE}), ctx.clock())  # refused early
    writers = {row.machine for row in runs_of(ctx, item) if row.role in ("implement", "fix")}
    candidates = [ctx.config.machine(machine)] if machine else _reviewers(ctx, repo, writers)
    refusals = []
    for candidate in candidates:
        async with await ctx.connector.connect(candidate) as transport:
            try:
                row, pid = await _on_machine(ctx, item, repo, candidate, transport, model,
                                             same=candidate.name in writers)
                return DispatchedReview(row, pr.number, candidate.name in writers, pid)
            except TransitionRefused:
                raise
            except Refused as err:
                if machine:
                    raise
                refusals.append(err.message)
    raise Refused(f"no machine can review {item.key} now: " + "; ".join(refusals),
                  hint="wait for a run to finish, or name a machine with --machine")


def _reviewers(ctx: Context, repo: Repo, writers: set[str]) -> list[Machine]:
    """Machines serving the repo, those that did not write the code first."""
    found = [mc for mc in ctx.config.machines.values()
             if repo.name in mc.repos and mc.repo_paths.get(repo.name)]
    if not found:
        raise Refused(f"no machine serves repo '{repo.name}'",
                      hint="add it to a machine's repos and repo_paths in coordinator.yml")
    return sorted(found, key=lambda mc: mc.name in writers)


async def _on_machine(ctx: Context, item: WorkItem, repo: Repo, machine: Machine,
                      transport: Transport, model: str | None,
                      *, same: bool) -> tuple[Assignment, int | None]:
    from coordssh.services import pipeline
    from coordssh.services.observe import observe_machine

    repo_path = claims.ensure_serves(machine, repo)
    facts = await remote.prepare(transport, repo_path, item.base_branch, item.branch,
                                 item.head_sha)
    seen = await observe_machine(ctx, machine, transport)
    claims.ensure_capacity(machine, [row.id for row in seen.assignments if row.live])
    claude = await launcher.claude_path(transport, machine.claude_command, ctx.board)
    claude_md = await file_at(transport, repo_path, item.head_sha, "CLAUDE.md")
    issue = await _issue(ctx, repo, item)
    playbook = load_playbook(ROLE, ctx.config.playbooks_dir)
    claude_model, asked = resolve_model(model, issue.labels, ctx.config.models, playbook.model)
    row = _row(ctx, item, machine, facts.home, asked)
    prompt = review_prompt(ctx, playbook, repo, item, issue, claude_md or "",
                           machine=machine.name, same=same)
    with ctx.board.transaction() as tx:       # capacity again and a claude config slot
        live = [r for r in tx.list(live_only=True) if r.machine == machine.name]
        claims.ensure_capacity(machine, [r.id for r in live])
        row, env = slots.seat(row, machine.env, slots.choose(tx, machine, facts.home,
                                                             live=live))
        program = envelope.env_command(env, build_for_playbook(   # refused: nothing written
            claude, playbook, model=claude_model, session_id=row.session_id,
            allow=_allowed(repo), deny=(*repo.worker_permissions.deny, *READ_ONLY_DENY)))
        tar = _tar(ctx, row, prompt, program)
        row = pipeline.record_start(tx, row, ctx.clock(),
                                    rung=pipeline.rung_of(ctx.config, asked))
    pid = await launch_detached(ctx, transport, row, repo_path, facts.home, tar)
    return mark_running(ctx, row, pid), pid


def _allowed(repo: Repo) -> list[str]:
    """The repo's build and test commands (the rest of Bash is not in the read tools)."""
    return [*command_rules(repo.build_command or ""), *command_rules(repo.test_command or "")]


def _tar(ctx: Context, row: Assignment, prompt: str, program: Command) -> bytes:
    limits = envelope.Limits.of(ctx.config.runs.result_grace_s, ctx.config.runs.max_runtime_s)
    run_sh = envelope.render_run_sh(row.evolve(branch=""), limits, program)  # never pushes
    return envelope.bundle(envelope.envelope_files(row, prompt, run_sh), mtime=ctx.clock())


async def _issue(ctx: Context, repo: Repo, item: WorkItem) -> Issue:
    if repo.github:
        try:
            return await ctx.forge(repo).issue_view(item.issue)
        except ForgeError:
            pass
    return Issue(item.issue, item.title)   # a plain-git issue: its title is all we keep


def _row(ctx: Context, item: WorkItem, machine: Machine, home: str, model: str) -> Assignment:
    """A test run's row (detached at the head SHA, no branch pushed), for a reviewer."""
    row = detached_row(ctx, item, machine, home)
    return row.evolve(role=ROLE, model=model, session_id=str(uuid.uuid4()),
                      extra={"pr": item.pr_number})


def checklist_of(ctx: Context, repo: str) -> list[str]:
    reviews = ctx.config.reviews
    return [*reviews.checklist, *reviews.repo_overrides.get(repo, ())]


def review_prompt(ctx: Context, playbook, repo: Repo, item: WorkItem, issue: Issue,
                  claude_md: str, *, machine: str, same: bool) -> str:
    checks = checklist_of(ctx, repo.name)
    note = (f"You run on {machine}, the same machine that wrote this code (no other machine "
            "serves the repo); that changes nothing: you share no session, no memory and no "
            "context with the author." if same else
            f"You run on {machine}; the code was written elsewhere.")
    md = claude_md.strip()[:CLAUDE_MD_KEEP]
    prompt = playbook.render({
        "issue_number": issue.number, "issue_title": issue.title, "issue_body": issue.body,
        "issue_url": issue.url, "branch": item.branch, "base_branch": item.base_branch,
        "repo_name": repo.name, "repo_notes": repo.notes, "head_sha": item.head_sha,
        "diff_range": f"origin/{item.base_branch}...{item.head_sha}",
        "checklist": "\n".join(f"- {c}" for c in checks) or "- (no checklist configured)",
        "claude_md": f"The repository's CLAUDE.md says:\n\n{md}" if md else "",
        "verdict_instructions": VERDICT_INSTRUCTIONS, "reviewer_note": note})
    if '"verdict"' not in prompt:   # a user's playbook that forgot the format still gets it
        prompt += "\n" + VERDICT_INSTRUCTIONS
    return prompt
