"""remote/inflight.py on real repos: files each in-flight branch changed, merge-tree conflicts."""

from __future__ import annotations

import pytest

from coordssh.errors import RemoteCommandFailed
from coordssh.remote.inflight import inflight, issue_of, parse_inflight
from tests.support.dispatch import git, world  # noqa: F401 (fixture)
from tests.support.plan_world import LINES, base_files, branch_with, edit_line


@pytest.fixture
def busy_world(world):
    base_files(world, {"src/a.py": LINES, "src/b.py": LINES, "docs/odd name.md": "x\n"})
    branch_with(world, "issue-4-left", {"src/a.py": edit_line(3, "left"), "src/c.py": "c\n"})
    branch_with(world, "issue-5-right", {"src/a.py": edit_line(3, "right")})     # conflicts
    branch_with(world, "issue-6-far", {"src/a.py": edit_line(18, "far")})        # merges clean
    branch_with(world, "issue-7-done", {"src/b.py": edit_line(1, "merged")}, merged=True)
    branch_with(world, "issue-8-odd", {"docs/odd name.md": "y\n"})
    changed = (world.seed / "src" / "b.py").read_text().replace("line 9\n", "squashed\n")
    branch_with(world, "issue-9-squashed", {"src/b.py": changed})
    (world.seed / "src" / "b.py").write_text(changed)    # merged as another commit (a squash)
    git("commit", "-q", "-am", "squash of issue 9", cwd=world.seed)
    git("push", "-q", "origin", "main", cwd=world.seed)
    return world


async def test_branches_files_and_real_conflicts(busy_world, transport):
    facts = await inflight(transport, str(busy_world.clone), "main")
    branches = {b.name: b for b in facts.branches}
    assert set(branches) == {"issue-4-left", "issue-5-right", "issue-6-far", "issue-8-odd"}
    assert facts.merged == ("issue-7-done", "issue-9-squashed")   # by ancestry, by patch
    assert branches["issue-4-left"].files == ("src/a.py", "src/c.py")
    assert branches["issue-4-left"].issue == 4
    assert branches["issue-8-odd"].files == ("docs/odd name.md",)
    assert [(c.a, c.b, c.files) for c in facts.conflicts] == [
        ("issue-4-left", "issue-5-right", ("src/a.py",))]
    assert facts.checked_pairs == 3          # only pairs sharing a file are merged
    assert facts.base_sha == busy_world.heads()["main"]
    assert {"src/a.py", "src/b.py", "docs/odd name.md", "README.md"} <= facts.tree


async def test_a_deleted_branch_is_pruned_on_the_next_read(busy_world, transport):
    await inflight(transport, str(busy_world.clone), "main")
    git("push", "-q", "origin", "--delete", "issue-5-right", cwd=busy_world.seed)
    facts = await inflight(transport, str(busy_world.clone), "main", tree=False)
    assert "issue-5-right" not in {b.name for b in facts.branches}
    assert facts.conflicts == () and facts.tree is None


async def test_not_a_repository_names_the_path(transport, tmp_path):
    with pytest.raises(RemoteCommandFailed) as err:
        await inflight(transport, str(tmp_path), "main")
    assert "is not a git repository" in err.value.message


def test_parser_unquotes_and_reads_unknown_pairs():
    facts = parse_inflight('base abc\nbranch 111 issue-1-x\nfile issue-1-x "a\\tb.py"\n'
                           "unknown issue-1-x issue-2-y\ntree \"caf\\303\\251.txt\"\n")
    assert facts.branches[0].files == ("a\tb.py",)
    assert facts.unknown_pairs == (("issue-1-x", "issue-2-y"),)
    assert facts.tree == frozenset({"café.txt"})
    assert issue_of("issue-12-x") == 12 and issue_of("feature") is None
    with pytest.raises(ValueError):
        parse_inflight("nothing\n")
