"""What every forge returns for pull requests, comments and checks (GitHub or plain git).

`summarise_checks` buckets a `statusCheckRollup` the way gh does (contract §3.3): pass, fail,
cancel (counted as failed), skip, otherwise pending; re-runs are de-duplicated by name, newest
first. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

PASSED, FAILED, PENDING, NONE = "passed", "failed", "pending", "none"
_PASS = {"SUCCESS"}
_FAIL = {"FAILURE", "ERROR", "TIMED_OUT", "ACTION_REQUIRED", "STARTUP_FAILURE", "CANCELLED"}
_SKIP = {"SKIPPED", "NEUTRAL"}


@dataclass(frozen=True)
class CheckSummary:
    state: str = NONE                 # passed | failed | pending | none (no checks at all)
    passed: int = 0
    failed: int = 0
    pending: int = 0
    skipped: int = 0
    failed_names: tuple[str, ...] = ()

    def describe(self) -> str:
        if self.state == FAILED:
            return f"{self.failed} failed ({', '.join(self.failed_names)})"
        if self.state == PENDING:
            return f"{self.pending} pending"
        if self.state == NONE:
            return "no checks"
        return f"{self.passed} passed"


@dataclass(frozen=True)
class PullRequest:
    number: int
    state: str                        # OPEN | CLOSED | MERGED
    url: str = ""
    title: str = ""
    head: str = ""                    # headRefName
    base: str = "main"                # baseRefName
    head_sha: str = ""                # headRefOid
    mergeable: str = "UNKNOWN"        # MERGEABLE | CONFLICTING | UNKNOWN
    merge_state: str = "UNKNOWN"      # mergeStateStatus: CLEAN, DIRTY, BLOCKED, BEHIND, ...
    checks: CheckSummary = CheckSummary()
    review_decision: str = ""         # APPROVED | CHANGES_REQUESTED | REVIEW_REQUIRED | ""
    draft: bool = False
    additions: int = 0
    deletions: int = 0
    created_at: str = ""
    conflicts: tuple[str, ...] = ()   # conflicting files, when the forge knows them (plain git)

    @property
    def open(self) -> bool:
        return self.state == "OPEN"

    @property
    def diff_size(self) -> int:
        return self.additions + self.deletions


@dataclass(frozen=True)
class Comment:
    id: str
    body: str
    url: str = ""
    author: str = ""
    created_at: str = ""


def check_bucket(entry: Mapping[str, Any]) -> str:
    """passed | failed | skipped | pending for one CheckRun or StatusContext."""
    if entry.get("__typename") == "StatusContext" or "context" in entry:
        value = str(entry.get("state") or "")
    else:
        value = str(entry.get("conclusion") or "") if entry.get("status") == "COMPLETED" else ""
    if value in _PASS:
        return PASSED
    if value in _FAIL:
        return FAILED
    if value in _SKIP:
        return "skipped"
    return PENDING


def summarise_checks(rollup: Iterable[Mapping[str, Any]] | None) -> CheckSummary:
    newest: dict[str, Mapping[str, Any]] = {}
    for entry in rollup or ():
        name = str(entry.get("name") or entry.get("context") or "")
        kept = newest.get(name)
        if kept is None or str(entry.get("startedAt") or "") >= str(kept.get("startedAt") or ""):
            newest[name] = entry
    counts = {PASSED: 0, FAILED: 0, PENDING: 0, "skipped": 0}
    failed: list[str] = []
    for name, entry in sorted(newest.items()):
        bucket = check_bucket(entry)
        counts[bucket] += 1
        if bucket == FAILED:
            failed.append(name)
    if counts[FAILED]:
        state = FAILED
    elif counts[PENDING]:
        state = PENDING
    elif counts[PASSED] or counts["skipped"]:
        state = PASSED
    else:
        state = NONE
    return CheckSummary(state, counts[PASSED], counts[FAILED], counts[PENDING], counts["skipped"],
                        tuple(failed))
