"""notify's first pass on a board with history (coordssh used by hand for a while, then notify
put in cron): nothing of the past is posted, the report says how much and why; what happens
after is posted, once. Comments owed while gh could not take them (down, rate-limited, the
per-pass cap on forge calls) are posted on a later pass, once each, in order. Real runs of the
claude stand-in, the fake gh (tests/bin/gh) over real bare repos."""

from __future__ import annotations

from coordssh.services import notify_comments as nc
from coordssh.services.assign import AssignRequest, assign
from coordssh.services.notify import notify_pass
from tests.support.dispatch import contexts, world  # noqa: F401 (fixtures)
from tests.support.dispatch import finished, reap, wait_for
from tests.support.notify_world import run_cli, with_pipeline, write_config
from tests.support.prflow import github_context, github_rig, implemented, judge_head

# per item by hand: implement run started, ended; test run started; the test verdict
OWED_PER_TESTED_ITEM = 4


def _bodies(fake, issue: int) -> list[str]:
    return [c["body"] for c in fake.issue(issue).get("comments", [])]


def _firsts(fake, issue: int) -> list[str]:
    return [b.split("`")[0].split(" at ")[0] for b in _bodies(fake, issue)]


async def _by_hand(ctx, fake, *issues: int) -> None:
    """What an operator did by hand, without notify: assign, observe, test each issue."""
    for number in issues:
        fake.add_issue(number, f"Issue {number}", "[[fake-claude:success]]")
        key = await implemented(ctx, "localbox", number)
        await judge_head(ctx, key)


async def _assign_by_hand(ctx, fake, number: int, scenario: str = "success"):
    fake.add_issue(number, f"Issue {number}", f"[[fake-claude:{scenario}]]")
    run = (await assign(ctx, AssignRequest(machine="localbox", repo="demo", issue=number))
           ).assignment
    wait_for(lambda: finished(run.run_dir))
    return run


def _gh_comment_calls(fake) -> int:
    """gh calls of the notifier: look for a marker (view --json comments), post a comment."""
    return sum(1 for c in fake.calls() if c["argv"][:2] == ["issue", "comment"] or
               (c["argv"][:2] == ["issue", "view"] and c["argv"][-2:] == ["--json", "comments"]))


async def test_the_first_pass_posts_nothing_of_the_past_and_says_so(local_machine, contexts,
                                                                    world, tmp_path):
    fake = github_rig(tmp_path, world)
    ctx = with_pipeline(github_context(contexts, local_machine, fake))
    await _by_hand(ctx, fake, 5, 6)
    board_before = ctx.board.path.read_bytes()

    dry = await notify_pass(ctx, dry_run=True)          # says the same, changes nothing
    [dry_first] = [e["first_pass"] for e in dry.events if "first_pass" in e]
    assert dry_first["not_posted"] == 2 * OWED_PER_TESTED_ITEM and dry.comments == []
    assert ctx.board.path.read_bytes() == board_before
    assert ctx.board.kv_get(nc.CURSOR) is None

    report = await notify_pass(ctx)
    assert _bodies(fake, 5) == [] and _bodies(fake, 6) == [] and _gh_comment_calls(fake) == 0
    assert report.comments == [] and report.errors == []
    [first] = [e["first_pass"] for e in report.events if "first_pass" in e]
    end = max(e["seq"] for e in ctx.board.events())
    assert first == {"cursor": end, "not_posted": 2 * OWED_PER_TESTED_ITEM,
                     "work_items": ["demo#5", "demo#6"], "why": first["why"]}
    assert first["why"].startswith(f"first notify pass: the comment cursor starts at the end "
                                   f"of the events log (event {end}); 8 comments owed by events "
                                   "recorded before it (on 2 work items) not posted")
    assert ctx.board.kv_get(nc.CURSOR) == end
    # the tested items are left alone, each with its reason (auto_pr is off)
    assert {(s["work"], s["skipped"].split(":")[0]) for s in report.skipped} == {
        ("demo#5", "not automatic"), ("demo#6", "not automatic")}
    assert all("(auto_pr off); by hand: coordssh pr " in s["skipped"] for s in report.skipped)

    run = await _assign_by_hand(ctx, fake, 7)           # after the first pass: posted, once
    later = await notify_pass(ctx)
    assert not any("first_pass" in e for e in later.events)
    assert [(c["work"], c["kind"], c["state"]) for c in later.comments] == [
        ("demo#7", "run_started", "posted"), ("demo#7", "run_ended", "posted")]
    assert _firsts(fake, 7) == ["**coordssh**: implement run ", "**coordssh**: implement run "]
    assert run.id in _bodies(fake, 7)[0] and "is done; pushed" in _bodies(fake, 7)[1]
    assert _bodies(fake, 5) == [] and _bodies(fake, 6) == []
    again = await notify_pass(ctx)
    assert again.comments == [] and len(_bodies(fake, 7)) == 2


async def test_comments_owed_while_gh_is_down_are_posted_once_when_it_is_back(
        local_machine, contexts, world, tmp_path):
    """gh down for longer than MAX_ATTEMPTS passes: the comments wait (one gh call a pass, not
    one per comment), are never given up, then go out in their order, once each."""
    fake = github_rig(tmp_path, world)
    ctx = with_pipeline(github_context(contexts, local_machine, fake), auto_test=True)
    await notify_pass(ctx)                               # cron was there first: no history
    await _assign_by_hand(ctx, fake, 5)
    fake.update(faults=[{"kind": "network"}])            # gh cannot reach GitHub, for good
    calls = _gh_comment_calls(fake)
    for n in range(nc.MAX_ATTEMPTS + 2):
        report = await notify_pass(ctx)
        wait_for(lambda: all(finished(r.run_dir) for r in ctx.board.list()))
        states = [(c["kind"], c["state"]) for c in report.comments]
        assert {state for _, state in states} == {"deferred"}, states
        assert "gh could not reach GitHub" in report.comments[0]["detail"]
        assert all(c["detail"].startswith("gh is failing (gh could not reach GitHub")
                   for c in report.comments[1:])
        assert _gh_comment_calls(fake) == calls + n + 1   # one try a pass, the rest waited
    assert [k for k, _ in states] == ["run_started", "run_ended", "run_started",
                                      "test_verdict"]         # the test run went on
    assert fake.issue(5).get("comments", []) == []
    fake.update(faults=[])
    back = await notify_pass(ctx)
    assert [(c["kind"], c["state"]) for c in back.comments] == [
        ("run_started", "posted"), ("run_ended", "posted"), ("run_started", "posted"),
        ("test_verdict", "posted")]
    assert _firsts(fake, 5) == ["**coordssh**: implement run ", "**coordssh**: implement run ",
                                "**coordssh**: test run ", "**coordssh**: tests passed"]
    assert (await notify_pass(ctx)).comments == [] and len(_bodies(fake, 5)) == 4


async def test_the_forge_call_cap_posts_the_backlog_over_passes_in_order_once_each(
        local_machine, contexts, world, tmp_path):
    """max_forge_calls_per_pass 2 (one comment a pass): events recorded while the earlier ones
    waited are posted on later passes, each once, in the order they happened."""
    fake = github_rig(tmp_path, world)
    ctx = with_pipeline(github_context(contexts, local_machine, fake), auto_test=True,
                        max_forge_calls_per_pass=2)
    await notify_pass(ctx)
    await _assign_by_hand(ctx, fake, 5)
    seen: list[list[tuple[str, str]]] = []
    for _ in range(12):
        report = await notify_pass(ctx)
        seen.append([(c["kind"], c["state"]) for c in report.comments
                     if c["state"] != "recorded"])
        wait_for(lambda: all(finished(r.run_dir) for r in ctx.board.list()))
        if len(_bodies(fake, 5)) == 4:
            break
    assert all(sum(1 for _, st in pass_ if st == "posted") <= 1 for pass_ in seen)
    deferred = [c for r in seen for c in r if c[1] == "deferred"]
    assert deferred                                        # the cap held some back
    assert _firsts(fake, 5) == ["**coordssh**: implement run ", "**coordssh**: implement run ",
                                "**coordssh**: test run ", "**coordssh**: tests passed"]
    markers = [b.rsplit("<!--", 1)[1] for b in _bodies(fake, 5)]
    assert len(set(markers)) == 4
    assert (await notify_pass(ctx)).comments == [] and len(_bodies(fake, 5)) == 4


async def test_a_comment_one_issue_refuses_holds_that_issue_only(local_machine, contexts,
                                                                 world, tmp_path):
    """An issue GitHub does not have (deleted): its comments wait in order and are counted
    towards giving up; another issue's comments go out in the same pass."""
    fake = github_rig(tmp_path, world)
    ctx = with_pipeline(github_context(contexts, local_machine, fake))
    await notify_pass(ctx)
    await _assign_by_hand(ctx, fake, 5)
    await _assign_by_hand(ctx, fake, 6)
    state = fake.load()
    del state["repos"]["o/r"]["issues"]["5"]             # issue 5 deleted on GitHub
    fake.save(state)
    report = await notify_pass(ctx)
    said = [(c["work"], c["kind"], c["state"]) for c in report.comments]
    assert said == [("demo#5", "run_started", "failed"), ("demo#5", "run_ended", "deferred"),
                    ("demo#6", "run_started", "posted"), ("demo#6", "run_ended", "posted")]
    assert "issue #5 not found" in report.comments[0]["detail"]
    assert report.comments[1]["detail"] == ("after the run_started comment on demo#5, which "
                                            "waits: kept in order")
    assert len(_bodies(fake, 6)) == 2
    again = await notify_pass(ctx)                 # tried again; demo#6's are not posted twice
    assert [(c["work"], c["state"]) for c in again.comments] == [
        ("demo#5", "failed"), ("demo#5", "deferred"), ("demo#6", "recorded"),
        ("demo#6", "recorded")]
    assert len(_bodies(fake, 6)) == 2


def test_the_command_says_why_for_the_past_and_for_each_item_left_alone(tmp_path,
                                                                        local_machine, world):
    """`coordssh notify` (plain text) as cron runs it, its first time on a board with a run
    started by hand: the line about the history not posted, the item left alone and why."""
    from coordssh.board.store import Board

    state = tmp_path / "state"
    config = write_config(tmp_path / "coordinator.yml", local_machine, world, state_dir=state,
                          pipeline={})
    try:
        done = run_cli(config, "assign", "localbox", "demo", "5", "--title", "Fix the widget",
                       "--briefing", "[[fake-claude:success]]", "--json")
        assert done.returncode == 0, done.stderr
        board = Board.open(state)
        wait_for(lambda: all(finished(r.run_dir) for r in board.list()))
        first = run_cli(config, "notify")
        assert first.returncode == 0, first.stderr
        lines = first.stdout.splitlines()
        assert any(line.startswith("  first notify pass: the comment cursor starts at the end "
                                   "of the events log (event 1); 1 comment owed by events "
                                   "recorded before it (on 1 work item) not posted")
                   for line in lines), first.stdout
        assert "  comment demo#5 run_ended: posted" in lines      # the run ended since
        [skip] = [line for line in lines if line.startswith("  skip demo#5")]
        assert skip.startswith("  skip demo#5 (dispatch): not automatic: ") and \
            "(auto_test off); by hand: coordssh test " in skip
        second = run_cli(config, "notify")
        assert "first notify pass" not in second.stdout and "comment " not in second.stdout
        assert [line for line in second.stdout.splitlines()
                if line.startswith("  skip demo#5")] == [skip]
    finally:
        reap(Board.open(state))


async def test_a_review_verdict_gh_cannot_take_is_reported_then_posted_once(
        local_machine, contexts, world, tmp_path, monkeypatch):
    """A review run's verdict (the stand-in's final message has no json verdict: changes
    requested) while gh cannot reach GitHub: the pass says so for the item, the next posts it."""
    from coordssh.services.pr import open_pr
    from coordssh.services.review import dispatch_review
    from coordssh.services.watch import watch_run

    monkeypatch.setenv("FAKE_CLAUDE_SCENARIO", "advisory")        # a review commits nothing
    fake = github_rig(tmp_path, world)
    ctx = with_pipeline(github_context(contexts, local_machine, fake))
    await notify_pass(ctx)
    fake.add_issue(5, "Issue 5", "[[fake-claude:success]]")
    key = await implemented(ctx, "localbox", 5)
    await judge_head(ctx, key)
    number = (await open_pr(ctx, key)).pr.number
    review = (await dispatch_review(ctx, key)).assignment
    wait_for(lambda: finished(review.run_dir))
    fake.update(faults=[{"kind": "network"}])
    report = await notify_pass(ctx)
    [said] = [s for s in report.skipped if s["action"] == "post_review"]
    assert said == {"work": key, "action": "post_review",
                    "skipped": said["skipped"]}
    assert said["skipped"].startswith("review verdict not posted: gh could not reach GitHub")
    assert said["skipped"].endswith("; next pass")
    assert not any("coordssh:event=review" in c["body"]
                   for c in fake.pull(number).get("comments", []) + fake.pull(number).get(
                       "reviews", []))
    fake.update(faults=[])
    back = await notify_pass(ctx)
    assert [e["review"].split(":")[0] for e in back.events if "review" in e] == [
        f"{key} PR #{number}"]
    assert not any(s["action"] == "post_review" for s in back.skipped)
    again = await notify_pass(ctx)
    assert not any("review" in e for e in again.events)
    posted = [c for c in fake.pull(number).get("comments", []) + fake.pull(number).get(
        "reviews", []) if "coordssh:event=review" in c.get("body", "")]
    assert len(posted) == 1
