"""One contract, two forges: GitForge and GitHubForge (with the fake gh), over the same kind of
real bare origin. Every test here runs against both; forge-specific behaviour is at the end."""

from __future__ import annotations

import pytest

from coordssh.config.schema import Repo
from coordssh.errors import (ForgeError, ForgeNotFound, ForgeRateLimited, MergeRefused, PullRequestRefused,
                             SelfReviewRefused)
from coordssh.forge import Forge, GitForge, GitHubForge, local_issue, marker, post_once
from coordssh.forge.pacing import Backoff, Pacer
from tests.support.dispatch import GitWorld, git
from tests.support.fake_gh import FakeGitHub


class Rig:
    """A forge of either kind over `world`, issue #1 ("Add a greeting") known to it."""

    def __init__(self, kind: str, tmp_path, world: GitWorld) -> None:
        self.kind, self.tmp, self.world = kind, tmp_path, world
        if kind == "github":
            self.fake = FakeGitHub(tmp_path)
            self.fake.add_label("sub-task")
            self.fake.add_label("ready")
            self.fake.add_issue(1, "Add a greeting", "Say hi.\n", labels=("ready",))
            self.fake.attach_origin(world.origin)
            self.fake.update(pr_author="someone-else")  # coordssh may review: not its own PR

    def forge(self, retries: int = 0) -> Forge:
        if self.kind == "github":
            return GitHubForge(Repo("demo", github="o/r"), gh=self.fake.gh, env=self.fake.env,
                               backoff=Backoff(base=0.01, retries=retries), pacer=Pacer(0))
        issue = local_issue(1, "Add a greeting", "Say hi.\n")
        return GitForge(Repo("demo"), issues=[issue], origin=str(self.world.origin),
                        state_dir=self.tmp / "state")

    def branch(self, name: str, files: dict[str, str], base: str = "main") -> str:
        """Push `name` (from origin's `base`) with one commit writing `files`; its sha."""
        seed = self.world.seed
        git("fetch", "-q", "origin", cwd=seed)
        git("checkout", "-q", "-B", name, f"origin/{base}", cwd=seed)
        for path, text in files.items():
            (seed / path).write_text(text)
        git("add", ".", cwd=seed)
        git("commit", "-q", "-m", f"work on {name}", cwd=seed)
        git("push", "-q", "-f", "origin", name, cwd=seed)
        sha = git("rev-parse", "HEAD", cwd=seed).strip()
        git("checkout", "-q", "main", cwd=seed)
        return sha

    def origin_file(self, branch: str, path: str) -> str:
        return git("show", f"{branch}:{path}", cwd=self.world.origin)


@pytest.fixture(params=["git", "github"])
def rig(request, tmp_path):
    return Rig(request.param, tmp_path, GitWorld.create(tmp_path / "world"))


async def test_both_satisfy_the_protocol(rig):
    assert isinstance(rig.forge(), Forge)


async def test_pr_create_is_idempotent_and_found_by_branch(rig):
    sha = rig.branch("issue-1-greet", {"hello.txt": "hi\n"})
    forge = rig.forge()
    assert await forge.pr_for_branch("issue-1-greet") is None
    pr = await forge.pr_create("issue-1-greet", "main", "Add a greeting", "Closes #1\n")
    assert (pr.state, pr.head, pr.base, pr.head_sha) == ("OPEN", "issue-1-greet", "main", sha)
    assert pr.mergeable == "MERGEABLE" and pr.title == "Add a greeting"
    assert pr.additions == 1 and pr.deletions == 0 and pr.checks.state == "none"
    again = await rig.forge().pr_create("issue-1-greet", "main", "other title", "other body")
    assert again.number == pr.number
    assert (await forge.pr_for_branch("issue-1-greet")).number == pr.number
    assert (await forge.pr_view(pr.number)).head_sha == sha


async def test_pr_create_refusals_name_the_reason(rig):
    forge = rig.forge()
    with pytest.raises(PullRequestRefused) as err:
        await forge.pr_create("issue-1-never-pushed", "main", "t", "b")
    assert err.value.reason == "no_branch"
    git("push", "-q", "origin", "main:refs/heads/issue-1-empty", cwd=rig.world.seed)
    with pytest.raises(PullRequestRefused) as err:
        await forge.pr_create("issue-1-empty", "main", "t", "b")
    assert err.value.reason == "no_commits"
    with pytest.raises(ForgeNotFound):
        await forge.pr_view(999)


async def test_post_once_posts_a_marked_comment_once_even_with_a_fresh_forge(rig):
    rig.branch("issue-1-greet", {"hello.txt": "hi\n"})
    pr = await rig.forge().pr_create("issue-1-greet", "main", "t", "b")
    mark = marker("pr_opened", "w1", "r1", "abc1234")
    comment, posted = await post_once(rig.forge(), 1, "PR opened: see it", mark)
    assert posted and mark in comment.body and comment.body.startswith("PR opened")
    again, posted = await post_once(rig.forge(), 1, "PR opened: see it", mark)  # board lost
    assert not posted and again.id == comment.id
    assert [c.body.count(mark) for c in await rig.forge().list_comments(1)] == [1]
    on_pr, posted = await post_once(rig.forge(), pr.number, "merged", mark, pr=True)
    assert posted and (await rig.forge().find_comment(pr.number, mark, pr=True)).id == on_pr.id
    assert await rig.forge().find_comment(1, marker("other", "w1")) is None


async def test_merging_one_pr_makes_its_sibling_conflict(rig):
    rig.branch("issue-1-a", {"README.md": "# demo A\n"})
    rig.branch("issue-2-b", {"README.md": "# demo B\n"})
    forge = rig.forge()
    first = await forge.pr_create("issue-1-a", "main", "A", "Closes #1")
    second = await forge.pr_create("issue-2-b", "main", "B", "b")
    assert (await forge.pr_view(second.number)).mergeable == "MERGEABLE"
    merged = await forge.pr_merge(first.number, "merge", head_sha=first.head_sha)
    assert merged.state == "MERGED"
    assert rig.origin_file("main", "README.md") == "# demo A\n"
    assert "issue-1-a" not in rig.world.heads()                    # the branch was deleted
    assert not (await forge.issue_view(1)).open                     # Closes #1
    now = await forge.pr_view(second.number)
    assert (now.mergeable, now.merge_state) == ("CONFLICTING", "DIRTY")
    if rig.kind == "git":
        assert now.conflicts == ("README.md",)
    with pytest.raises(MergeRefused) as err:
        await forge.pr_merge(second.number, "merge")
    assert err.value.reason == "conflict"
    assert (await forge.pr_merge(first.number, "merge")).state == "MERGED"  # already merged
    assert (await forge.pr_for_branch("issue-1-a")).state == "MERGED"


@pytest.mark.parametrize("method", ["merge", "squash", "rebase"])
async def test_each_merge_method_lands_the_work_on_base(rig, method):
    rig.branch("issue-1-greet", {"hello.txt": "hi\n"})
    main_before = rig.world.advance_main("other.txt")               # base moved: not a ff
    forge = rig.forge()
    pr = await forge.pr_create("issue-1-greet", "main", "Greet", "body")
    merged = await forge.pr_merge(pr.number, method, head_sha=pr.head_sha)
    assert merged.state == "MERGED"
    assert rig.origin_file("main", "hello.txt") == "hi\n"
    assert rig.origin_file("main", "other.txt") == "later\n"
    parents = git("log", "-1", "--format=%P", "main", cwd=rig.world.origin).split()
    assert len(parents) == (2 if method == "merge" else 1)
    assert main_before in git("rev-list", "main", cwd=rig.world.origin).split()


async def test_merge_refuses_a_head_that_moved(rig):
    old = rig.branch("issue-1-greet", {"hello.txt": "hi\n"})
    pr = await rig.forge().pr_create("issue-1-greet", "main", "Greet", "body")
    new = rig.branch("issue-1-greet", {"hello.txt": "hello\n"})
    assert (await rig.forge().pr_view(pr.number)).head_sha == new != old
    with pytest.raises(MergeRefused) as err:
        await rig.forge().pr_merge(pr.number, "squash", head_sha=old)
    assert err.value.reason == "head_changed"
    assert (await rig.forge().pr_view(pr.number)).state == "OPEN"


async def test_reviews_set_the_decision(rig):
    rig.branch("issue-1-greet", {"hello.txt": "hi\n"})
    forge = rig.forge()
    pr = await forge.pr_create("issue-1-greet", "main", "Greet", "body")
    await forge.pr_review(pr.number, "request_changes", "fix the typo")
    assert (await forge.pr_view(pr.number)).review_decision == "CHANGES_REQUESTED"
    await forge.pr_review(pr.number, "approve", "looks right")
    assert (await forge.pr_view(pr.number)).review_decision == "APPROVED"


async def test_a_review_is_found_by_its_marker(rig):
    rig.branch("issue-1-greet", {"hello.txt": "hi\n"})
    forge = rig.forge()
    pr = await forge.pr_create("issue-1-greet", "main", "Greet", "body")
    mark = marker("review", "demo#1", "r1", "abc1234")
    assert await forge.find_review(pr.number, mark) is None
    await forge.pr_review(pr.number, "approve", f"looks right\n\n{mark}\n")
    found = await forge.find_review(pr.number, mark)
    assert found is not None and "looks right" in found.body
    assert await forge.find_review(pr.number, marker("review", "demo#1", "r2")) is None


async def test_issues_create_append_never_replace_close_and_list(rig):
    forge = rig.forge()
    child = await forge.issue_create("Part one", "Do the first half.\n", labels=["sub-task"])
    assert child.number > 1 and (await forge.issue_view(child.number)).title == "Part one"
    tasks = f"## Sub-issues\n- [ ] #{child.number}\n"
    parent = await forge.issue_append_body(1, tasks)
    assert parent.body.startswith("Say hi.\n") and parent.body.endswith(tasks)
    again = await forge.issue_append_body(1, tasks)                  # rerun: no second copy
    assert again.body.count("## Sub-issues") == 1
    assert (await forge.issue_view(1)).body == parent.body
    listed = [i.number for i in await forge.issue_list(labels=["sub-task"])]
    assert listed == [child.number]
    await forge.issue_close(child.number)
    await forge.issue_close(child.number)                            # closing twice is fine
    assert not (await forge.issue_view(child.number)).open
    assert [i.number for i in await forge.issue_list(labels=["sub-task"])] == []
    assert child.number in [i.number for i in await forge.issue_list(state="all")]


async def test_delete_branch_reports_whether_it_was_there(rig):
    rig.branch("issue-1-greet", {"hello.txt": "hi\n"})
    assert await rig.forge().delete_branch("issue-1-greet") is True
    assert "issue-1-greet" not in rig.world.heads()
    assert await rig.forge().delete_branch("issue-1-greet") is False


async def test_a_pr_whose_branch_was_deleted_is_closed_and_not_merged(rig):
    rig.branch("issue-1-greet", {"hello.txt": "hi\n"})
    forge = rig.forge()
    pr = await forge.pr_create("issue-1-greet", "main", "Greet", "body")
    git("push", "-q", "origin", "--delete", "issue-1-greet", cwd=rig.world.seed)
    closed = await forge.pr_view(pr.number)
    assert closed.state == "CLOSED" and closed.head_sha == pr.head_sha
    with pytest.raises(MergeRefused) as err:
        await forge.pr_merge(pr.number, "merge")
    assert err.value.reason == "closed"


# --- GitHub only: what plain git has no notion of ---------------------------------------------
async def test_pr_close_keeps_the_branch_and_leaves_the_open_list(rig):
    sha = rig.branch("issue-1-greet", {"hello.txt": "hi\n"})
    forge = rig.forge()
    pr = await forge.pr_create("issue-1-greet", "main", "Add a greeting", "Closes #1\n")
    rig.branch("issue-2-more", {"more.txt": "m\n"})
    other = await forge.pr_create("issue-2-more", "main", "More", "body")
    assert sorted(p.number for p in await forge.open_pulls()) == sorted([pr.number,
                                                                        other.number])
    await forge.pr_close(pr.number)
    await rig.forge().pr_close(pr.number)                  # closing a closed PR is fine
    assert (await forge.pr_view(pr.number)).state == "CLOSED"
    assert [(p.number, p.head, p.state) for p in await forge.open_pulls()] == [
        (other.number, "issue-2-more", "OPEN")]
    assert rig.world.heads()["issue-1-greet"] == sha      # the branch and its commits stay
    merged = await forge.pr_merge(other.number, "merge")
    assert merged.state == "MERGED"
    with pytest.raises(ForgeError, match="already merged"):
        await forge.pr_close(other.number)
    assert await forge.open_pulls() == []


@pytest.fixture
def gh_rig(tmp_path):
    return Rig("github", tmp_path, GitWorld.create(tmp_path / "world"))


async def test_self_review_is_a_typed_refusal(gh_rig):
    gh_rig.fake.update(pr_author=None)                               # author = the viewer
    gh_rig.branch("issue-1-greet", {"hello.txt": "hi\n"})
    forge = gh_rig.forge()
    pr = await forge.pr_create("issue-1-greet", "main", "Greet", "body")
    for event in ("approve", "request_changes"):
        with pytest.raises(SelfReviewRefused):
            await forge.pr_review(pr.number, event, "text")
    comment = await forge.pr_comment(pr.number, "review: approve\n\ntext")  # the fallback
    assert comment.url.endswith(comment.id) and "/pull/" in comment.url


async def test_rate_limit_on_the_merge_path_is_backed_off_not_failed(gh_rig):
    gh_rig.branch("issue-1-greet", {"hello.txt": "hi\n"})
    pr = await gh_rig.forge().pr_create("issue-1-greet", "main", "Greet", "body")
    gh_rig.fake.rate_limit(2, "secondary", "pr merge")
    merged = await gh_rig.forge(retries=3).pr_merge(pr.number, "squash", head_sha=pr.head_sha)
    assert merged.state == "MERGED"
    merges = [c for c in gh_rig.fake.calls() if c["argv"][:2] == ["pr", "merge"]]
    assert len(merges) == 3
    gh_rig.fake.rate_limit(9, "too_quickly", "pr comment")
    with pytest.raises(ForgeRateLimited):
        await gh_rig.forge(retries=1).pr_comment(pr.number, "hi")


async def test_unknown_mergeability_checks_and_merge_queue(gh_rig):
    gh_rig.branch("issue-1-greet", {"hello.txt": "hi\n"})
    forge = gh_rig.forge()
    pr = await forge.pr_create("issue-1-greet", "main", "Greet", "body")
    gh_rig.fake.set_pull(pr.number, mergeable_unknown=1, checks=[
        {"__typename": "CheckRun", "name": "test", "status": "COMPLETED", "conclusion": "FAILURE",
         "startedAt": "2024-05-04T10:00:00Z"},
        {"__typename": "StatusContext", "context": "lint", "state": "PENDING",
         "startedAt": "2024-05-04T10:00:00Z"}])
    first = await forge.pr_view(pr.number)
    assert first.mergeable == "UNKNOWN"
    second = await forge.pr_view(pr.number)
    assert second.mergeable == "MERGEABLE" and second.merge_state == "UNSTABLE"
    assert (second.checks.state, second.checks.failed_names) == ("failed", ("test",))
    gh_rig.fake.set_pull(pr.number, merge_queue=True)
    queued = await forge.pr_merge(pr.number, "merge")
    assert queued.state == "OPEN"                                    # queued, not merged


async def test_every_gh_call_names_the_repo_and_bodies_go_through_stdin(gh_rig):
    gh_rig.branch("issue-1-greet", {"hello.txt": "hi\n"})
    body = "it's `$(rm -rf /)` \"quoted\"\n"
    forge = gh_rig.forge()
    pr = await forge.pr_create("issue-1-greet", "main", "Greet", body)
    await forge.pr_comment(pr.number, body)
    calls = gh_rig.fake.calls()
    for call in calls:
        if call["argv"][0] != "api":
            assert "--repo" in call["argv"] and "o/r" in call["argv"]
    assert [c["stdin"] for c in calls if "--body-file" in c["argv"]] == [body, body]
    assert gh_rig.fake.pull(pr.number)["body"] == body
