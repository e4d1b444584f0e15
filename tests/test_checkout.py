"""Where a run's worktree starts (remote/checkout.py) and which branch an issue owns
(services/claims.py): pure rules over origin facts, every case of the table."""

from __future__ import annotations

import pytest

from coordssh.domain.models import Assignment
from coordssh.errors import Refused
from coordssh.remote.checkout import checkout_for
from coordssh.remote.worktree import HeldBy, LocalBranch, OriginFacts, RemoteBranch
from coordssh.services.claims import issue_branch

B = "issue-5-x"


def facts(origin=None, local=None, held=None) -> OriginFacts:
    return OriginFacts("/h", "base", tuple(origin or ()), tuple(local or ()), tuple(held or ()))


def start(f: OriginFacts, **more):
    more.setdefault("worktree_root", "/h/wt")
    return checkout_for(f, B, machine="m", **more)


@pytest.mark.parametrize("f, sha, continued", [
    (facts(), "base", False),
    (facts(origin=[RemoteBranch(B, "o1", False)]), "o1", True),
    (facts(origin=[RemoteBranch(B, "o1", True)]), "base", True),               # merged
    (facts(local=[LocalBranch(B, "l1", True, "none")]), "base", True),         # no own commits
    (facts(local=[LocalBranch(B, "l1", False, "none")]), "l1", True),          # never pushed
    (facts(origin=[RemoteBranch(B, "o1", False)],
           local=[LocalBranch(B, "l1", False, "ahead")]), "l1", True),         # unpushed on top
    (facts(origin=[RemoteBranch(B, "o1", False)],
           local=[LocalBranch(B, "l1", False, "behind")]), "o1", True),
])
def test_start_point(f, sha, continued):
    checkout = start(f)
    assert (checkout.start_sha, checkout.continued, checkout.free) == (sha, continued, "")


def test_diverged_is_refused():
    with pytest.raises(Refused, match="diverged"):
        start(facts(origin=[RemoteBranch(B, "o1", False)],
                    local=[LocalBranch(B, "l1", False, "diverged")]))


def test_a_stale_worktree_is_freed_only_when_clean_ours_and_not_live():
    local = [LocalBranch(B, "l1", False, "none")]
    held = lambda state, path="/h/wt/demo/a": [HeldBy(B, path, state)]  # noqa: E731
    assert start(facts(local=local, held=held("clean"))).free == "/h/wt/demo/a"
    assert start(facts(local=local, held=held("gone"))).free == ""
    for f, more, words in [
            (facts(local=local, held=held("dirty")), {}, "uncommitted"),
            (facts(local=local, held=held("clean", "/h/repo")), {}, "outside"),
            (facts(local=local, held=held("clean")), {"live_worktrees": {"/h/wt/demo/a"}},
             "live run")]:
        with pytest.raises(Refused, match=words):
            start(f, **more)


def test_the_branch_an_issue_owns():
    row = Assignment(id="a", machine="m", repo="demo", issue=5, branch="issue-5-first")
    two = facts(origin=[RemoteBranch("issue-5-first", "o1", False),
                        RemoteBranch("issue-5-second", "o2", False)])
    assert issue_branch([row], "demo", 5, two, "issue-5-new") == "issue-5-first"
    assert issue_branch([], "demo", 5, two, "issue-5-second") == "issue-5-second"
    with pytest.raises(Refused, match="issue-5-first, issue-5-second"):
        issue_branch([], "demo", 5, two, "issue-5-new")
    merged = facts(origin=[RemoteBranch("issue-5-old", "o1", True)])
    assert issue_branch([], "demo", 5, merged, "issue-5-new") is None
    assert issue_branch([row], "demo", 5, facts(), "issue-5-new") is None   # never created
