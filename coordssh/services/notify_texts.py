"""What each work event's comment says (services/notify_comments.py posts them, once each).

    body = WRITERS[event_kind](data, run, item, soft_cap)     # "" : no comment for it

The briefing when a run starts, completion, failure with the reason, stuck (with the exact
`coordssh continue ID --guidance ...`), usage-limited (with the reset time), the test and review
verdicts, parked (a budget cap, with the reason), merged, a machine gone stale and back, and
the end of a cycle without a merge: a PR closed unmerged, or the item abandoned (by the operator
or for an issue closed on GitHub), with the way to start again. `pr_closed` and `abandoned` of
one cycle share ONE comment (notify_comments keys them by cycle): the first says it all. Their
`data` carries, besides the event's own, `work` and `branch` (the cycle's branch).
"""

from __future__ import annotations

from collections.abc import Callable

from coordssh.domain import stages as s
from coordssh.domain.next_action import clock
from coordssh.services.abandon import DEFAULT_REASON


def _started(data, run, item, soft_cap) -> str:
    role, mode = data.get("role", "implement"), data.get("mode", "new")
    model = data.get("model") or ("no model" if role == "test" else "default model")
    lines = [f"**coordssh**: {role} run `{run}` started on `{data.get('machine', '?')}` "
             f"({model}; {mode})."]
    if data.get("branch"):
        lines.append(f"Branch: `{data['branch']}` from `{data.get('base_branch', 'main')}`.")
    if item is not None and soft_cap is not None and item.spend_usd >= soft_cap and \
            role == "fix":
        lines.append(f"Soft budget reached (${item.spend_usd:.2f} of ${soft_cap:.2f}, "
                     "pipeline.budgets.item_soft_usd): this run is one rung down the model "
                     "ladder.")
    lines.append(f"Follow it: `coordssh watch {run}`.")
    return "\n".join(lines)


def _ended(data, run, item, soft_cap) -> str:
    status, reason = data.get("status", ""), data.get("reason", "")
    role = data.get("role", "implement")
    cost = f" Cost: ${float(data.get('cost_usd') or 0):.2f}."
    if status == "done":
        sha = (data.get("sha") or "")[:7]
        return f"**coordssh**: {role} run `{run}` is done; pushed `{sha}`.{cost}"
    if status == "advisory":
        return f"**coordssh**: {role} run `{run}` finished without commits: {reason}.{cost}"
    if status in s.GUIDANCE_STATUSES:
        return (f"**coordssh**: {role} run `{run}` is stuck ({status}): {reason}\n"
                f"Continue it with guidance: `coordssh continue {run} --guidance '...'`")
    if status == "usage_limited":
        resets = data.get("resets_at")
        when = clock(resets, resets - 1) if resets else "an unknown time"
        return (f"**coordssh**: {role} run `{run}` hit the Claude usage limit; the machine's "
                f"account is parked until {when}. It continues by itself after the reset.")
    if status == "cancelled":
        return f"**coordssh**: {role} run `{run}` was stopped by the operator."
    return f"**coordssh**: {role} run `{run}` failed ({status}): {reason}{cost}"


def _test(data, run, item, soft_cap) -> str:
    sha = (data.get("sha") or "")[:7]
    if data.get("result") == "passed":
        return f"**coordssh**: tests passed at `{sha}` (run `{run or 'by hand'}`)."
    detail = str(data.get("detail") or "").strip()[-1500:]
    tail = f"\n\n```\n{detail}\n```" if detail else ""
    return f"**coordssh**: tests failed at `{sha}` (run `{run or 'by hand'}`).{tail}"


def _review(data, run, item, soft_cap) -> str:
    said = "approved" if data.get("result") == "approve" else "changes requested"
    detail = str(data.get("detail") or "").strip()[:2000]
    return f"**coordssh**: review at `{(data.get('sha') or '')[:7]}`: {said}.\n\n{detail}".strip()


def _merged(data, item) -> str:
    """The PR the event names (the item may be on a later cycle by now)."""
    number = data.get("number") or (item.pr_number if item is not None else None)
    return "**coordssh**: merged." + (f" PR #{number}." if number else "")


def _again(data) -> str:
    """How to start again; never the PR comment of `abandon --close-pr` word for word."""
    repo, _, issue = str(data.get("work") or "REPO#ISSUE").rpartition("#")
    kept = f"Branch `{data['branch']}` is kept. " if data.get("branch") else ""
    return f"{kept}`coordssh assign MACHINE {repo} {issue}` starts a new cycle on a new branch."


def _pr_closed(data, run, item, soft_cap) -> str:
    number = data.get("number")
    pr = f"PR #{number}" if number else "The PR"
    return f"**coordssh**: {pr} was closed without merging: work stopped.\n{_again(data)}"


def _abandoned(data, run, item, soft_cap) -> str:
    reason = str(data.get("reason") or "").strip()
    if data.get("by") == "operator":
        said = "abandoned by the operator" + ("" if reason == DEFAULT_REASON or not reason
                                              else f": {reason}")
    else:
        said = f"abandoned: {reason or 'given up'}"
    return f"**coordssh**: {said}.\n{_again(data)}"


WRITERS: dict[str, Callable[..., str]] = {
    "run_started": _started,
    "run_ended": _ended,
    "test_verdict": _test,
    "review_verdict": _review,
    "pr_merged": lambda data, run, item, cap: _merged(data, item),
    "machine_stale": lambda data, run, item, cap: (
        f"**coordssh**: machine `{data.get('machine')}` has been unreachable since "
        f"{clock(data.get('since') or 0, (data.get('since') or 0) - 1)}; run `{run}` is unknown: "
        "it is neither killed nor started again until the machine answers."),
    "machine_back": lambda data, run, item, cap: (
        f"**coordssh**: machine `{data.get('machine')}` answers again; run `{run}` is "
        "observed again."),
    "pr_closed": _pr_closed,
    "abandoned": _abandoned,
    "parked": lambda data, run, item, cap: (f"**coordssh**: parked: {data.get('reason', '')}"
                                            if data.get("until") is None else ""),
}
