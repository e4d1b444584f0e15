"""`next_action(item, policy, now, runs)`: what should happen next to a work item, with a reason.

Pure. The action names what to do (`kind`) and whether the driver may do it unattended
(`auto`, from the policy); an action that is not `auto` is what a human would type, so
`command` spells it. Kinds:

  dispatch     start a run: role, mode (new|retry|continue|resume|conflict), model rung
  repush       push the branch of a run whose push failed (no model, no new run)
  open_pr      the coordinator opens the PR itself
  merge        hand the PR to the merge queue (issue 10 checks the gates again)
  park         park the item (until `until`, None: until a human decides)
  unpark       the parking time has passed
  wait         something is under way (a run, a merge, a parking time); a run whose machine
               cannot be reached (`unknown` in `runs`) is said so, with `coordssh retry ID`
  needs_human  nothing automatic is right: the reason says what a human must decide
  none         nothing more will happen (merged, abandoned, stopped by the operator)

GitHub comments are not actions: they follow events (issue 11, one dedupe key per event).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any

from coordssh.domain import models as m
from coordssh.domain import stages as s
from coordssh.domain.models import Assignment
from coordssh.domain.policy import Policy
from coordssh.domain.work import WorkItem

ACTION_KINDS = ("dispatch", "repush", "open_pr", "merge", "park", "unpark", "wait",
                "needs_human", "none")


@dataclass(frozen=True)
class Action:
    kind: str
    reason: str
    auto: bool = False
    role: str = ""
    mode: str = ""
    rung: int | None = None
    model: str = ""            # "" : the role's default (test: no model at all)
    run: str = ""              # the run acted upon (retry, continue, repush)
    until: float | None = None
    command: str = ""          # how a human does it now

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def next_action(item: WorkItem, policy: Policy, now: float,
                runs: Iterable[Assignment] = ()) -> Action:
    """`runs`: the item's run rows as the board has them (the live one at least); without them
    a wait cannot say that its run's machine is unreachable."""
    if item.stage == s.ABANDONED:
        return _abandoned(item)
    if item.stage in s.FINAL_STAGES:
        pr = f" (PR #{item.pr_number})" if item.pr_number else ""
        return Action("none", f"{item.stage}{pr}")
    if item.stage in s.RUNNING_STAGES or item.stage == s.MERGING:
        return _waiting(item, runs, now)
    budget = _over_budget(item, policy)
    if budget and item.stage != s.PARKED:
        return Action("park", budget, auto=True)
    return _BY_STAGE[item.stage](item, policy, now)


# --- stages ---------------------------------------------------------------------------------
def _waiting(item: WorkItem, runs: Iterable[Assignment], now: float) -> Action:
    if item.stage == s.MERGING:
        return Action("wait", f"merging PR #{item.pr_number}")
    role = next(r for r, stage in s.RUNNING_STAGE.items() if stage == item.stage)
    at = f" on {_short(item.head_sha)}" if role in ("test", "review") and item.head_sha else ""
    said = f"waiting for the {role} run {item.active_run or '?'}{at}"
    row = next((r for r in runs if item.active_run and r.id == item.active_run), None)
    if row is None or row.status != m.UNKNOWN:
        return Action("wait", said, run=item.active_run)
    since = f" since {clock(row.unreachable_since, now)}" if row.unreachable_since else ""
    retry = f"coordssh retry {row.id}"
    return Action("wait", f"{said}: its state is unknown, machine {row.machine} cannot be "
                          f"reached{since}; `{retry}` moves it to another machine, or wait "
                          "for the machine to answer", run=row.id, command=retry)


def _abandoned(item: WorkItem) -> Action:
    """Nothing more happens on this branch; an explicit assign starts a new cycle."""
    why = f": {item.abandoned_reason}" if item.abandoned_reason else ""
    again = f"coordssh assign MACHINE {item.repo} {item.issue}"
    return Action("none", f"abandoned{why}; `{again}` starts it again on a new branch "
                          f"(branch {item.branch or '-'} is kept)", command=again)


def _new(item: WorkItem, policy: Policy, now: float) -> Action:
    return Action("dispatch", "no run yet", role="implement", mode="new",
                  command=f"coordssh assign MACHINE {item.repo} {item.issue}")


def _implemented(item: WorkItem, policy: Policy, now: float) -> Action:
    return _test(item, policy, f"pushed {_short(item.head_sha)}, not tested at that SHA")


def _test(item: WorkItem, policy: Policy, why: str) -> Action:
    return Action("dispatch", f"{why}: test it (auto_test {_on(policy.auto_test)})",
                  auto=policy.auto_test, role="test", mode="new",
                  command=f"coordssh test {_ref(item)}")


def _test_failed(item: WorkItem, policy: Policy, now: float) -> Action:
    return _fix(item, policy, f"test failed at {_short(item.head_sha)}", mode="new")


def _changes_requested(item: WorkItem, policy: Policy, now: float) -> Action:
    return _fix(item, policy, f"changes requested at {_short(item.head_sha)}", mode="new")


def _conflict(item: WorkItem, policy: Policy, now: float) -> Action:
    files = ", ".join(item.conflict_files[:5]) or "files unknown"
    return _fix(item, policy, f"conflicts with {item.base_branch} ({files})", mode="conflict")


def _fix(item: WorkItem, policy: Policy, why: str, *, mode: str) -> Action:
    used = item.rounds.fix
    if used >= policy.max_fix_rounds:
        return Action("needs_human", f"needs a human: {why}; {used} fix rounds used "
                                     f"(pipeline.max_fix_rounds)",
                      command=f"coordssh fix {_ref(item)} --guidance '...'")
    rung, note = _fix_rung(item, policy)
    return Action("dispatch", f"{why}: fix round {used + 1} of {policy.max_fix_rounds}{note} "
                              f"(auto_fix {_on(policy.auto_fix)})",
                  auto=policy.auto_fix, role="fix", mode=mode, rung=rung,
                  model=policy.model_at(rung), command=f"coordssh fix {_ref(item)}")


def _fix_rung(item: WorkItem, policy: Policy) -> tuple[int | None, str]:
    if item.model_rung is None or not policy.escalation:
        return None, ", same model as the last run (not on models.escalation)"
    top = len(policy.escalation) - 1
    if _soft_budget(item, policy):
        rung = max(item.model_rung - 1, 0)
        return rung, f", model {policy.model_at(rung)} (soft budget reached: one rung down)"
    rung = min(item.model_rung + 1, top)
    step = "one rung up" if rung > item.model_rung else "top of models.escalation"
    return rung, f", model {policy.model_at(rung)} ({step})"


def _forward(item: WorkItem, policy: Policy, now: float) -> Action:
    """tested / pr_open / approved: the gates in order (test, PR, review) then merge."""
    sha = _short(item.head_sha)
    test = item.verdict("test")
    if test is None or test.result != "passed":
        return _test(item, policy, f"no passed test at {sha}")
    if item.pr_number is None:
        return Action("open_pr", f"test passed at {sha}: open the PR (auto_pr "
                                 f"{_on(policy.auto_pr)})",
                      auto=policy.auto_pr, command=f"coordssh pr {_ref(item)}")
    review = item.verdict("review")
    if policy.reviews and (review is None or review.result != "approve"):
        if item.rounds.review >= policy.max_review_rounds:
            return Action("needs_human", f"needs a human: no approval at {sha} after "
                                         f"{item.rounds.review} review rounds "
                                         f"(pipeline.max_review_rounds)")
        return Action("dispatch", f"PR #{item.pr_number} at {sha} has no review: review it "
                                  f"(auto_review {_on(policy.auto_review)})",
                      auto=policy.auto_review, role="review", mode="new",
                      command=f"coordssh review {_ref(item)}")
    gates = "test passed" + (" and review approved" if policy.reviews else "")
    return Action("merge", f"{gates} at {sha}: merge PR #{item.pr_number} (auto_merge "
                           f"{_on(policy.auto_merge)})",
                  auto=policy.auto_merge, command=f"coordssh merge --repo {item.repo}")


def _interrupted(item: WorkItem, policy: Policy, now: float) -> Action:
    last = item.last_run
    run, role, status = last.get("id", ""), last.get("role", "implement"), last.get("status", "")
    said = f"{role} run {run} ended {status}" + (f" ({last['reason']})" if last.get("reason")
                                                 else "")
    go_on = f"coordssh continue {run} --guidance '...'"
    if status in s.PUSH_STATUSES:
        return Action("repush", f"{said}: push again (auto_reassign {_on(policy.auto_reassign)})",
                      auto=policy.auto_reassign, run=run, command=f"coordssh push {run}")
    if status in s.INFRA_STATUSES:
        if item.rounds.retry >= policy.max_retries:
            return Action("needs_human", f"needs a human: {said}; {item.rounds.retry} retries "
                                         f"used (concurrency.max_retries)", run=run,
                          command=f"coordssh retry {run} --machine M")
        return Action("dispatch", f"{said}: go again on another machine (auto_reassign "
                                  f"{_on(policy.auto_reassign)})",
                      auto=policy.auto_reassign, role=role, mode="retry", run=run,
                      rung=item.model_rung, command=f"coordssh retry {run}")
    if status in s.GUIDANCE_STATUSES:
        return Action("needs_human", f"needs a human: {said}; continue it with guidance",
                      run=run, command=go_on)
    if status == "cancelled":
        return Action("none", f"{said}: stopped by the operator", run=run,
                      command=f"coordssh retry {run}  or  {go_on}")
    if status in s.RUN_END_CLASS and s.RUN_END_CLASS[status] == "limited":
        return Action("dispatch", f"{said}: continue it", role=role, mode="resume", run=run,
                      command=go_on)
    return Action("needs_human", f"needs a human: {said}", run=run,
                  command=f"coordssh retry {run}  or  {go_on}")


def _parked(item: WorkItem, policy: Policy, now: float) -> Action:
    reason = item.parked_reason or "parked"
    if item.parked_until is None:
        return Action("needs_human", f"parked until a human decides: {reason}")
    if now < item.parked_until:
        return Action("wait", f"parked: {reason} until {clock(item.parked_until, now)}",
                      until=item.parked_until)
    last = item.last_run
    if last.get("status") == "usage_limited" and item.parked_from == s.INTERRUPTED:
        run = last.get("id", "")
        return Action("dispatch", f"usage limit reset at {clock(item.parked_until, now)}: "
                                  f"continue run {run} with --resume (auto_resume "
                                  f"{_on(policy.auto_resume)})",
                      auto=policy.auto_resume, role=last.get("role", "implement"),
                      mode="resume", run=run, rung=item.model_rung,
                      command=f"coordssh continue {run} --guidance 'go on'")
    return Action("unpark", f"parked until {clock(item.parked_until, now)}, which has passed",
                  auto=True)


_BY_STAGE: dict[str, Callable[[WorkItem, Policy, float], Action]] = {
    s.NEW: _new, s.IMPLEMENTED: _implemented, s.TEST_FAILED: _test_failed,
    s.TESTED: _forward, s.PR_OPEN: _forward, s.APPROVED: _forward,
    s.CHANGES_REQUESTED: _changes_requested, s.CONFLICT: _conflict,
    s.INTERRUPTED: _interrupted, s.PARKED: _parked,
}


# --- helpers --------------------------------------------------------------------------------
def _over_budget(item: WorkItem, policy: Policy) -> str:
    cap = policy.item_hard_budget_usd
    if cap is None or item.spend_usd < cap:
        return ""
    return (f"budget: ${item.spend_usd:.2f} spent of ${cap:.2f} "
            f"(pipeline.item_hard_budget_usd)")


def _soft_budget(item: WorkItem, policy: Policy) -> bool:
    cap = policy.item_soft_budget_usd
    return cap is not None and item.spend_usd >= cap


def _ref(item: WorkItem) -> str:
    return item.runs[-1] if item.runs else item.key


def _short(sha: str) -> str:
    return sha[:7] if sha else "(no SHA)"


def _on(flag: bool) -> str:
    return "on" if flag else "off"


def clock(epoch: float, now: float) -> str:
    """14:00 UTC; with the date when it is not within the next day."""
    fmt = "%H:%M UTC" if 0 <= epoch - now < 20 * 3600 else "%Y-%m-%d %H:%M UTC"
    return time.strftime(fmt, time.gmtime(epoch))


# the fix model's rung as the driver chooses it; `coordssh fix` uses the same rule
fix_rung = _fix_rung
