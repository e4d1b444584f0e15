"""The hidden marker on coordssh's comments: its text, its parser, and posting at most once."""

from __future__ import annotations

import pytest

from coordssh.config.schema import Repo
from coordssh.errors import UsageError
from coordssh.forge import GitForge, GitHubForge, local_issue
from coordssh.forge.marker import Marker, marker, parse_markers, post_once, with_marker
from coordssh.forge.pacing import Backoff, Pacer
from tests.support.fake_gh import FakeGitHub


def test_marker_text_is_exact():
    assert marker("merged", "w12", "a1b2c3d4", "d4e5f6a") == \
        "<!-- coordssh:event=merged work=w12 run=a1b2c3d4 sha=d4e5f6a -->"
    assert marker("pr_opened", 7) == "<!-- coordssh:event=pr_opened work=7 run=- sha=- -->"


@pytest.mark.parametrize("bad", ["two words", "x-->y", "", "<!--", "a\nb"])
def test_marker_refuses_free_text(bad):
    with pytest.raises(UsageError):
        marker(bad, "w1")
    with pytest.raises(UsageError):
        marker("ev", "w1", run=bad or " ")


def test_parse_round_trips_and_finds_every_marker():
    one, two = marker("review", "w1", "r1", "abc1234"), marker("merged", "w1", None, "def5678")
    text = f"Review text\n\n{one}\nmore\n{two}\n"
    assert parse_markers(text) == [Marker("review", "w1", "r1", "abc1234"),
                                   Marker("merged", "w1", "-", "def5678")]
    assert str(parse_markers(one)[0]) == one
    assert parse_markers("no marker <!-- other:event=x -->") == [] and parse_markers(None) == []


def test_with_marker_adds_it_once_at_the_end():
    mark = marker("e", "w")
    assert with_marker("body\n\n\n", mark) == f"body\n\n{mark}\n"
    assert with_marker(f"body\n\n{mark}\n", mark) == f"body\n\n{mark}\n"


@pytest.fixture(params=["git", "github"])
def forge_pair(request, tmp_path):
    """Two separate forge objects over the same forge: a second coordinator, or a lost board."""
    if request.param == "github":
        fake = FakeGitHub(tmp_path)
        fake.add_issue(5, "Thing")

        def make():
            return GitHubForge(Repo("demo", github="o/r"), gh=fake.gh, env=fake.env,
                               backoff=Backoff(base=0.01, retries=0), pacer=Pacer(0))
    else:
        def make():
            return GitForge(Repo("demo"), issues=[local_issue(5, "Thing")],
                            state_dir=tmp_path / "state")
    return make(), make()


async def test_post_once_across_coordinators(forge_pair):
    first, second = forge_pair
    mark = marker("claimed", "w9", "r1", None)
    comment, posted = await post_once(first, 5, "Claimed by coordssh.", mark)
    assert posted and comment.body == f"Claimed by coordssh.\n\n{mark}\n"
    again, posted = await post_once(second, 5, "Claimed by coordssh (rerun).", mark)
    assert not posted and again.id == comment.id and again.body == comment.body
    other, posted = await post_once(second, 5, "Next event.", marker("merged", "w9"))
    assert posted and other.id != comment.id
    assert len(await first.list_comments(5)) == 2
    assert (await second.find_comment(5, mark)).id == comment.id


async def test_a_body_that_already_carries_the_marker_is_posted_as_is(forge_pair):
    first, _ = forge_pair
    mark = marker("note", "w1")
    comment, posted = await post_once(first, 5, f"text\n{mark}", mark)
    assert posted and comment.body == f"text\n{mark}" and comment.body.count(mark) == 1
