"""Branch slugs (pure) and the origin facts read from real repos with a bare origin."""

from __future__ import annotations

import re

import pytest

from coordssh.errors import RemoteCommandFailed
from coordssh.remote.worktree import (SLUG_FALLBACK, branch_name, origin_facts,
                                      parse_origin_facts, slugify, worktree_path)
from tests.support.dispatch import GitWorld, git

SLUG_RE = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*\Z")


@pytest.mark.parametrize("title, slug", [
    ("Fix the login bug", "fix-the-login-bug"),
    ("  Add --verbose flag!! ", "add-verbose-flag"),
    ("Café über naïve façade", "cafe-uber-naive-facade"),
    ("Ärger mit Größe", "arger-mit-groe"),
    ("$(touch /tmp/pwned) `id` ; rm -rf ~", "touch-tmp-pwned-id-rm-rf"),
    ("../../etc/passwd", "etc-passwd"),
    ("refs/heads/main@{0}", "refs-heads-main-0"),
    ("UPPER_case_and_snake", "upper-case-and-snake"),
    ("日本語のタイトル", SLUG_FALLBACK),
    ("🔥🔥🔥", SLUG_FALLBACK),
    ("", SLUG_FALLBACK),
    ("line one\nline two\ttab", "line-one-line-two-tab"),
])
def test_slugify(title, slug):
    assert slugify(title) == slug


@pytest.mark.parametrize("title", [
    "a" * 39 + " b", "word " * 30, "x" * 100, "abc-" * 20, "ñ" * 80 + "tail",
    "Support émojis 🎉 and 'quotes' and \"double\" quotes in a very long title",
])
def test_slug_is_short_ascii_and_ends_clean(title):
    slug = slugify(title)
    assert len(slug) <= 40
    assert SLUG_RE.match(slug), slug
    assert not slug.endswith("-")


def test_branch_name_and_worktree_path():
    assert branch_name(12, "Fix: the *thing*") == "issue-12-fix-the-thing"
    assert worktree_path("~/.coordssh/worktrees", "api", "ab12cd34") == \
        "~/.coordssh/worktrees/api/ab12cd34"
    git("check-ref-format", "--branch", branch_name(3, "$(x) ü ../..@{"))


def test_parse_origin_facts():
    facts = parse_origin_facts("noise from a profile\nhome=/home/w\nbase=abc123\n"
                               "claim 0 1111 issue-7-a\nclaim 1 2222 issue-7-b\n"
                               "claim ? 3333 issue-7-c\n")
    assert facts.home == "/home/w" and facts.base_sha == "abc123"
    assert [(b.name, b.merged) for b in facts.branches] == [
        ("issue-7-a", False), ("issue-7-b", True), ("issue-7-c", None)]
    assert [b.name for b in facts.open_branches()] == ["issue-7-a", "issue-7-c"]
    with pytest.raises(ValueError):
        parse_origin_facts("home=/x\n")


@pytest.fixture
def world(tmp_path):
    return GitWorld.create(tmp_path / "git")


async def test_fetch_reports_the_fresh_sha_and_open_branches(world, transport):
    fresh = world.advance_main()
    open_sha = world.push_branch("issue-7-open-work", merged=False)
    world.push_branch("issue-7-merged-work", merged=True)
    world.push_branch("issue-77-other-issue", merged=False)
    merged_main = world.heads()["main"]
    assert merged_main != fresh  # the merge moved main further

    facts = await origin_facts(transport, str(world.clone), "main", 7, fetch=True)

    assert facts.base_sha == merged_main
    assert git("rev-parse", "refs/remotes/origin/main", cwd=world.clone).strip() == merged_main
    assert {b.name: (b.sha, b.merged) for b in facts.branches} == {
        "issue-7-open-work": (open_sha, False),
        "issue-7-merged-work": (world.heads()["issue-7-merged-work"], True)}
    assert facts.home.startswith("/")


async def test_without_fetch_nothing_changes_in_the_clone(world, transport):
    fresh = world.advance_main()
    world.push_branch("issue-3-x", merged=False)
    before = world.refs(world.clone)

    facts = await origin_facts(transport, str(world.clone), "main", 3, fetch=False)

    assert facts.base_sha == fresh                  # read from origin with ls-remote
    assert world.refs(world.clone) == before        # no fetch happened
    assert [(b.name, b.merged) for b in facts.branches] == [("issue-3-x", None)]


async def test_unreachable_origin_fails_and_never_falls_back(world, transport):
    world.break_origin()
    before = world.refs(world.clone)
    for fetch in (True, False):
        with pytest.raises(RemoteCommandFailed) as info:
            await origin_facts(transport, str(world.clone), "main", 1, fetch=fetch)
        assert "cannot reach origin" in info.value.message
        assert "stale local refs" in info.value.hint
        assert info.value.exit_status == 11
    assert world.refs(world.clone) == before


async def test_missing_repo_and_missing_base_branch(world, transport, tmp_path):
    with pytest.raises(RemoteCommandFailed) as info:
        await origin_facts(transport, str(tmp_path / "nowhere"), "main", 1, fetch=True)
    assert "is not a git repository" in info.value.message and "repo_paths" in info.value.hint
    with pytest.raises(RemoteCommandFailed) as info:
        await origin_facts(transport, str(world.clone), "trunk", 1, fetch=True)
    assert "has no branch 'trunk'" in info.value.message
    assert "default_branch" in info.value.hint


def test_parse_origin_facts_reads_the_workers_own_branches_and_their_holders():
    facts = parse_origin_facts(
        "home=/h\nbase=b1\nclaim 0 o1 issue-7-a\n"
        "local 0 ahead l1 issue-7-a\nlocal 1 none l2 issue-7-b\n"
        "held dirty issue-7-a /h/wt/demo/x y\nheld gone issue-7-b /h/wt/demo/z\n")
    assert facts.local_branch("issue-7-a").relation == "ahead"
    assert facts.local_branch("issue-7-b").in_base
    assert facts.holder("issue-7-a").path == "/h/wt/demo/x y"
    assert facts.holder("issue-7-b") is None          # its directory is gone: prune frees it
    assert facts.existing() == ["issue-7-a", "issue-7-b"] and facts.unmerged() == ["issue-7-a"]


async def test_facts_name_the_worktree_holding_a_branch_and_whether_it_is_clean(world, transport,
                                                                                tmp_path):
    sha = world.push_branch("issue-7-held", merged=False)
    holder = tmp_path / "wt" / "holder"
    git("fetch", "-q", "origin", cwd=world.clone)
    git("worktree", "add", "-q", "-b", "issue-7-held", str(holder), sha, cwd=world.clone)
    facts = await origin_facts(transport, str(world.clone), "main", 7, fetch=True)
    assert facts.local_branch("issue-7-held").relation == "same"
    assert facts.holder("issue-7-held").state == "clean"
    (holder / "wip.txt").write_text("wip\n")
    facts = await origin_facts(transport, str(world.clone), "main", 7, fetch=True)
    assert facts.holder("issue-7-held").state == "dirty"
    assert str(holder) == facts.holder("issue-7-held").path
