"""`coordssh split`: sub-issues from the parent's task list or numbered items, created once with the
`sub-task` label and a link, the parent's body only ever appended to; on the fake GitHub and on a
plain-git repo (the forge's own store). And a plain-git repo through `pr` and `merge`."""

from __future__ import annotations

import pytest

from coordssh.cli.context import context_for
from coordssh.domain import stages as s
from coordssh.errors import Refused
from coordssh.forge import forge_for, local_issue
from coordssh.services.merge_queue import run_queue
from coordssh.services.pr import open_pr
from coordssh.services.split import proposals, split_issue
from tests.support.dispatch import contexts, world  # noqa: F401 (fixtures)
from tests.support.dispatch import git
from tests.support.prflow import github_context, github_rig, implemented, judge_head, set_repo

BODY = ("We need a parser.\n\n- [ ] Add the tokenizer\n- [x] Pick a name\n"
        "- [ ] Add the parser\n\nNotes that must survive.\n")


def test_proposals_come_from_open_tasks_else_numbered_items() -> None:
    assert proposals(BODY) == ("task list", ["Add the tokenizer", "Add the parser"])
    assert proposals("Plan:\n1. First step\n2) Second step\n") == (
        "numbered items", ["First step", "Second step"])
    assert proposals("- [ ] #12 Listed already\n") == ("", [])
    assert proposals("") == ("", [])


async def test_split_on_github_creates_once_and_only_appends(local_machine, contexts, world,
                                                              tmp_path):
    fake = github_rig(tmp_path, world)
    fake.add_issue(50, "Build the parser", BODY)
    ctx = github_context(contexts, local_machine, fake)
    shown = await split_issue(ctx, "demo#50")
    assert [(sub.title, sub.number) for sub in shown.subs] == [("Add the tokenizer", None),
                                                              ("Add the parser", None)]
    assert fake.issue(50)["body"] == BODY and "51" not in fake.load()["repos"]["o/r"]["issues"]
    applied = await split_issue(ctx, "demo#50", apply=True)
    numbers = [sub.number for sub in applied.subs]
    assert all(sub.created for sub in applied.subs) and applied.appended
    for number, title in zip(numbers, ("Add the tokenizer", "Add the parser")):
        child = fake.issue(number)
        assert (child["title"], child["labels"]) == (title, ["sub-task"])
        assert "Part of #50" in child["body"]
    parent = fake.issue(50)["body"]
    assert parent.startswith(BODY.rstrip("\n"))             # nothing of the parent lost
    assert f"- [ ] #{numbers[0]} Add the tokenizer\n- [ ] #{numbers[1]} Add the parser" in parent
    issues = len(fake.load()["repos"]["o/r"]["issues"])
    again = await split_issue(ctx, "demo#50", apply=True)   # rerun: nothing new, nothing lost
    assert [sub.number for sub in again.subs] == numbers and not any(s.created for s in again.subs)
    assert not again.appended and fake.issue(50)["body"] == parent
    assert len(fake.load()["repos"]["o/r"]["issues"]) == issues
    fake.add_issue(60, "Vague", "Just do it.")
    with pytest.raises(Refused) as refused:
        await split_issue(ctx, "demo#60")
    assert "has no task list" in refused.value.message


async def test_split_on_plain_git_keeps_the_parent_body(local_machine, contexts, world, tmp_path):
    ctx = contexts(local_machine)
    parent = local_issue(70, "Build the parser", BODY)
    ctx.forge_factory = lambda repo: forge_for(repo, issues=[parent], state_dir=tmp_path / "st",
                                               origin=str(world.origin))
    first = await split_issue(ctx, "demo#70", apply=True)
    again = await split_issue(ctx, "demo#70", apply=True)
    assert [s.number for s in again.subs] == [s.number for s in first.subs]
    forge = ctx.forge(ctx.config.repo("demo"))
    body = (await forge.issue_view(70)).body
    assert body.startswith(BODY.rstrip("\n")) and body.count("## Sub-issues") == 1
    child = await forge.issue_view(first.subs[0].number)
    assert child.labels == ("sub-task",) and "Part of #70" in child.body


async def test_a_plain_git_repo_goes_through_pr_and_merge(local_machine, contexts, world):
    ctx = contexts(local_machine)
    ctx.forge_factory = context_for(ctx.config).forge_factory   # the composition root's wiring
    set_repo(ctx, test_command="true")
    key = await implemented(ctx, "localbox", 80, title="Plain work")
    await judge_head(ctx, key)
    item = ctx.board.get_work(key)
    opened = await open_pr(ctx, key)
    assert opened.created and opened.pr.head_sha == item.head_sha
    assert (await open_pr(ctx, key)).pr.number == opened.pr.number
    [line] = (await run_queue(ctx)).lines
    assert line.outcome == "merged", line
    assert ctx.board.get_work(key).stage == s.MERGED
    assert item.branch not in world.heads()
    assert git("merge-base", "--is-ancestor", item.head_sha, "main", cwd=world.origin) == ""


def test_the_commands_through_the_cli(tmp_path, world, monkeypatch, capsys) -> None:
    import json

    from coordssh.cli.main import main

    fake = github_rig(tmp_path, world)
    fake.add_issue(50, "Build the parser", BODY)
    config = tmp_path / "coordinator.yml"
    config.write_text("repos:\n  - name: demo\n    github: o/r\nmachines: []\n")
    for name, value in fake.env.items():
        if name.startswith("FAKE_GH"):
            monkeypatch.setenv(name, value)
    monkeypatch.setenv("COORDSSH_GH", fake.gh)
    assert main(["--config", str(config), "split", "demo#50"]) == 0
    out = capsys.readouterr().out
    assert "2 sub-issues from its task list" in out and "coordssh split demo#50 --apply" in out
    assert main(["--config", str(config), "split", "demo#50", "--apply", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["appended"] and [s["created"] for s in data["sub_issues"]] == [True, True]
    assert main(["--config", str(config), "merge", "--dry-run", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"dry_run": True, "prs": []}
    assert main(["--config", str(config), "merge", "--method", "octopus"]) == 2
    assert "unknown merge method 'octopus'" in capsys.readouterr().err
    assert main(["--config", str(config), "pr", "demo#9"]) == 2          # no such work item
    assert "no work item demo#9" in capsys.readouterr().err
