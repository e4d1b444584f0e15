"""`coordssh plan` at scale: 10 repos, 500 open issues, 20 machines (local, separate run roots).

    PYTHONPATH=$PWD python3 bench/plan_bench.py [--repos 10] [--issues 500] [--machines 20] [--runs 3]

Real git repos (bare origin + clone each, 200 files, three in-flight branches of which two
really conflict), the fake gh (tests/bin/gh) holding the issues, the services as `coordssh plan`
calls them. Prints, per run: wall time, gh calls by kind (from the fake's log), connections
opened per machine; then the scheduler alone on the same input. Exits 1 if a count is off:
one `gh issue list` per repo, `gh issue view` only for proposals, every machine read once.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from coordssh.domain.schedule import schedule  # noqa: E402
from coordssh.services import plan_facts  # noqa: E402
from coordssh.services.plan import make_plan, plan_input  # noqa: E402
from coordssh.transport.connect import Connector  # noqa: E402
from tests.support.dispatch import git  # noqa: E402
from tests.support.plan_fleet import PlanFleet  # noqa: E402
from tests.support.plan_world import LINES, base_files, branch_with, edit_line  # noqa: E402

LABELS = ("bug", "p0", "p1", "blocked", "big", "docs", "gpu", "wip", "", "", "", "")


class CountingConnector(Connector):
    def __init__(self) -> None:
        super().__init__()
        self.opened: Counter[str] = Counter()

    async def connect(self, machine, **options):
        self.opened[machine.name] += 1
        return await super().connect(machine, **options)


def build(root: Path, repos: int, issues: int, machines: int) -> PlanFleet:
    names = [f"r{i:02d}" for i in range(repos)]
    fleet = PlanFleet.create(root, {n: ((names[0],) if i == repos - 1 else ())
                                    for i, n in enumerate(names)})
    files = {f"src/m{j:03d}.py": LINES for j in range(200)}
    for name in names:
        world = fleet.worlds[name]
        base_files(world, files)
        git("fetch", "-q", "origin", cwd=world.clone)
        branch_with(world, "issue-9001-left", {"src/m000.py": edit_line(3, "left")})
        branch_with(world, "issue-9002-right", {"src/m000.py": edit_line(3, "right")})
        branch_with(world, "issue-9003-far", {"src/m150.py": edit_line(9, "far")})
    state = fleet.gh.load()
    for n in range(issues):
        repo = names[n % repos]
        label = LABELS[n % len(LABELS)]
        state["repos"][f"o/{repo}"]["issues"][str(n + 1)] = {
            "title": f"issue {n + 1}", "state": "OPEN", "labels": [label] if label else [],
            "body": f"see src/m{(n * 7) % 200:03d}.py and src/m{(n * 13) % 200:03d}.py",
            "createdAt": f"2024-{1 + n % 12:02d}-{1 + n % 28:02d}T10:00:00Z"}
    fleet.gh.save(state)
    for i in range(machines):
        served = tuple(names[(i + k) % repos] for k in range(5))
        fleet.machine(f"m{i:02d}", served, max_workers=2 + i % 3,
                      capabilities=("gpu",) if i % 5 == 0 else ())
    return fleet


async def one_run(fleet: PlanFleet, repos: int, issues: int) -> dict:
    ctx = fleet.context()
    ctx.connector = CountingConnector()
    source = fleet.source()
    before = len(fleet.gh.calls())
    started = time.perf_counter()
    plan = await make_plan(ctx, source)
    wall = time.perf_counter() - started
    calls = Counter(" ".join(c["argv"][:2]) for c in fleet.gh.calls()[before:])
    return {"wall_s": wall, "calls": calls, "opened": ctx.connector.opened, "plan": plan,
            "ctx": ctx}


def check(result: dict, repos: int, machines: int) -> list[str]:
    problems = []
    calls, plan = result["calls"], result["plan"]
    if calls["issue list"] != repos:
        problems.append(f"{calls['issue list']} gh issue list calls for {repos} repos")
    if calls["issue view"] != len(plan.schedule.proposals):
        problems.append(f"{calls['issue view']} gh issue view calls for "
                        f"{len(plan.schedule.proposals)} proposals")
    opened = result["opened"]
    if len(opened) != machines or set(opened.values()) != {1}:
        problems.append(f"connections per machine: {dict(opened)}")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repos", type=int, default=10)
    parser.add_argument("--issues", type=int, default=500)
    parser.add_argument("--machines", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="plan-bench-") as tmp:
        fleet = build(Path(tmp), args.repos, args.issues, args.machines)
        walls, problems = [], []
        for _ in range(args.runs):
            result = asyncio.run(one_run(fleet, args.repos, args.issues))
            walls.append(result["wall_s"])
            problems += check(result, args.repos, args.machines)
        sched = result["plan"].schedule
        print(f"plan over {args.repos} repos, {args.issues} open issues, {args.machines} "
              f"machines: {len(sched.proposals)} proposed, {len(sched.skipped)} skipped")
        print(f"wall time: median {statistics.median(walls):.2f}s, runs "
              + ", ".join(f"{w:.2f}s" for w in walls))
        print(f"gh calls per plan: {dict(result['calls'])}")
        print(f"connections per machine: {sorted(set(result['opened'].values()))} "
              f"({len(result['opened'])} machines)")
        machines_s, sched_s = _phases(fleet, result)
        print(f"every machine read once (live runs + in-flight branches): {machines_s:.2f}s; "
              f"the scheduler alone (pure, same input): {sched_s * 1000:.1f} ms")
    for problem in problems:
        print(f"PROBLEM: {problem}")
    return 1 if problems else 0


def _phases(fleet: PlanFleet, result: dict) -> tuple[float, float]:
    ctx = result["ctx"]
    started = time.perf_counter()
    fleet_facts = asyncio.run(plan_facts.read_fleet(ctx, list(ctx.config.repos.values()), 0.0))
    machines_s = time.perf_counter() - started
    candidates = asyncio.run(_all_candidates(fleet, ctx))
    data = plan_input(ctx, candidates, fleet_facts, time.time())
    started = time.perf_counter()
    schedule(data)
    return machines_s, time.perf_counter() - started


async def _all_candidates(fleet: PlanFleet, ctx) -> list:
    source = fleet.source()
    found = []
    for repo in ctx.config.repos.values():
        found += await source.candidates(repo, 1000)
    return found


if __name__ == "__main__":
    sys.exit(main())
