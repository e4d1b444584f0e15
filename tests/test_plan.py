"""`plan` and `approve` end to end: the fake gh with dozens of issues across repos, real git
repos with in-flight branches that really conflict, local machines (one full of real stand-in
runs that keep running, one parked by a usage limit), the board. Every proposal and every skip
is asserted with its reason; each seed failure mode has a test (see the names)."""

from __future__ import annotations

import json
import time

import pytest

from coordssh.config.schema import Intake, Models
from coordssh.domain import models as m
from coordssh.domain.models import Assignment
from coordssh.errors import NotFound, UsageError
from coordssh.services.approve import approve
from coordssh.services.assign import AssignRequest, assign
from coordssh.services.plan import make_plan, saved_plan
from tests.support.dispatch import reap, wait_for
from tests.support.plan_fleet import PlanFleet
from tests.support.plan_world import LINES, base_files, branch_with, edit_line

INTAKE = Intake(priority_labels=("p0", "p1"), label_capabilities={"gpu": ("gpu",),
                                                                  "cuda": ("cuda",)})
MODELS = Models(labels={"big": "opus", "docs": "haiku"})


def day(n: int) -> str:
    return f"2024-04-{n:02d}T10:00:00Z"


@pytest.fixture
def fleet(tmp_path):
    made = PlanFleet.create(tmp_path, {"app": (), "lib": (), "web": ("lib",), "ml": ()})
    yield made
    board = made.__dict__.get("board")
    if board is not None:
        reap(board)


def _context(fleet, **options):
    ctx = fleet.context(**options)
    fleet.board = ctx.board          # reaped at teardown
    return ctx


def _hang(fleet, repo, number, labels=()):
    fleet.issue(repo, number, f"long work {number}", created=day(1), labels=labels)


async def _fill(ctx, machine, repo, number):
    """A real stand-in run that keeps running until reaped (capacity read from the machine)."""
    result = await assign(ctx, AssignRequest(machine=machine, repo=repo, issue=number,
                                             briefing="[[fake-claude:hang]]"))
    wait_for(lambda: ctx.board.get(result.assignment.id).status == m.RUNNING, 60)
    return result.assignment


def _world(fleet):
    app, lib = fleet.worlds["app"], fleet.worlds["lib"]
    base_files(app, {"src/a.py": LINES, "src/b.py": LINES, "src/c.py": LINES, "docs/x.md": "x\n"})
    branch_with(app, "issue-40-left", {"src/a.py": edit_line(3, "left")})
    branch_with(app, "issue-41-right", {"src/a.py": edit_line(3, "right")})
    branch_with(lib, "issue-3-x", {"lib.txt": "x\n"})


def _issues(fleet):
    f = fleet.issue
    f("app", 40, "left side", created=day(2))
    f("app", 41, "right side", created=day(2))
    f("app", 12, "crash in `src/a.py`", created=day(3))
    f("app", 20, "blocked one", labels=("blocked",), created=day(1))
    f("app", 21, "in progress", labels=("wip",), created=day(1))
    f("app", 22, "ask a human", labels=("needs-human",), created=day(1))
    f("app", 23, "big refactor", labels=("big",), body="touch src/c.py", created=day(2))
    f("app", 24, "urgent", labels=("p0",), created=day(20))
    f("app", 25, "train it", labels=("gpu",), created=day(1))
    f("app", 26, "cuda kernels", labels=("cuda",), created=day(1))
    f("app", 27, "b first", body="src/b.py is slow", created=day(4))
    f("app", 28, "b second", body="also src/b.py", created=day(5))
    f("app", 29, "docs", labels=("docs",), body="docs/x.md", created=day(6))
    for n in range(60, 80):
        f("app", n, f"filler {n}", created=day(10))
    f("lib", 3, "lib work", created=day(1))
    f("lib", 5, "closed", created=day(1), state="CLOSED")
    f("web", 1, "web one", created=day(1))
    f("web", 2, "web two", labels=("p1",), created=day(1))
    f("ml", 1, "ml one", labels=("gpu",), created=day(1))
    f("ml", 2, "ml two", created=day(2))


async def test_plan_explains_every_proposal_and_every_skip(fleet):
    _world(fleet)
    _issues(fleet)
    _hang(fleet, "app", 50)
    fleet.machine("m1", ("app", "lib", "web"), max_workers=4)
    fleet.machine("m2", ("app",), max_workers=1)
    fleet.machine("gpu1", ("app",), max_workers=1, capabilities=("gpu",))
    fleet.machine("parked", ("ml",), max_workers=2, capabilities=("gpu",))
    ctx = _context(fleet, intake=INTAKE, models=MODELS)
    full = await _fill(ctx, "m2", "app", 50)
    resets = ctx.clock() + 3 * 3600
    ctx.board.put(Assignment(id="limited1", machine="parked", repo="ml", issue=90,
                             branch="issue-90-x", status=m.USAGE_LIMITED, resets_at=resets,
                             created_at=ctx.clock() - 60, cost_usd=1.5))
    before = len(fleet.gh.calls())

    plan = await make_plan(ctx, fleet.source())

    proposals = {(p.repo, p.issue): p for p in plan.schedule.proposals}
    assert [(p.id, p.repo, p.issue, p.machine) for p in plan.schedule.proposals] == [
        ("1", "app", 24, "m1"), ("2", "app", 25, "gpu1"), ("3", "app", 23, "m1"),
        ("4", "app", 27, "m1"), ("5", "app", 29, "m1")]
    assert (proposals[("app", 23)].model, proposals[("app", 23)].model_source) == (
        "opus", "label: big")
    assert (proposals[("app", 29)].model, proposals[("app", 29)].model_source) == (
        "haiku", "label: docs")
    assert (proposals[("app", 24)].model, proposals[("app", 24)].model_source) == (
        "sonnet", "models.default")
    assert proposals[("app", 23)].files == ("src/c.py",)
    assert proposals[("app", 25)].capabilities == ("gpu",)
    assert proposals[("app", 24)].rationale.startswith("priority label p0, opened 2024-04-20; "
                                                       "on m1 (4 of 4 slots free")
    clock = time.strftime("%H:%M UTC", time.gmtime(resets))
    skipped = {(s.repo, s.issue): s.reason for s in plan.schedule.skipped}
    expected = {
        ("app", 12): "would conflict with #40 on src/a.py (branch issue-40-left); git "
                     "merge-tree predicts issue-40-left already conflicts with issue-41-right",
        ("app", 20): "label blocked", ("app", 21): "label wip", ("app", 22): "label needs-human",
        ("app", 26): "no machine with capability cuda",
        ("app", 28): "would conflict with #27 on src/b.py (proposed in this plan)",
        ("app", 40): "claimed by branch issue-40-left on origin",
        ("app", 41): "claimed by branch issue-41-right on origin",
        ("app", 50): "claimed by work item app#50 (stage implementing)",
        ("lib", 3): "claimed by branch issue-3-x on origin",
        ("web", 1): "blocked: depends_on lib has live or unmerged work (unmerged branch "
                    "issue-3-x)",
        ("web", 2): "blocked: depends_on lib has live or unmerged work (unmerged branch "
                    "issue-3-x)",
        ("ml", 1): f"machine parked parked by a usage limit until {clock}",
        ("ml", 2): f"machine parked parked by a usage limit until {clock}",
        **{("app", n): "no free slot (3 machines full)" for n in range(60, 80)},
    }
    assert skipped == expected
    assert [c.files for c in plan.schedule.conflicts] == [("src/a.py",)]
    # gh: one list per repo, a view per proposal only (the full machine m2 got nothing: seed
    # read a busy key that never existed; max_workers and capabilities were ignored)
    calls = fleet.gh_calls()[before:]
    assert sorted(c for c in calls if c[0] == "issue list") == [
        ("issue list", f"o/{r}") for r in ("app", "lib", "ml", "web")]
    assert sorted(c for c in calls if c[0] == "issue view") == sorted(
        ("issue view", "o/app") for _ in proposals)
    assert len(calls) == 4 + len(proposals)
    assert ctx.board.get(full.id).status == m.RUNNING
    # saved with ids for approve; --json keys
    saved = saved_plan(ctx)
    assert saved["id"] == plan.id and [p["status"] for p in saved["proposals"]] == ["pending"] * 5
    data = json.loads(json.dumps(plan.to_json()))
    assert set(data) >= {"proposals", "skipped"}
    assert set(data["proposals"][0]) >= {"id", "machine", "repo", "issue", "model",
                                         "model_source", "files", "rationale"}
    assert {"repo", "issue", "reason"} <= set(data["skipped"][0])


async def test_approve_rechecks_at_dispatch_time_and_keeps_what_it_did_not_dispatch(fleet):
    """A stale proposal (its machine filled up since) is refused with its reason; the others
    are dispatched, staggered; the refused and the unchosen stay pending (the seed's approve
    threw them away)."""
    base_files(fleet.worlds["app"], {"src/a.py": LINES, "src/b.py": LINES})
    fleet.issue("app", 1, "first", body="src/a.py", created=day(1))
    fleet.issue("app", 2, "second", created=day(2))
    fleet.issue("app", 3, "third", created=day(3))
    fleet.issue("app", 4, "fourth", body="src/b.py", created=day(4))
    _hang(fleet, "app", 9, labels=("wip",))              # not planned: filled in by hand
    fleet.machine("m1", ("app",), max_workers=1)
    fleet.machine("m2", ("app",), max_workers=3)
    ctx = _context(fleet, stagger=7)
    plan = await make_plan(ctx, fleet.source())
    assert [(p.id, p.issue, p.machine) for p in plan.schedule.proposals] == [
        ("1", 1, "m2"), ("2", 2, "m2"), ("3", 3, "m1"), ("4", 4, "m2")]
    filler = await _fill(ctx, "m1", "app", 9)              # m1 is full now
    branch_with(fleet.worlds["app"], "issue-7-b", {"src/b.py": edit_line(2, "b")})
    sleeps: list[float] = []

    async def sleep(seconds):
        sleeps.append(seconds)

    with pytest.raises(UsageError, match="no proposal 8"):
        await approve(ctx, ["8"])
    result = await approve(ctx, ["1,3", "app#4"], sleep=sleep)

    by_id = {o.id: o for o in result.outcomes}
    assert by_id["1"].status == "dispatched" and by_id["1"].model == "sonnet"
    assert by_id["3"].status == "refused"
    assert by_id["3"].reason == (f"machine m1 is at capacity (1/1 running: ids {filler.id})")
    assert by_id["4"].status == "refused"
    assert by_id["4"].reason == "would conflict with #7 on src/b.py (branch issue-7-b)"
    assert result.pending == ("2", "3", "4")
    assert sleeps == [7]     # before [3]: assign itself read m1 full; [4] never got that far
    run = ctx.board.get(by_id["1"].run)
    assert (run.machine, run.repo, run.issue, run.status) == ("m2", "app", 1, m.RUNNING)
    saved = {p["id"]: p for p in saved_plan(ctx)["proposals"]}
    assert saved["1"]["status"] == "dispatched" and saved["1"]["run"] == run.id
    assert saved["3"]["last_refusal"].startswith("machine m1 is at capacity")

    # later: the rest; [3]'s machine is still full, [4] still meets issue-7-b
    again = await approve(ctx, ["all"], sleep=sleep)
    assert {o.id: o.status for o in again.outcomes} == {"2": "dispatched", "3": "refused",
                                                       "4": "refused"}
    assert again.pending == ("3", "4")
    again = await approve(ctx, ["1"], sleep=sleep)
    assert again.outcomes[0].reason == f"already dispatched (run {run.id})"


async def test_approve_staggers_dispatches_and_calls_the_briefing_hook(fleet):
    base_files(fleet.worlds["app"], {"src/a.py": LINES})
    for n in (1, 2, 3):
        fleet.issue("app", n, f"issue {n}", created=day(n))
    fleet.machine("m1", ("app",), max_workers=3)
    ctx = _context(fleet, stagger=7)
    await make_plan(ctx, fleet.source())
    sleeps, hooked = [], []

    async def sleep(seconds):
        sleeps.append(seconds)

    async def hook(ctx, dispatched):
        hooked.append((dispatched.proposal["id"], dispatched.result.assignment.id))

    dry = await approve(ctx, ["all"], dry_run=True, sleep=sleep, on_dispatched=hook)
    assert [o.status for o in dry.outcomes] == ["would dispatch"] * 3 and not hooked
    assert ctx.board.list(live_only=True) == [] and dry.pending == ("1", "2", "3")
    result = await approve(ctx, ["all"], sleep=sleep, on_dispatched=hook)
    assert [o.status for o in result.outcomes] == ["dispatched"] * 3
    assert sleeps == [7, 7]
    assert hooked == [(o.id, o.run) for o in result.outcomes]


async def test_approve_refuses_an_issue_claimed_since_the_plan(fleet):
    base_files(fleet.worlds["app"], {"src/a.py": LINES})
    fleet.issue("app", 5, "five", created=day(1))
    fleet.machine("m1", ("app",), max_workers=2)
    ctx = _context(fleet)
    await make_plan(ctx, fleet.source())
    branch_with(fleet.worlds["app"], "issue-5-someone", {"x.txt": "x\n"})
    result = await approve(ctx, ["all"])
    assert result.outcomes[0].reason == "claimed by branch issue-5-someone on origin"
    assert ctx.board.list() == []


async def test_approve_without_a_plan(fleet):
    fleet.machine("m1", ("app",))
    ctx = _context(fleet)
    with pytest.raises(NotFound, match="no saved plan"):
        await approve(ctx, ["all"])


async def test_a_dispatched_proposals_files_hold_back_the_next_plan(fleet):
    base_files(fleet.worlds["app"], {"src/a.py": LINES})
    fleet.issue("app", 1, "one", body="src/a.py", created=day(1))
    fleet.machine("m1", ("app",), max_workers=1)
    fleet.machine("m2", ("app",), max_workers=1)
    ctx = _context(fleet)
    await make_plan(ctx, fleet.source())
    fleet.issue("app", 1, "one", body="src/a.py", created=day(1), labels=("blocked",))
    first = await approve(ctx, ["all"])
    assert first.outcomes[0].status == "dispatched"
    fleet.issue("app", 2, "two", body="see src/a.py", created=day(2))
    plan = await make_plan(ctx, fleet.source())
    reasons = {s.issue: s.reason for s in plan.schedule.skipped}
    assert reasons[2] == (f"would conflict with #1 on src/a.py (run {first.outcomes[0].run} "
                          f"on {first.outcomes[0].machine})")


def _yaml(fleet, state_dir) -> str:
    import yaml

    repos = [{"name": r, "github": f"o/{r}", "depends_on": list(d)}
             for r, d in fleet.depends.items()]
    machines = [{"name": mc.name, "host": "localhost", "worktree_root": mc.worktree_root,
                 "run_root": mc.run_root, "max_workers": mc.max_workers,
                 "claude_command": mc.claude_command, "capabilities": list(mc.capabilities),
                 "repo_paths": dict(mc.repo_paths)} for mc in fleet.machines.values()]
    return yaml.safe_dump({"state_dir": str(state_dir), "repos": repos, "machines": machines,
                           "intake": {"priority_labels": ["p0"]}})


def test_the_commands_print_json_and_exit_1_on_a_refusal(fleet, tmp_path):
    import subprocess
    import sys

    base_files(fleet.worlds["app"], {"src/a.py": LINES})
    fleet.issue("app", 1, "one", body="src/a.py", created=day(2))
    fleet.issue("app", 2, "two", labels=("p0",), created=day(3))
    fleet.issue("app", 3, "three", labels=("blocked",), created=day(1))
    fleet.machine("m1", ("app",), max_workers=2)
    config = tmp_path / "coordinator.yml"
    config.write_text(_yaml(fleet, tmp_path / "state"))
    env = {**fleet.gh.env, "COORDSSH_GH": fleet.gh.gh}

    def run(*args):
        return subprocess.run([sys.executable, "-m", "coordssh", *args, "--config", str(config)],
                              capture_output=True, text=True, timeout=120, env=env,
                              stdin=subprocess.DEVNULL)

    try:
        done = run("plan", "--json")
        assert done.returncode == 0, done.stderr
        data = json.loads(done.stdout)
        assert [(p["id"], p["issue"], p["model_source"]) for p in data["proposals"]] == [
            ("1", 2, "models.default"), ("2", 1, "models.default")]
        assert data["proposals"][1]["files"] == ["src/a.py"]
        assert data["skipped"] == [{"repo": "app", "issue": 3, "title": "three",
                                    "reason": "label blocked"}]
        text = run("plan")
        assert "[1] app#2 -> m1  model sonnet (models.default)" in text.stdout
        assert "app#3  label blocked" in text.stdout
        branch_with(fleet.worlds["app"], "issue-2-taken", {"y.txt": "y\n"})
        done = run("approve", "all", "--json")
        assert done.returncode == 1, done.stderr
        outcomes = {o["id"]: o for o in json.loads(done.stdout)["outcomes"]}
        assert outcomes["1"]["reason"] == "claimed by branch issue-2-taken on origin"
        assert outcomes["2"]["status"] == "dispatched"
        bad = run("approve", "7")
        assert bad.returncode == 2 and "no proposal 7" in bad.stderr
    finally:
        from coordssh.board.store import Board

        reap(Board.open(tmp_path / "state"))


def test_gh_rows_become_candidates_with_milestones():
    from coordssh.services.plan_source import candidate_from_gh

    row = {"number": 7, "title": "t", "labels": [{"name": "p0"}], "body": "b",
           "createdAt": "2024-05-01T10:00:00Z",
           "milestone": {"title": "v2", "dueOn": "2024-06-01T00:00:00Z"}}
    cand = candidate_from_gh("app", row)
    assert (cand.number, cand.labels, cand.milestone, cand.milestone_due) == (
        7, ("p0",), "v2", "2024-06-01T00:00:00Z")
    zero = candidate_from_gh("app", {**row, "milestone": {"title": "v3",
                                                          "dueOn": "0001-01-01T00:00:00Z"}})
    assert (zero.milestone, zero.milestone_due) == ("v3", None)
    none = candidate_from_gh("app", {**row, "milestone": None})
    assert (none.milestone, none.milestone_due) == (None, None)


async def test_milestones_from_gh_order_the_plan(fleet):
    """Through gh: a milestone with a due date first (earliest first), then one without, then
    none; age only breaks ties inside those."""
    fleet.issue("app", 1, "oldest, no milestone", created=day(1))
    fleet.issue("app", 2, "undated milestone", created=day(2), milestone={"title": "later"})
    fleet.issue("app", 3, "due last", created=day(3),
                milestone={"title": "v2", "due": "2024-09-01T00:00:00Z", "number": 2})
    fleet.issue("app", 4, "due first", created=day(4),
                milestone={"title": "v1", "due": "2024-06-01T00:00:00Z", "number": 1})
    fleet.machine("m1", ("app",), max_workers=4)
    plan = await make_plan(_context(fleet), fleet.source())
    proposals = plan.schedule.proposals
    assert [p.issue for p in proposals] == [4, 3, 2, 1]
    assert "milestone v1 (due 2024-06-01)" in proposals[0].rationale
    assert "milestone later" in proposals[2].rationale
    assert "milestone" not in proposals[3].rationale


async def test_a_machine_with_fewer_claude_config_slots_than_workers_gets_fewer_proposals(fleet):
    from coordssh.services.slots import config_dirs_key

    for n in range(1, 5):
        fleet.issue("app", n, f"issue {n}", created=day(n))
    fleet.machine("m1", ("app",), max_workers=4)
    ctx = _context(fleet)
    with ctx.board.transaction() as tx:           # setup made two slots; max_workers grew since
        tx.kv_set(config_dirs_key("m1"), ["~/.coordssh/claude-slots/slot-1",
                                          "~/.coordssh/claude-slots/slot-2"])
    plan = await make_plan(ctx, fleet.source())
    assert [p.issue for p in plan.schedule.proposals] == [1, 2]
    left = {s.issue: s.reason for s in plan.schedule.skipped}
    assert set(left) == {3, 4} and all("slot" in reason for reason in left.values()), left


class RelabelledAfterListing:
    """An IssueSource over the fake gh whose issue is labelled `blocked` on GitHub right after
    the list was read (what `gh issue view` then says is what counts)."""

    def __init__(self, fleet, repo, number):
        self.inner, self.fleet, self.target = fleet.source(), fleet, (repo, number)

    async def candidates(self, repo, limit):
        found = await self.inner.candidates(repo, limit)
        if repo.name == self.target[0]:
            state = self.fleet.gh.load()
            state["repos"][f"o/{repo.name}"]["issues"][str(self.target[1])]["labels"] = ["blocked"]
            self.fleet.gh.save(state)
        return found

    async def confirm(self, repo, number):
        return await self.inner.confirm(repo, number)


async def test_proposals_are_confirmed_and_a_relabelled_issue_gives_its_slot_away(fleet):
    base_files(fleet.worlds["app"], {"src/a.py": LINES})
    fleet.issue("app", 1, "one", created=day(1))
    fleet.issue("app", 2, "two", created=day(2))
    fleet.issue("lib", 1, "lib one", created=day(1))
    fleet.issue("ml", 1, "nobody serves ml", created=day(1))
    fleet.machine("m1", ("app", "lib"), max_workers=1)
    ctx = _context(fleet)
    before = len(fleet.gh.calls())
    plan = await make_plan(ctx, RelabelledAfterListing(fleet, "app", 1), repos=["app", "ml"])
    assert [(p.repo, p.issue) for p in plan.schedule.proposals] == [("app", 2)]
    assert {(s.repo, s.issue): s.reason for s in plan.schedule.skipped} == {
        ("app", 1): "label blocked", ("ml", 1): "no machine serves repo ml"}
    calls = fleet.gh_calls()[before:]
    assert sorted(calls) == [("issue list", "o/app"), ("issue list", "o/ml"),
                             ("issue view", "o/app"), ("issue view", "o/app")]


async def test_a_label_routed_model_reaches_the_dispatched_run(fleet):
    """The seed's labels never reached model routing."""
    base_files(fleet.worlds["app"], {"src/a.py": LINES})
    fleet.issue("app", 1, "big one", labels=("big",), created=day(1))
    fleet.machine("m1", ("app",), max_workers=1)
    ctx = _context(fleet, models=MODELS)
    plan = await make_plan(ctx, fleet.source())
    assert (plan.schedule.proposals[0].model, plan.schedule.proposals[0].model_source) == (
        "opus", "label: big")
    result = await approve(ctx, ["all"])
    outcome = result.outcomes[0]
    assert (outcome.model, outcome.model_source) == ("opus", "label: big")
    run = ctx.board.get(outcome.run)
    from pathlib import Path

    assert "--model opus" in (Path(run.run_dir) / "run.sh").read_text()


async def test_a_repo_whose_list_fails_is_named_and_the_others_go_on(fleet):
    base_files(fleet.worlds["app"], {"src/a.py": LINES})
    fleet.issue("app", 1, "one", created=day(1))
    fleet.issue("lib", 1, "lib one", created=day(1))
    fleet.machine("m1", ("app", "lib"), max_workers=2)
    fleet.gh.update(faults=[{"kind": "network", "command": "issue list", "times": 1}])
    ctx = _context(fleet)
    plan = await make_plan(ctx, fleet.source(), repos=["app", "lib"])
    assert len(plan.notes) == 1
    failed = plan.notes[0].split(":")[0].removeprefix("repo ")
    assert plan.notes[0] == (f"repo {failed}: gh could not reach GitHub while trying to list "
                             f"open issues on o/{failed}")
    other = {"app", "lib"} - {failed}
    assert [p.repo for p in plan.schedule.proposals] == sorted(other)


async def test_notify_with_auto_plan_approves_only_what_the_pass_may_start(fleet, monkeypatch):
    """`pipeline.auto_plan`: a notify pass plans over the fake gh and dispatches as many
    proposals as `max_dispatches_per_pass` leaves room for; the rest stay pending."""
    from dataclasses import replace

    from coordssh.config.schema import Pipeline
    from coordssh.services.notify import notify_pass

    base_files(fleet.worlds["app"], {"src/a.py": LINES})
    for n in (1, 2, 3):
        fleet.issue("app", n, f"issue {n}", created=day(n))
    fleet.machine("m1", ("app",), max_workers=3)
    ctx = _context(fleet)
    ctx.config = replace(ctx.config, pipeline=Pipeline(
        auto_plan=True, max_dispatches_per_pass=2,
        given=frozenset({"auto_plan", "max_dispatches_per_pass"})))
    for key, value in fleet.gh.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("COORDSSH_GH", fleet.gh.gh)
    report = await notify_pass(ctx)
    assert report.errors == []
    planned = [d for d in report.did if d["action"] == "plan"]
    assert [d["work"] for d in planned] == ["app#1", "app#2"]
    assert all(d["done"].startswith("dispatched on m1") for d in planned)
    assert sorted(r.issue for r in ctx.board.list()) == [1, 2]
    pending = [p for p in saved_plan(ctx)["proposals"] if p["status"] == "pending"]
    assert [(p["repo"], p["issue"]) for p in pending] == [("app", 3)]
    assert [(s["work"], s["skipped"]) for s in report.skipped] == [     # and the pass says why
        ("app#3", "pipeline.max_dispatches_per_pass reached: next pass")]
