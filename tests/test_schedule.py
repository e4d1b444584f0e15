"""The pure scheduler (coordssh/domain/schedule.py): every proposal and every skip with its reason."""

from __future__ import annotations

import calendar

from coordssh.domain.schedule import (Budget, Candidate, Holder, InFlight, Intake, MachineSlots,
                                      PlanInput, PredictedConflict, RepoFacts, Routing, schedule)
from coordssh.domain.schedule_files import first_overlap, likely_files, needed_capabilities

NOW = calendar.timegm((2024, 5, 2, 9, 0, 0))
TREE = frozenset({"src/a.py", "src/b.py", "src/gtk/window.c", "docs/x.md", "lib/util.py",
                  "tests/test_a.py", "README.md"})


def cand(number, repo="app", labels=(), created="2024-05-01T10:00:00Z", body="", title=None,
         **more):
    return Candidate(repo, number, title or f"issue {number}", tuple(labels), created_at=created,
                     body=body, **more)


def machine(name, max_workers=2, running=0, repos=("app",), caps=(), **more):
    return MachineSlots(name, max_workers, running, tuple(caps), tuple(repos), **more)


def plan(candidates, machines, repos=None, **more):
    repos = repos or {"app": RepoFacts("app", tree=TREE)}
    return schedule(PlanInput(tuple(candidates), tuple(machines), repos, now=NOW, **more))


def reasons(result):
    return {(s.repo, s.issue): s.reason for s in result.skipped}


def proposed(result):
    return [(p.repo, p.issue, p.machine) for p in result.proposals]


# --- capacity -----------------------------------------------------------------------------------
def test_at_most_one_proposal_per_free_slot_and_the_rest_say_why():
    result = plan([cand(n) for n in range(1, 6)], [machine("m1", 2, running=1),
                                                  machine("m2", 2)])
    assert proposed(result) == [("app", 1, "m2"), ("app", 2, "m1"), ("app", 3, "m2")]
    assert reasons(result) == {("app", 4): "no free slot (2 machines full)",
                               ("app", 5): "no free slot (2 machines full)"}
    assert [p.id for p in result.proposals] == ["1", "2", "3"]


def test_a_machine_full_of_live_runs_gets_nothing_seed_read_a_key_that_never_existed():
    """The seed's busy check read a missing key, so every machine looked idle: here the live
    runs read from the machine are the input, and a full machine is never proposed."""
    result = plan([cand(1), cand(2)], [machine("busy", 3, running=3)])
    assert result.proposals == ()
    assert reasons(result)[("app", 1)] == "no free slot (1 machine full)"


def test_max_workers_per_machine_is_respected():
    result = plan([cand(n) for n in range(1, 5)], [machine("big", 3), machine("small", 1)])
    per = {}
    for p in result.proposals:
        per[p.machine] = per.get(p.machine, 0) + 1
    assert per == {"big": 3, "small": 1}


def test_no_machine_serves_the_repo():
    result = plan([cand(1, repo="other")], [machine("m1")])
    assert reasons(result) == {("other", 1): "no machine serves repo other"}


def test_unreachable_machine_is_named():
    result = plan([cand(1)], [machine("m1", reachable=False, error="connection refused")])
    assert reasons(result)[("app", 1)] == "machine m1 unreachable: connection refused"


# --- capabilities -------------------------------------------------------------------------------
def test_label_capabilities_route_to_a_capable_machine_and_skip_when_none():
    intake = Intake(label_capabilities={"gpu": ("gpu",)})
    result = plan([cand(1, labels=["gpu"]), cand(2, labels=["GPU"], created="2024-05-01T11:00Z")],
                  [machine("cpu", 4), machine("gpubox", 1, caps=["gpu", "python"])],
                  intake=intake)
    assert proposed(result) == [("app", 1, "gpubox")]
    assert result.proposals[0].capabilities == ("gpu",)
    assert reasons(result)[("app", 2)] == "no free slot (1 machine full)"
    none = plan([cand(3, labels=["gpu"])], [machine("cpu", 4)], intake=intake)
    assert reasons(none)[("app", 3)] == "no machine with capability gpu"


def test_capability_rules_apply_to_the_likely_files():
    routing = Routing(capability_rules=({"files": ["src/gtk/"], "requires": ["gtk"]},))
    result = plan([cand(1, body="the window in src/gtk/window.c flickers")],
                  [machine("plain"), machine("desk", caps=["gtk"])], routing=routing)
    assert proposed(result) == [("app", 1, "desk")]
    assert result.proposals[0].files == ("src/gtk/window.c",)


# --- parking and budget -------------------------------------------------------------------------
def test_a_parked_machine_is_passed_over_and_named_when_it_is_the_only_one():
    until = NOW + 5 * 3600
    parked = machine("m1", parked_until=until)
    result = plan([cand(1)], [parked])
    assert reasons(result)[("app", 1)] == "machine m1 parked by a usage limit until 14:00 UTC"
    result = plan([cand(1)], [parked, machine("m2")])
    assert proposed(result) == [("app", 1, "m2")]
    past = plan([cand(1)], [machine("m1", parked_until=NOW - 1)])
    assert proposed(past) == [("app", 1, "m1")]


def test_day_budget_spent_stops_every_proposal():
    result = plan([cand(1)], [machine("m1")], budget=Budget(limit_usd=20, spent_usd=20.5))
    assert reasons(result)[("app", 1)] == "budget: day spend $20.50 of $20.00"
    under = plan([cand(1)], [machine("m1")], budget=Budget(limit_usd=20, spent_usd=3))
    assert len(under.proposals) == 1


# --- intake labels and claims -------------------------------------------------------------------
def test_skip_labels_by_default_and_take_labels_when_configured():
    result = plan([cand(1, labels=["blocked"]), cand(2, labels=["wip"]),
                   cand(3, labels=["Needs-Human"]), cand(4)], [machine("m1", 4)])
    assert reasons(result) == {("app", 1): "label blocked", ("app", 2): "label wip",
                               ("app", 3): "label Needs-Human"}
    taking = plan([cand(1, labels=["ready"]), cand(2)], [machine("m1", 4)],
                  intake=Intake(take_labels=("ready",)))
    assert proposed(taking) == [("app", 1, "m1")]
    assert reasons(taking)[("app", 2)] == "no intake label (takes: ready)"


def test_claimed_issues_name_their_holder():
    holders = (Holder("app", 7, "work item app#7 (stage implementing)"),
               Holder("app", 8, "branch issue-8-x on origin"),
               Holder("app", 7, "branch issue-7-y on origin"))
    result = plan([cand(7), cand(8), cand(9)], [machine("m1", 4)], holders=holders)
    assert reasons(result) == {
        ("app", 7): "claimed by work item app#7 (stage implementing)",
        ("app", 8): "claimed by branch issue-8-x on origin"}


def test_depends_on_holds_back_dependents_of_a_busy_repo():
    repos = {"app": RepoFacts("app", depends_on=("lib",), tree=TREE),
             "lib": RepoFacts("lib", busy="live work (#3 implementing)"),
             "web": RepoFacts("web", depends_on=("idle",)), "idle": RepoFacts("idle")}
    result = plan([cand(1), cand(2, repo="lib"), cand(3, repo="web")],
                  [machine("m1", 4, repos=("app", "lib", "web"))], repos=repos)
    assert reasons(result) == {
        ("app", 1): "blocked: depends_on lib has live work (#3 implementing)"}
    assert {(p.repo, p.issue) for p in result.proposals} == {("lib", 2), ("web", 3)}


# --- model routing ------------------------------------------------------------------------------
def test_labels_reach_model_routing_with_their_source():
    routing = Routing(labels={"big": "opus", "Docs": "haiku"}, default="sonnet")
    result = plan([cand(1, labels=["big"]), cand(2, labels=["docs"]), cand(3)],
                  [machine("m1", 3)], routing=routing)
    models = {p.issue: (p.model, p.model_source) for p in result.proposals}
    assert models == {1: ("opus", "label: big"), 2: ("haiku", "label: docs"),
                      3: ("sonnet", "models.default")}
    assert "model opus (label: big)" in result.proposals[0].rationale


# --- order --------------------------------------------------------------------------------------
def test_order_priority_labels_then_milestone_then_age():
    intake = Intake(priority_labels=("p0", "p1"))
    result = plan([cand(1, created="2024-01-01T00:00:00Z"),
                   cand(2, created="2024-04-01T00:00:00Z", milestone="v2"),
                   cand(3, created="2024-04-02T00:00:00Z", milestone="v1",
                        milestone_due="2024-06-01T00:00:00Z"),
                   cand(4, labels=["p1"], created="2024-04-05T00:00:00Z"),
                   cand(5, labels=["p0"], created="2024-04-06T00:00:00Z"),
                   cand(6, created="2023-12-01T00:00:00Z")],
                  [machine("m1", 6)], intake=intake)
    assert [p.issue for p in result.proposals] == [5, 4, 3, 2, 6, 1]
    assert result.proposals[0].rationale.startswith("priority label p0, opened 2024-04-06")
    assert "milestone v1 (due 2024-06-01)" in result.proposals[2].rationale


def test_deterministic_whatever_the_input_order():
    cands = [cand(n, created=f"2024-04-{n:02d}T00:00:00Z", body="touch src/a.py" if n % 3 else "")
             for n in range(1, 20)]
    machines = [machine(f"m{i}", 2) for i in range(4)]
    first = plan(cands, machines)
    second = plan(list(reversed(cands)), list(reversed(machines)))
    assert first == second


# --- files and conflicts -------------------------------------------------------------------------
def test_two_issues_touching_the_same_file_are_not_proposed_together():
    """The seed left file conflicts to the prompt."""
    result = plan([cand(1, body="Fix `src/a.py` please"),
                   cand(2, body="refactor src/a.py and lib/util.py", created="2024-05-01T11:00Z"),
                   cand(3, body="docs/x.md typo", created="2024-05-01T12:00Z")],
                  [machine("m1", 4)])
    assert proposed(result) == [("app", 1, "m1"), ("app", 3, "m1")]
    assert reasons(result)[("app", 2)] == ("would conflict with #1 on src/a.py "
                                           "(proposed in this plan)")


def test_an_issue_touching_an_in_flight_branchs_files_is_held_back():
    inflight = (InFlight("app", "issue-4-x", 4, ("src/b.py", "src/gtk/window.c"),
                         "branch issue-4-x"),
                InFlight("app", "issue-5-y", 5, ("src/b.py",), "branch issue-5-y"))
    conflicts = (PredictedConflict("app", "issue-4-x", "issue-5-y", ("src/b.py",)),)
    result = plan([cand(1, body="b.py is wrong"), cand(2, body="see src/gtk/"),
                   cand(3, body="src/a.py")], [machine("m1", 4)], inflight=inflight,
                  conflicts=conflicts)
    r = reasons(result)
    assert r[("app", 1)] == ("would conflict with #4 on src/b.py (branch issue-4-x); git "
                             "merge-tree predicts issue-4-x already conflicts with issue-5-y")
    assert r[("app", 2)] == "would conflict with #4 on src/gtk/window.c (branch issue-4-x)"
    assert proposed(result) == [("app", 3, "m1")]
    assert result.conflicts == conflicts
    assert result.to_json()["conflicts"][0]["files"] == ["src/b.py"]


def test_a_conflict_in_another_repo_does_not_count():
    inflight = (InFlight("lib", "issue-4-x", 4, ("src/a.py",), "branch issue-4-x"),)
    result = plan([cand(1, body="src/a.py")], [machine("m1")], inflight=inflight)
    assert proposed(result) == [("app", 1, "m1")]


def test_likely_files_exist_in_the_tree_only():
    text = "Crash in src/a.py and a.py, see ./lib/util.py: also nothere.py, e.g. README.md."
    assert likely_files(text, TREE) == ("src/a.py", "lib/util.py", "README.md")
    assert likely_files("src/a.py", None) == ()
    assert likely_files("test_a.py", TREE) == ("tests/test_a.py",)
    assert likely_files("look at src/gtk", TREE) == ("src/gtk/",)


def test_overlap_and_capability_helpers():
    assert first_overlap(["src/gtk/"], ["docs/x.md", "src/gtk/window.c"]).path == "src/gtk/window.c"
    assert first_overlap(["docs/x.md"], ["src/a.py"]) is None
    assert needed_capabilities(["GPU"], ["src/gtk/"], {"gpu": ("cuda",)},
                               [{"files": ["src/gtk/window.c"], "requires": ["gtk"]}]) == (
        "cuda", "gtk")


def test_json_shape_has_the_documented_keys():
    result = plan([cand(1, body="src/a.py"), cand(2, labels=["blocked"])], [machine("m1")])
    data = result.to_json()
    assert set(data["proposals"][0]) >= {"id", "machine", "repo", "issue", "model",
                                         "model_source", "files", "rationale"}
    assert data["proposals"][0]["files"] == ["src/a.py"]
    assert data["skipped"] == [{"repo": "app", "issue": 2, "title": "issue 2",
                                "reason": "label blocked"}]


def test_every_candidate_is_accounted_for_once():
    cands = [cand(n, labels=["blocked"] if n % 5 == 0 else (), body=f"src/{'ab'[n % 2]}.py")
             for n in range(1, 40)]
    result = plan(cands + cands[:3], [machine("m1", 3), machine("m2", 2)])
    seen = [(p.repo, p.issue) for p in result.proposals] + [(s.repo, s.issue)
                                                            for s in result.skipped]
    assert sorted(seen) == sorted({(c.repo, c.number) for c in cands})


def test_a_repo_whose_branches_could_not_be_read_proposes_nothing():
    repos = {"app": RepoFacts("app", tree=TREE, unreadable="m1 unreachable: refused")}
    result = plan([cand(1)], [machine("m2")], repos=repos)
    assert reasons(result)[("app", 1)] == ("claims unknown: the branches of app could not be "
                                           "read (m1 unreachable: refused)")
