"""A fleet for the plan tests: several real repos (bare origin + clone), local machines with
their own run roots, the fake gh with issues across repos, the claude stand-in.

    fleet = PlanFleet.create(tmp_path, repos={"app": (), "web": ("lib",)}, machines=[...])
    fleet.issue("app", 7, "Fix it", labels=["big"], body="src/a.py", created="2024-05-01T10:00:00Z")
    ctx = fleet.context()
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from coordssh.board.store import Board
from coordssh.config.schema import Concurrency, Config, Intake, Machine, Models, Repo, SmokeTests
from coordssh.forge import forge_for
from coordssh.services.context import Context
from coordssh.services.plan_source import GhIssueSource
from coordssh.transport.connect import Connector
from tests.support.dispatch import FAKE_CLAUDE, GitWorld
from tests.support.fake_gh import FakeGitHub



@dataclass
class PlanFleet:
    root: Path
    worlds: dict[str, GitWorld]
    depends: dict[str, tuple[str, ...]]
    gh: FakeGitHub
    machines: dict[str, Machine] = field(default_factory=dict)

    @classmethod
    def create(cls, root: Path, repos: dict[str, tuple[str, ...]]) -> PlanFleet:
        worlds = {name: GitWorld.create(root / "git" / name) for name in repos}
        gh = FakeGitHub(root, repo="o/" + next(iter(repos)))
        state = gh.load()
        state["repos"] = {f"o/{name}": {"labels": {}, "issues": {}} for name in repos}
        gh.save(state)
        return cls(root, worlds, dict(repos), gh)

    def machine(self, name: str, repos: tuple[str, ...], *, max_workers: int = 2,
                capabilities: tuple[str, ...] = ()) -> Machine:
        made = Machine(name=name, connection="local", worktree_root=str(self.root / name / "wt"),
                       run_root=str(self.root / name / "runs"), max_workers=max_workers,
                       capabilities=capabilities, repos=repos, claude_command=str(FAKE_CLAUDE),
                       repo_paths={r: str(self.worlds[r].clone) for r in repos})
        self.machines[name] = made
        return made

    def issue(self, repo: str, number: int, title: str, *, labels: tuple[str, ...] = (),
              body: str = "", created: str = "2024-05-01T10:00:00Z", **extra: Any) -> None:
        state = self.gh.load()
        state["repos"][f"o/{repo}"]["issues"][str(number)] = {
            "title": title, "body": body, "labels": list(labels), "state": "OPEN",
            "createdAt": created, **extra}
        self.gh.save(state)

    def context(self, *, intake: Intake = Intake(), models: Models = Models(),
                stagger: float = 0, capability_rules: tuple = ()) -> Context:
        state_dir = self.root / "state"
        config = Config(
            path=self.root / "coordinator.yml", state_dir=state_dir,
            repos={name: Repo(name=name, github=f"o/{name}", depends_on=deps)
                   for name, deps in self.depends.items()},
            machines=dict(self.machines), models=models, intake=intake,
            concurrency=Concurrency(stagger_seconds=stagger),
            smoke_tests=SmokeTests(capability_rules=capability_rules))
        env = self.gh.env
        return Context(config=config, board=Board.open(state_dir), connector=Connector(),
                       forge_factory=lambda repo: forge_for(repo, gh=self.gh.gh, env=env))

    def source(self) -> GhIssueSource:
        return GhIssueSource(gh=self.gh.gh, env=self.gh.env)

    def gh_calls(self) -> list[tuple[str, str]]:
        """(command, repo) of every gh invocation so far."""
        found = []
        for call in self.gh.calls():
            argv = call["argv"]
            repo = argv[argv.index("--repo") + 1] if "--repo" in argv else ""
            found.append((" ".join(argv[:2]), repo))
        return found
