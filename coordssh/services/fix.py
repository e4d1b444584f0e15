"""`coordssh fix ID [--guidance T] [--model M] [--machine M]`: a fix run on the item's branch.

The prompt is the `fix` playbook's: the issue, the branch, the SHA that failed and what failed
there (the failed test verdict's output tail, a review's findings, the conflicting files), with
the operator's guidance appended. The model goes one rung up `models.escalation` from the
item's rung (`domain.next_action.fix_rung`, the driver's own rule: one rung down past the soft
budget; the top rung stays), shown with where it came from ("opus (escalation: rung 3 of 3 after
sonnet)"); `--model` wins. After `max_fix_rounds` fix rounds the item needs a human: refused.
"""

from __future__ import annotations

from dataclasses import dataclass

from coordssh.domain.next_action import fix_rung
from coordssh.domain.policy import Policy
from coordssh.domain.work import WorkItem
from coordssh.errors import Refused
from coordssh.services import followup, pipeline
from coordssh.services.assign import AssignResult, RunShape
from coordssh.services.context import Context
from coordssh.services.work_view import observe_live_runs

ROLE = "fix"


@dataclass(frozen=True)
class FixRequest:
    which: str                    # a run id (or prefix), or REPO#ISSUE
    guidance: str = ""
    model: str | None = None
    machine: str | None = None


async def fix(ctx: Context, request: FixRequest) -> AssignResult:
    target = followup.resolve(ctx, request.which)
    if await observe_live_runs(ctx, [target.item]):
        target = followup.resolve(ctx, target.item.key)
    item, policy = target.item, pipeline.policy_from_config(ctx.config)
    _ensure_fixable(item, policy, request.guidance)
    followup.check_start(item, ROLE, "new", ctx.clock())
    repo = ctx.config.repo(item.repo)
    issue = await followup.issue_of(ctx, repo, item, followup.first_briefing(ctx, item))
    book = followup.playbook(ctx, ROLE)
    prompt = book.render(followup.prompt_values(repo, item, issue, failure=failure_of(item),
                                                guidance=request.guidance))
    model, source = choose_model(ctx, item, policy, request.model, book.model)
    brief = followup.make_brief(ctx, repo, issue, book, prompt, model, source)
    shape = RunShape(role=ROLE, extra={"playbook": ROLE, "fixes_sha": item.head_sha,
                                       **({"guidance": request.guidance}
                                          if request.guidance else {})})
    last = target.run.machine if target.run else ""
    machines = ([ctx.config.machine(request.machine)] if request.machine
                else followup.serving(ctx, repo, prefer=last))
    return await followup.on_some_machine(
        ctx, machines, bool(request.machine), f"fix {item.key}",
        lambda machine: followup.dispatch_on_branch(ctx, item, machine, brief, shape))


def _ensure_fixable(item: WorkItem, policy: Policy, guidance: str) -> None:
    if not item.branch or not item.head_sha:
        raise Refused(f"{item.key} has nothing pushed yet ({item.stage}): there is no branch to "
                      "fix", hint=f"wait for its run to push (`coordssh work {item.key}`)")
    used = item.rounds.fix
    if used >= policy.max_fix_rounds:
        raise Refused(f"{item.key} needs a human: {used} fix rounds used; raise "
                      "pipeline.max_fix_rounds or fix by hand",
                      hint=f"fix branch {item.branch} by hand and push it, then "
                           f"`coordssh test {item.key}`")
    if not failure_of(item) and not guidance.strip():
        raise Refused(f"{item.key} has no failure recorded at {item.head_sha[:7]} "
                      f"({item.stage}): nothing says what to fix",
                      hint=f"say what to fix: coordssh fix {item.key} --guidance '...'")


def failure_of(item: WorkItem) -> str:
    """What failed at the head: the test output's tail, the review's findings, the conflict."""
    parts = []
    test, review = item.verdict("test"), item.verdict("review")
    if test is not None and test.result == "failed":
        parts.append(f"The tests failed (output tail):\n\n{followup.tail(test.detail)}")
    if review is not None and review.result == "request_changes":
        parts.append(f"The review asked for changes:\n\n{followup.tail(review.detail)}")
    if item.conflict_files:
        parts.append(f"The branch conflicts with {item.base_branch} in: "
                     + ", ".join(item.conflict_files))
    return "\n\n".join(parts)


def choose_model(ctx: Context, item: WorkItem, policy: Policy, asked: str | None,
                 playbook_model: str | None) -> tuple[str, str]:
    """(the model, where it came from): --model, else the ladder (never silent)."""
    if asked:
        return asked, "--model"
    if playbook_model:
        return playbook_model, "playbook"
    rung, _ = fix_rung(item, policy)
    if rung is None:
        last = _last_model(ctx, item) or ctx.config.models.default
        return last, "same model as the last run: not on models.escalation"
    ladder, before = policy.escalation, item.model_rung or 0
    where = f"rung {rung + 1} of {len(ladder)}"
    if rung > before:
        return ladder[rung], f"escalation: {where} after {ladder[before]}"
    if rung < before:
        return ladder[rung], f"escalation: {where}, down from {ladder[before]} (soft budget)"
    return ladder[rung], f"escalation: {where}, the top, as before"


def _last_model(ctx: Context, item: WorkItem) -> str:
    for run_id in reversed(item.runs):
        row = ctx.board.get(run_id)
        if row is not None and row.role in ("implement", "fix"):
            return followup.requested_model(row)
    return ""
