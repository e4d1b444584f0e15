"""The merge queue's gates and order. Pure: no I/O, no clock.

`first_hold(pr, verdicts, policy)` names the first gate that holds a PR back, with its reason,
or None when it may merge. Gates, in order:

    open       the PR is open and not a draft
    mergeable  GitHub says MERGEABLE (UNKNOWN: ask again later; CONFLICTING: the files)
    checks     the required checks passed (a repo with no checks follows `merge_without_checks`)
    review     a review approved the CURRENT head SHA (when `policy.reviews`)
    test       a test passed at the CURRENT head SHA (when `policy.tests`)

Verdicts are the work item's, oldest first: {"kind": "test"|"review", "result": ..., "sha": ...};
a new commit voids them because they name the SHA they judged. `queue_order` sorts candidates:
repos others depend on first, then issue priority, then age, then smaller diffs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the domain imports nothing at run time; a PullRequest is duck-typed data
    from coordssh.forge.types import PullRequest

GATES = ("open", "mergeable", "checks", "review", "test")
APPROVED = frozenset({"approved", "approve"})
PASSED = frozenset({"passed", "pass"})
CHANGES = frozenset({"changes_requested", "request_changes"})


@dataclass(frozen=True)
class GatePolicy:
    reviews: bool = True            # an approving review of the head SHA is required
    tests: bool = True              # a passed test at the head SHA is required
    merge_without_checks: bool = True  # a PR whose repo reports no checks at all may merge


@dataclass(frozen=True)
class Hold:
    gate: str                       # one of GATES
    reason: str
    wait: bool = False              # nothing to fix: ask again later (UNKNOWN, pending checks)

    def __str__(self) -> str:
        return f"{self.gate}: {self.reason}"


def short(sha: str) -> str:
    return (sha or "?")[:7]


def same_sha(a: str, b: str) -> bool:
    """Equal SHAs, either side possibly abbreviated (7+ hex digits)."""
    a, b = (a or "").lower(), (b or "").lower()
    return min(len(a), len(b)) >= 7 and (a.startswith(b) or b.startswith(a))


def first_hold(pr: PullRequest, verdicts: Sequence[Mapping[str, Any]],
               policy: GatePolicy = GatePolicy()) -> Hold | None:
    """The first gate holding `pr` back, or None: it may merge now."""
    for gate in (_open, _mergeable, _checks, _review, _test):
        hold = gate(pr, verdicts, policy)
        if hold is not None:
            return hold
    return None


def _open(pr: PullRequest, verdicts: Sequence[Mapping[str, Any]], policy: GatePolicy) -> Hold | None:
    if pr.state != "OPEN":
        return Hold("open", f"the PR is {pr.state.lower()}")
    if pr.draft:
        return Hold("open", "the PR is a draft")
    return None


def _mergeable(pr: PullRequest, verdicts: Sequence[Mapping[str, Any]],
               policy: GatePolicy) -> Hold | None:
    if pr.mergeable == "UNKNOWN":
        return Hold("mergeable", "UNKNOWN - ask again later", wait=True)
    if pr.mergeable == "CONFLICTING":
        files = f" (files {', '.join(pr.conflicts)})" if pr.conflicts else ""
        return Hold("mergeable", f"CONFLICTING{files}")
    if pr.merge_state == "BLOCKED":
        return Hold("mergeable", "BLOCKED - the base branch policy prohibits the merge")
    if pr.merge_state == "BEHIND":
        return Hold("mergeable", "BEHIND - the head branch is not up to date with the base")
    return None


def _checks(pr: PullRequest, verdicts: Sequence[Mapping[str, Any]],
            policy: GatePolicy) -> Hold | None:
    checks = pr.checks
    if checks.state == "failed":
        return Hold("checks", f"{checks.failed} failed ({', '.join(checks.failed_names)})")
    if checks.state == "pending":
        return Hold("checks", f"{checks.pending} pending", wait=True)
    if checks.state == "none" and not policy.merge_without_checks:
        return Hold("checks", "no checks reported and pipeline.merge_without_checks is false")
    return None


def _judged(verdicts: Sequence[Mapping[str, Any]], kind: str, head_sha: str,
            good: frozenset[str]) -> tuple[str | None, str | None]:
    """(the latest `kind` result at the head SHA or None, the SHA of the latest good one)."""
    mine = [v for v in verdicts if v.get("kind") == kind]
    at_head = [str(v.get("result", "")) for v in mine
               if same_sha(str(v.get("sha", "")), head_sha)]
    good_shas = [str(v.get("sha", "")) for v in mine if str(v.get("result", "")) in good]
    return (at_head[-1] if at_head else None), (good_shas[-1] if good_shas else None)


def _review(pr: PullRequest, verdicts: Sequence[Mapping[str, Any]],
            policy: GatePolicy) -> Hold | None:
    if not policy.reviews:
        return None
    head = short(pr.head_sha)
    result, approved_at = _judged(verdicts, "review", pr.head_sha, APPROVED)
    if result is None:
        if approved_at is not None:
            return Hold("review", f"approved at {short(approved_at)}, head is {head}")
        return Hold("review", f"no review at {head}")
    if result in CHANGES:
        return Hold("review", f"changes requested at {head}")
    if result not in APPROVED:
        return Hold("review", f"not approved at {head} ({result or 'no verdict'})")
    if pr.review_decision == "CHANGES_REQUESTED":
        return Hold("review", f"approved at {head}, but GitHub's review decision is "
                              "CHANGES_REQUESTED")
    return None


def _test(pr: PullRequest, verdicts: Sequence[Mapping[str, Any]], policy: GatePolicy) -> Hold | None:
    if not policy.tests:
        return None
    head = short(pr.head_sha)
    result, passed_at = _judged(verdicts, "test", pr.head_sha, PASSED)
    if result is None:
        older = f" (passed at {short(passed_at)})" if passed_at is not None else ""
        return Hold("test", f"no passed test at {head}{older}")
    return None if result in PASSED else Hold("test", f"{result or 'no result'} at {head}")


# --- order ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class QueueEntry:
    key: str                        # the work item id
    repo: str
    priority: int = 2               # priority_of(labels): 0 most urgent .. 4 least
    created_at: float = 0.0         # the age: older first
    diff_size: int = 0              # additions + deletions: smaller first


_WORDS = {"critical": 0, "urgent": 0, "blocker": 0, "highest": 0, "high": 1, "medium": 2,
          "normal": 2, "low": 3, "lowest": 4}
_P_LABEL = re.compile(r"^(?:priority[\s:/_-]*)?p([0-4])$")
_WORD_LABEL = re.compile(r"^(?:priority|prio)[\s:/_-]*([a-z]+)$|^([a-z]+)[\s:/_-]+priority$")


def priority_of(labels: Iterable[str]) -> int:
    """0 (critical) .. 4 (lowest) from labels such as `P1`, `priority:high`, `urgent`,
    `low-priority`; 2 when no label says."""
    found: list[int] = []
    for label in labels:
        text = label.strip().lower()
        number = _P_LABEL.match(text)
        word = _WORD_LABEL.match(text)
        if number:
            found.append(int(number.group(1)))
        elif word and (word.group(1) or word.group(2)) in _WORDS:
            found.append(_WORDS[word.group(1) or word.group(2)])
        elif text in ("critical", "urgent", "blocker"):
            found.append(0)
    return min(found, default=2)


def repo_ranks(depends_on: Mapping[str, Sequence[str]]) -> dict[str, int]:
    """0 for a repo that depends on nothing, else 1 + the highest rank it depends on
    (a cycle counts as no dependency, so it cannot hang the queue)."""
    ranks: dict[str, int] = {}

    def rank(repo: str, seen: frozenset[str]) -> int:
        if repo in ranks:
            return ranks[repo]
        deps = [d for d in depends_on.get(repo, ()) if d not in seen]
        value = 1 + max((rank(d, seen | {repo}) for d in deps), default=-1)
        ranks[repo] = value
        return value

    for repo in depends_on:
        rank(repo, frozenset())
    return ranks


def queue_order(entries: Iterable[QueueEntry],
                depends_on: Mapping[str, Sequence[str]] | None = None) -> list[QueueEntry]:
    """Merge order: dependencies' repos first, then priority, age, smaller diff, id."""
    ranks = repo_ranks(depends_on or {})
    return sorted(entries, key=lambda e: (ranks.get(e.repo, 0), e.priority, e.created_at,
                                          e.diff_size, e.key))
