"""Helpers for the PR half of the pipeline over real repos: a GitHub-backed dispatch context on
the fake `gh` (tests/bin/gh) whose PRs are branches of the world's bare origin, and the steps
that carry an issue to `tested` with the claude stand-in.
"""

from __future__ import annotations

from dataclasses import replace

from coordssh.domain import stages as s
from coordssh.forge import forge_for
from coordssh.forge.pacing import Backoff, Pacer
from coordssh.services.assign import AssignRequest, assign
from coordssh.services.observe import observe
from coordssh.services.test_run import dispatch_test
from coordssh.services.watch import watch_run
from tests.support.dispatch import finished, wait_for
from tests.support.fake_gh import FakeGitHub

LONG = 300


def github_rig(tmp_path, world, *, author: str = "someone-else") -> FakeGitHub:
    """The fake GitHub of repo o/r on the world's origin; PRs authored by `author` (anyone but
    the viewer `coordbot` lets coordssh review them)."""
    (tmp_path / "gh").mkdir(exist_ok=True)
    fake = FakeGitHub(tmp_path / "gh")
    fake.add_label("sub-task")
    fake.attach_origin(world.origin)
    fake.update(pr_author=author)
    return fake


def fake_forges(fake: FakeGitHub):
    """A forge factory on the fake gh: no pacing, back-off in hundredths of a second."""
    made = {}

    def make(repo):
        if repo.name not in made:
            made[repo.name] = forge_for(repo, gh=fake.gh, env=fake.env, pacer=Pacer(0),
                                        backoff=Backoff(base=0.01))
        return made[repo.name]

    return make


def github_context(contexts, machine, fake: FakeGitHub, **options):
    return contexts(machine, github="o/r", forge_factory=fake_forges(fake), **options)


def set_repo(ctx, **fields) -> None:
    ctx.config.repos["demo"] = replace(ctx.config.repos["demo"], **fields)


async def implemented(ctx, machine_name: str, issue: int, **assign_options) -> str:
    """An implement run of `issue` to its end (pushed): the work item's key."""
    run = (await assign(ctx, AssignRequest(machine=machine_name, repo="demo", issue=issue,
                                           **assign_options))).assignment
    wait_for(lambda: finished(run.run_dir), LONG)
    await observe(ctx)
    key = f"demo#{issue}"
    assert ctx.board.get_work(key).stage == s.IMPLEMENTED, ctx.board.get_work(key)
    return key


async def judge_head(ctx, key: str, *, machine: str | None = None) -> None:
    """A real test run at the item's head to its end (the repo's test_command)."""
    run = (await dispatch_test(ctx, key, machine=machine)).assignment
    await watch_run(ctx, run.id, timeout=LONG)
    assert ctx.board.get_work(key).stage in (s.TESTED, s.TEST_FAILED)
