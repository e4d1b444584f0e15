"""A claude config dir per worker slot (services/slots.py, LESSONS 11) with the claude stand-in,
on a local and an ssh machine: the slots are made and recorded by `coordssh setup` itself, and
what each run got is read from the stand-in's side (FAKE_CLAUDE_RECORD: its CLAUDE_CONFIG_DIR).
The real CLI writing its transcript into a slot and resuming from it: tests/test_real_slots.py."""

from __future__ import annotations

import asyncio
import json
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from coordssh.board.store import Board
from coordssh.cli.render.assign import plan_text
from coordssh.cli.render.status_json import status_json
from coordssh.domain import models as m
from coordssh.domain.models import Assignment
from coordssh.errors import Refused
from coordssh.remote.envelope import render_meta
from coordssh.remote.transcript import cwd_slug
from coordssh.services import slots
from coordssh.services.adopt import row_from_meta
from coordssh.services.assign import AssignRequest, assign
from coordssh.services.continue_run import continue_run
from coordssh.services.observe import observe
from coordssh.services.setup import run_setup
from coordssh.services.setup_playbook import parse_setup_playbook
from coordssh.services.stop import stop
from tests.support.dispatch import contexts, world  # noqa: F401 (fixtures)
from tests.support.dispatch import envelope_file, finished, wait_for

LONG = 300
HANG = "[[fake-claude:hang]]"
CRASHED = "[[fake-claude:crashed]]"
SLOTS_ONLY = """
steps:
  - step: claude_config_dirs
    enabled: true
    root: {root}
"""


async def make_slots(ctx, machine, root: Path) -> list[str]:
    """`coordssh setup` of the slots step alone: one dir per max_workers, recorded on the board."""
    book = parse_setup_playbook(SLOTS_ONLY.format(root=root), root.parent / "machine.yml")
    report = await run_setup(ctx, [machine.name], check=False, playbook=book)
    assert report.ok, report.to_dict()
    dirs = ctx.board.kv_get(slots.config_dirs_key(machine.name))
    assert dirs == [str(root / f"slot-{n}") for n in range(1, machine.max_workers + 1)]
    return dirs


async def start(ctx, machine: str, issue: int, briefing: str = "Make it.") -> Assignment:
    return (await assign(ctx, AssignRequest(machine=machine, repo="demo", issue=issue,
                                            title=f"Issue {issue}", briefing=briefing))).assignment


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def record_of(path: Path, run: Assignment) -> dict:
    """What the stand-in saw for `run` (its cwd is the run's worktree)."""
    return wait_for(lambda: next((r for r in records(path) if r["cwd"] == run.worktree), None),
                    LONG)


async def ended(ctx, run: Assignment) -> Assignment:
    wait_for(lambda: finished(run.run_dir), LONG)
    await observe(ctx)
    return ctx.board.get(run.id)


def worker(ctx, machine):
    return ctx.config.machines[machine.name]


async def test_live_runs_get_their_own_slot_a_full_set_refuses_and_a_freed_one_is_reused(
        machine, contexts, tmp_path):
    record = tmp_path / "claude.jsonl"
    ctx = contexts(machine, max_workers=2, env={"FAKE_CLAUDE_RECORD": str(record)})
    dirs = await make_slots(ctx, worker(ctx, machine), tmp_path / "slots")
    dry = await assign(ctx, AssignRequest(machine=machine.name, repo="demo", issue=1,
                                          title="Issue 1", briefing=HANG, dry_run=True))
    assert f"  machine   {machine.name}  (claude config slot 1: {dirs[0]})\n" in plan_text(
        dry, "coordinator.yml")
    assert f"CLAUDE_CONFIG_DIR={dirs[0]}" in dry.command and ctx.board.list() == []
    first = await start(ctx, machine.name, 1, HANG)
    second = await start(ctx, machine.name, 2, HANG)
    assert [record_of(record, r)["claude_config_dir"] for r in (first, second)] == dirs
    assert [(r.extra["slot"], r.extra["claude_config_dir"]) for r in (first, second)] == [
        (1, dirs[0]), (2, dirs[1])]
    meta = json.loads(Path(first.run_dir, "meta.json").read_text())
    assert (meta["slot"], meta["claude_config_dir"]) == (1, dirs[0])  # an adoption keeps it
    shown = {a["id"]: a for a in status_json(await observe(ctx))["assignments"]}
    assert (shown[second.id]["slot"], shown[second.id]["claude_config_dir"]) == (2, dirs[1])

    # max_workers raised after setup: room on the machine, but no slot left -> refused
    ctx.config = replace(ctx.config, machines={machine.name: replace(
        worker(ctx, machine), max_workers=3)})
    with pytest.raises(Refused) as info:
        await start(ctx, machine.name, 3, HANG)
    assert info.value.message == (f"machine {machine.name}: all 2 claude config slots are held "
                                  "by live runs (max_workers 3)")
    assert f"coordssh setup {machine.name}" in info.value.hint
    assert ctx.board.get_work("demo#3") is None and len(ctx.board.list()) == 2

    await stop(ctx, first.id)
    assert (await ended(ctx, first)).status == m.CANCELLED
    third = await start(ctx, machine.name, 3, HANG)
    assert (third.extra["slot"], record_of(record, third)["claude_config_dir"]) == (1, dirs[0])


def test_two_assigns_racing_each_other_never_share_a_slot(local_machine, contexts, tmp_path):
    record = tmp_path / "claude.jsonl"
    ctx = contexts(local_machine, env={"FAKE_CLAUDE_RECORD": str(record)})
    dirs = asyncio.run(make_slots(ctx, local_machine, tmp_path / "slots"))
    started: list[Assignment] = []

    def one(racer, issue: int) -> None:    # its own board handle: the file lock decides
        started.append(asyncio.run(start(racer, "localbox", issue, HANG)))

    threads = [threading.Thread(target=one, args=(contexts(local_machine, env={
        "FAKE_CLAUDE_RECORD": str(record)}), n)) for n in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(started) == 2
    assert sorted(r.extra["claude_config_dir"] for r in started) == dirs
    assert sorted(record_of(record, r)["claude_config_dir"] for r in started) == dirs


async def test_no_slots_no_config_dir_and_a_machine_env_config_dir_wins(machine, contexts,
                                                                       tmp_path, monkeypatch):
    monkeypatch.delenv("CLAUDE_CONFIG_DIR", raising=False)
    record = tmp_path / "claude.jsonl"
    ctx = contexts(machine, env={"FAKE_CLAUDE_RECORD": str(record)})
    plain = await assign(ctx, AssignRequest(machine=machine.name, repo="demo", issue=1,
                                            title="Plain", briefing="Make it."))
    run = plain.assignment
    assert record_of(record, run)["claude_config_dir"] is None
    assert "slot" not in run.extra and plain.to_json()["slot"] is None
    assert "CLAUDE_CONFIG_DIR" not in envelope_file(run.run_dir, "run.sh")
    await ended(ctx, run)

    own = str(tmp_path / "own-config")
    ctx = contexts(machine, env={"FAKE_CLAUDE_RECORD": str(record), "CLAUDE_CONFIG_DIR": own})
    await make_slots(ctx, worker(ctx, machine), tmp_path / "slots")
    result = await assign(ctx, AssignRequest(machine=machine.name, repo="demo", issue=2,
                                             title="Own", briefing="Make it."))
    assert record_of(record, result.assignment)["claude_config_dir"] == own
    assert "slot" not in result.assignment.extra
    assert result.notes == (f"claude config: machine {machine.name}'s env sets "
                            f"CLAUDE_CONFIG_DIR={own}; it wins over the per-slot dirs "
                            "`coordssh setup` recorded",)


def plant_transcript(config_dir: str, run: Assignment) -> Path:
    """What the real CLI leaves in its config dir for a session (a transcript, and a dir of the
    session's subagent files)."""
    project = Path(config_dir, "projects", cwd_slug(run.worktree))
    (project / run.session_id / "subagents").mkdir(parents=True)
    (project / run.session_id / "subagents" / "agent-1.jsonl").write_text('{"sub":1}\n')
    kept = project / f"{run.session_id}.jsonl"
    kept.write_text('{"type":"user","cwd":"%s"}\n' % run.worktree)
    return kept


async def test_continue_takes_the_earlier_runs_slot_when_it_is_free(machine, contexts,
                                                                    tmp_path):
    record = tmp_path / "claude.jsonl"
    ctx = contexts(machine, env={"FAKE_CLAUDE_RECORD": str(record)})
    dirs = await make_slots(ctx, worker(ctx, machine), tmp_path / "slots")
    holder = await start(ctx, machine.name, 6, HANG)                      # slot 1
    crashed = await ended(ctx, await start(ctx, machine.name, 5, CRASHED))
    assert (crashed.status, crashed.extra["claude_config_dir"]) == (m.CRASHED, dirs[1])
    plant_transcript(dirs[1], crashed)
    await stop(ctx, holder.id)
    await ended(ctx, holder)                                     # slot 1 is free (and first)
    run = (await continue_run(ctx, crashed.id, "Go on.")).assignment
    assert (run.extra["slot"], run.extra["claude_config_dir"]) == (2, dirs[1])
    wait_for(lambda: len(records(record)) == 3, LONG)
    seen = records(record)[-1]
    assert seen["claude_config_dir"] == dirs[1]
    assert seen["argv"][seen["argv"].index("--resume") + 1] == crashed.session_id
    assert not Path(dirs[0], "projects").exists()                          # nothing copied


async def test_continue_copies_the_transcript_into_another_slot_when_its_own_is_held(
        machine, contexts, tmp_path):
    record = tmp_path / "claude.jsonl"
    ctx = contexts(machine, env={"FAKE_CLAUDE_RECORD": str(record)})
    dirs = await make_slots(ctx, worker(ctx, machine), tmp_path / "slots")
    crashed = await ended(ctx, await start(ctx, machine.name, 5, CRASHED))
    assert crashed.extra["claude_config_dir"] == dirs[0]
    blocker = await start(ctx, machine.name, 6, HANG)                   # slot 1 again
    assert blocker.extra["claude_config_dir"] == dirs[0]
    with pytest.raises(Refused) as info:              # looked where the crashed run kept it
        await continue_run(ctx, crashed.id, "Go on.")
    assert info.value.message.startswith(
        f"on {machine.name}: claude has no transcript of session {crashed.session_id} "
        f"(looked in {dirs[0]}/projects)")
    kept = plant_transcript(dirs[0], crashed)

    run = (await continue_run(ctx, crashed.id, "Go on.")).assignment
    assert (run.extra["slot"], run.extra["claude_config_dir"]) == (2, dirs[1])
    wait_for(lambda: len(records(record)) == 3, LONG)
    seen = records(record)[-1]
    assert seen["claude_config_dir"] == dirs[1] and seen["cwd"] == crashed.worktree
    assert seen["argv"][seen["argv"].index("--resume") + 1] == crashed.session_id
    carried = Path(dirs[1], "projects", kept.parent.name)
    assert (carried / kept.name).read_text() == kept.read_text()
    assert (carried / crashed.session_id / "subagents" / "agent-1.jsonl").exists()


async def test_a_run_from_before_the_slots_continues_in_one_with_its_transcript(
        machine, contexts, tmp_path):
    record, home = tmp_path / "claude.jsonl", tmp_path / "home"
    ctx = contexts(machine, env={"FAKE_CLAUDE_RECORD": str(record), "HOME": str(home)})
    crashed = await ended(ctx, await start(ctx, machine.name, 5, CRASHED))
    assert "slot" not in crashed.extra
    kept = plant_transcript(str(home / ".claude"), crashed)        # the shared ~/.claude
    dirs = await make_slots(ctx, worker(ctx, machine), tmp_path / "slots")
    run = (await continue_run(ctx, crashed.id, "Go on.")).assignment
    assert run.extra["claude_config_dir"] == dirs[0]
    wait_for(lambda: len(records(record)) == 2, LONG)
    assert records(record)[-1]["claude_config_dir"] == dirs[0]
    assert Path(dirs[0], "projects", kept.parent.name, kept.name).read_text() == kept.read_text()


# --- the pieces --------------------------------------------------------------------------------
def test_slots_expand_home_prefer_a_free_one_and_an_adopted_run_keeps_its_own(tmp_path,
                                                                              local_machine):
    board = Board.open(tmp_path / "state")
    board.kv_set(slots.config_dirs_key("localbox"), ["~/slots/slot-1", "/abs/slot-2"])
    assert slots.recorded(board, local_machine, "/home/w") == (
        slots.Slot(1, "/home/w/slots/slot-1"), slots.Slot(2, "/abs/slot-2"))
    holder = Assignment(id="a1", machine="localbox", repo="demo", issue=1, branch="b",
                        status=m.RUNNING, extra={"claude_config_dir": "/home/w/slots/slot-1"})
    assert slots.choose(board, local_machine, "/home/w", live=[holder]).number == 2
    elsewhere = holder.evolve(machine="otherbox")
    assert slots.choose(board, local_machine, "/home/w", prefer="/abs/slot-2",
                        live=[elsewhere]).number == 2
    with_env = replace(local_machine, env={"CLAUDE_CONFIG_DIR": "/mine"})
    assert slots.choose(board, with_env, "/home/w") is None

    seated, env = slots.seat(holder.evolve(extra={}), {"A": "1"}, slots.Slot(2, "/abs/slot-2"))
    meta = json.loads(render_meta(seated))
    assert env == {"A": "1", "CLAUDE_CONFIG_DIR": "/abs/slot-2"}
    adopted = row_from_meta(local_machine, "a1", "/runs/a1", meta, started_at=1.0, now=2.0)
    assert (adopted.extra["slot"], slots.held_dir(adopted)) == (2, "/abs/slot-2")
    assert slots.run_env(local_machine, adopted) == {"CLAUDE_CONFIG_DIR": "/abs/slot-2"}
    assert slots.run_env(with_env, adopted) == {"CLAUDE_CONFIG_DIR": "/abs/slot-2"}  # ran there
    assert slots.run_env(with_env, holder.evolve(extra={})) == {"CLAUDE_CONFIG_DIR": "/mine"}


async def test_a_review_takes_a_free_slot_and_a_test_run_none(local_machine, contexts, world,
                                                              tmp_path):
    from coordssh.services.pr import open_pr
    from coordssh.services.review import dispatch_review
    from tests.support.prflow import github_context, github_rig, implemented, judge_head, set_repo

    record = tmp_path / "claude.jsonl"
    fake = github_rig(tmp_path, world)
    fake.add_issue(5, "Fix the widget", "It is broken.")
    fake.add_issue(9, "Hold a slot", f"{HANG}")
    ctx = github_context(contexts, local_machine, fake, env={"FAKE_CLAUDE_RECORD": str(record)})
    set_repo(ctx, test_command="test -f coordssh-fake-success.txt")
    dirs = await make_slots(ctx, local_machine, tmp_path / "slots")
    key = await implemented(ctx, "localbox", 5)
    await judge_head(ctx, key)
    [test] = [r for r in ctx.board.list() if r.role == "test"]
    assert "slot" not in test.extra                          # no claude there: no slot
    await open_pr(ctx, key)
    holder = await start(ctx, "localbox", 9, HANG)            # slot 1
    dispatched = await dispatch_review(ctx, key)
    review = dispatched.assignment
    assert (holder.extra["slot"], review.extra["slot"]) == (1, 2)
    assert (dispatched.to_json()["slot"], dispatched.to_json()["claude_config_dir"]) == (
        2, dirs[1])                                          # `review --json`
    seen = wait_for(lambda: next((r for r in records(record) if "--session-id" in r["argv"]
                                  and review.session_id in r["argv"]), None), LONG)
    assert seen["claude_config_dir"] == dirs[1]
