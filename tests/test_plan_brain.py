"""`plan --brain`: briefings and splits from claude, its cost shown; the plan stands whatever
claude answers (the stand-in's prose, an API error, no claude at all, the real CLI)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from coordssh.services.approve import approve
from coordssh.services.plan import make_plan, saved_plan
from coordssh.services.plan_brain import add_brain, parse_answer
from tests.support.dispatch import FAKE_CLAUDE, reap
from tests.support.plan_fleet import PlanFleet
from tests.support.plan_world import LINES, base_files


@pytest.fixture
def planned(tmp_path):
    fleet = PlanFleet.create(tmp_path, {"app": ()})
    base_files(fleet.worlds["app"], {"src/a.py": LINES})
    fleet.issue("app", 1, "one", body="fix src/a.py", created="2024-04-01T00:00:00Z")
    fleet.issue("app", 2, "two", created="2024-04-02T00:00:00Z")
    fleet.machine("m1", ("app",), max_workers=2)
    ctx = fleet.context()
    yield fleet, ctx
    reap(ctx.board)


def _same_plan(before, after):
    assert after.schedule == before.schedule and after.id == before.id


async def test_prose_from_the_stand_in_is_ignored_and_its_cost_shown(planned):
    fleet, ctx = planned
    plan = await make_plan(ctx, fleet.source())
    record = fleet.root / "claude-record.jsonl"
    brained = await add_brain(ctx, plan, claude=str(FAKE_CLAUDE),
                              env={"PATH": "/usr/bin:/bin", "FAKE_CLAUDE_RECORD": str(record)})
    _same_plan(plan, brained)
    ran = json.loads(record.read_text().splitlines()[0])
    assert ran["cwd"] != str(Path.cwd()) and not Path(ran["cwd"]).exists()   # a scratch dir
    assert "--permission-mode" in ran["argv"] and "fix src/a.py" in ran["prompt"]
    assert brained.brain["status"] == "ignored"
    assert brained.brain["error"] == "the answer was not the JSON asked for"
    assert brained.brain["cost_usd"] == pytest.approx(0.13223)
    assert saved_plan(ctx)["brain"]["status"] == "ignored"


async def test_an_api_error_or_no_claude_leaves_the_plan(planned):
    fleet, ctx = planned
    plan = await make_plan(ctx, fleet.source())
    failed = await add_brain(ctx, plan, claude=str(FAKE_CLAUDE),
                             env={"PATH": "/usr/bin:/bin", "FAKE_CLAUDE_SCENARIO": "api_error"})
    _same_plan(plan, failed)
    assert failed.brain["status"] == "failed" and failed.brain["cost_usd"] == pytest.approx(0.084459)
    missing = await add_brain(ctx, plan, claude=str(fleet.root / "no-claude"))
    assert missing.brain["status"] == "failed" and "could not be started" in missing.brain["error"]
    assert all("briefing" not in p for p in saved_plan(ctx)["proposals"])


def test_answers_that_are_not_the_shape_asked_for():
    def answer(text, **more):
        return json.dumps({"type": "result", "subtype": "success", "is_error": False,
                           "result": text, "total_cost_usd": 0.5, **more}).encode()

    ids = {"1", "2"}
    ok = parse_answer(answer('Sure: {"briefings": {"1": "start in a.py"}, '
                             '"splits": {"2": ["x", "y"]}}'), ids)
    assert ok == {"cost_usd": 0.5, "status": "ok", "briefings": {"1": "start in a.py"},
                  "splits": {"2": ["x", "y"]}}
    assert parse_answer(answer('{"briefings": {"9": "x"}}'), ids)["error"] == (
        "unknown proposal ids 9")
    assert parse_answer(answer('{"splits": {"1": ["only one"]}}'), ids)["error"] == (
        "a split is not a list of 2-6 texts")
    assert parse_answer(answer("{}"), ids)["error"] == "no briefing and no split"
    assert parse_answer(answer('{"briefings": []}'), ids)["status"] == "ignored"
    assert parse_answer(b"not json", ids)["status"] == "failed"
    assert parse_answer(answer("x", is_error=True), ids)["status"] == "failed"


async def test_the_real_cli_briefs_and_approve_passes_the_briefing(planned, claude_bin,
                                                                   model_server, claude_env):
    fleet, ctx = planned
    text = json.dumps({"briefings": {"1": "Start with src/a.py; done = its tests pass."},
                       "splits": {"2": ["two, the parser", "two, the printer"]}})
    server = model_server([{"text": text, "usage": {"input_tokens": 1000,
                                                    "output_tokens": 200}}])
    plan = await make_plan(ctx, fleet.source())
    brained = await add_brain(ctx, plan, claude=str(claude_bin), env=claude_env(server))
    _same_plan(plan, brained)
    assert brained.brain["status"] == "ok", brained.brain
    assert brained.brain["briefings"] == {"1": "Start with src/a.py; done = its tests pass."}
    assert brained.brain["splits"] == {"2": ["two, the parser", "two, the printer"]}
    assert brained.brain["cost_usd"] > 0
    prompt = server.main_requests()[0]["body"]["messages"][0]["content"]
    assert "fix src/a.py" in json.dumps(prompt)          # the issue body reached the brain
    assert not server.problems
    result = await approve(ctx, ["1"])
    run = ctx.board.get(result.outcomes[0].run)
    assert "Start with src/a.py; done = its tests pass." in (
        Path(run.run_dir) / "prompt.md").read_text()
