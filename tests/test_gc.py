"""Clean-up through ONE guarded function (remote/gc.py): only under the machine's roots,
symlinks resolved, a dirty worktree rescued (committed and pushed) first; old run directories;
disk use. On the local transport and over the real sshd."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from coordssh.domain import stages as s
from coordssh.domain.work import Event
from coordssh.errors import Refused
from coordssh.remote.gc import Removal, remove_under_roots, under_root
from coordssh.services import pipeline
from coordssh.services.assign import AssignRequest, assign
from coordssh.services.gc import collect
from tests.support.dispatch import contexts, world  # noqa: F401 (fixtures)
from tests.support.dispatch import finished, git, wait_for
from tests.support.notify_world import with_pipeline


def test_the_operator_side_guard():
    assert under_root("/w", "/w/demo/a1")
    assert under_root("~/.coordssh/worktrees", "/home/u/.coordssh/worktrees/demo/a1")
    assert not under_root("/w", "/w")
    assert not under_root("/w", "/w/../etc")
    assert not under_root("/w", "/wx/a")
    assert not under_root("/w", "relative/a")


async def test_the_script_refuses_symlinks_and_paths_resolving_outside(transport, tmp_path,
                                                                       machine):
    root, runs = tmp_path / "wt", tmp_path / "runs"
    (root / "demo").mkdir(parents=True)
    runs.mkdir()
    outside = tmp_path / "precious"
    outside.mkdir()
    (outside / "keep.txt").write_text("keep\n")
    (root / "demo" / "link").symlink_to(outside)
    (outside / "sub").mkdir()
    os.symlink(outside, root / "demo" / "via")        # a parent that is a symlink
    (runs / "old").mkdir()
    (runs / "old" / "stream.jsonl").write_text("{}\n")
    entries = [Removal("l1", "worktree", str(root / "demo" / "link")),
               Removal("l2", "testtree", str(root / "demo" / "via" / "sub")),
               Removal("r1", "rundir", str(runs / "old")),
               Removal("g1", "rundir", str(runs / "never"))]
    got = await remove_under_roots(transport, str(root), str(runs), entries)
    assert got.results == {"l1 worktree": "refused symlink", "l2 testtree": "refused outside",
                           "r1 rundir": "removed", "g1 rundir": "gone"}
    assert (outside / "keep.txt").read_text() == "keep\n" and (outside / "sub").is_dir()
    assert not (runs / "old").exists()
    assert got.disk_kb["worktrees_kb"] >= 0 and got.disk_kb["runs_kb"] >= 0
    with pytest.raises(Refused, match="not under"):
        await remove_under_roots(transport, str(root), str(runs),
                                 [Removal("x", "worktree", str(outside))])


async def test_gc_rescues_a_dirty_worktree_of_a_merged_item_then_removes_it(local_machine,
                                                                          contexts, world):
    ctx = with_pipeline(contexts(local_machine), run_dir_max_age=3600.0)
    row = (await assign(ctx, AssignRequest(machine="localbox", repo="demo", issue=5,
                                           title="Fix the widget",
                                           briefing="[[fake-claude:success]]"))).assignment
    wait_for(lambda: finished(row.run_dir))
    from coordssh.services.observe import observe

    await observe(ctx)
    Path(row.worktree, "late.txt").write_text("written after the run\n")
    dry = await collect(ctx, dry_run=True)
    assert dry.planned == {}                       # not merged yet: nothing to remove
    with ctx.board.transaction() as tx:
        pipeline.apply(tx, "demo#5", Event("pr_merged", {"sha": "x"}), ctx.clock())
    assert ctx.board.get_work("demo#5").stage == s.MERGED
    dry = await collect(ctx, dry_run=True)
    assert dry.planned == {"localbox": [{"run": row.id, "kind": "worktree",
                                         "path": row.worktree}]}
    assert Path(row.worktree).exists()
    done = await collect(ctx)
    state = done.results["localbox"][f"{row.id} worktree"]
    assert state.startswith("removed ") and not Path(row.worktree).exists()
    rescued = state.split()[1]
    assert world.heads()[row.branch] == rescued
    assert "coordssh rescue" in git("log", "-1", "--format=%s", rescued, cwd=world.origin)
    assert ctx.board.get(row.id).extra["gc"]["worktree"] == state
    assert f"{row.id} worktree" not in (await collect(ctx)).results.get("localbox", {})
    assert ctx.board.kv_get("disk.usage")["localbox"]["runs_kb"] > 0
    ended = ctx.board.get(row.id).finished_at
    ctx.clock = lambda: ended + 7200              # the run dir is now older than the max age
    old = await collect(ctx)
    assert old.results["localbox"] == {f"{row.id} rundir": "removed"}
    assert not Path(row.run_dir).exists()


def test_doctor_reports_the_disk_used_by_both_roots():
    from coordssh.remote.doctor_probe import parse_probe

    facts = parse_probe("disk\t100\nused\t2048\t512\nend\n")
    assert facts.used_kb == (2048, 512) and facts.complete
    assert parse_probe("used\t\t\nend\n").used_kb == (None, None)
