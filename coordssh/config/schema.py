"""The validated, frozen shape of coordinator.yml. `load.py` builds it; nothing else reads YAML.

Paths: operator-side paths (state_dir, identity_file, known_hosts) are expanded once at load
time. Paths on a worker machine (repo_paths, worktree_root, run_root) are kept as written after
normalising: `~/x` stays `~/x` (expanded on the worker, whose $HOME may differ), relative paths
are an error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

Connection = Literal["local", "ssh"]
Launcher = Literal["tmux", "nohup"]

DEFAULT_WORKTREE_ROOT = "~/.coordssh/worktrees"
DEFAULT_RUN_ROOT = "~/.coordssh/runs"
DEFAULT_CLAUDE_COMMAND = "claude"
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")

# The names `claude --model` itself resolves (the CLI maps them to ids, and the mapping changes
# with its releases: coordssh never does). Only used to check a config for typos; a full id
# (`claude-...`) and the user's own `models.aliases` are accepted too.
CLI_MODEL_NAMES = ("haiku", "sonnet", "opus", "fable", "best", "opusplan", "sonnet[1m]",
                   "opus[1m]", "default")


@dataclass(frozen=True)
class WorkerPermissions:
    """Per repo: extra permission rules for its runs (`--allowedTools` / `--disallowedTools`)."""

    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()


@dataclass(frozen=True)
class Repo:
    name: str
    github: str | None = None          # "owner/name"; None: plain git, no GitHub
    url: str | None = None             # what `coordssh setup` clones from (default: from github)
    default_branch: str = "main"
    build_command: str | None = None
    test_command: str | None = None
    depends_on: tuple[str, ...] = ()
    notes: str | None = None            # extra text for the worker's prompt
    worker_permissions: WorkerPermissions = WorkerPermissions()


@dataclass(frozen=True)
class Machine:
    name: str
    host: str = "localhost"
    connection: Connection = "local"
    user: str | None = None
    port: int | None = None
    identity_file: str | None = None    # operator-side path, expanded
    known_hosts: str | None = None      # operator-side path, expanded; None: see known_hosts_file()
    launcher: Launcher = "nohup"
    claude_command: str = DEFAULT_CLAUDE_COMMAND
    worktree_root: str = DEFAULT_WORKTREE_ROOT
    run_root: str = DEFAULT_RUN_ROOT
    max_workers: int = 2
    env: dict[str, str] = field(default_factory=dict)
    capabilities: tuple[str, ...] = ()
    repos: tuple[str, ...] = ()
    repo_paths: dict[str, str] = field(default_factory=dict)
    connect_timeout: float = 5.0
    account: str | None = None          # the Claude account it runs under (parked together)

    @property
    def account_name(self) -> str:
        """Machines sharing an account park together; no `account`: the machine is its own."""
        return self.account or f"machine:{self.name}"

    def __hash__(self) -> int:
        return hash(self.name)


@dataclass(frozen=True)
class Concurrency:
    max_workers: int = 2
    stagger_seconds: float = 0
    backoff_base: float = 60
    max_retries: int = 3
    auto_reassign: bool = False
    stale_threshold: int = 3
    max_connections: int = 48           # SSH connections opened at once by one command


@dataclass(frozen=True)
class Models:
    default: str = "sonnet"
    escalation: tuple[str, ...] = ("haiku", "sonnet", "opus")
    labels: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)  # the user's shorthand -> what claude is given


@dataclass(frozen=True)
class Runs:
    max_runtime_s: float = 4 * 3600
    result_grace_s: float = 30
    stop_grace_s: float = 10


@dataclass(frozen=True)
class Reviews:
    enabled: bool = False
    auto_dispatch: bool = True
    require_approval: bool = False
    checklist: tuple[str, ...] = ()
    repo_overrides: dict[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class SmokeTests:
    auto_queue: bool = False
    default_command: str | None = None
    timeout_seconds: float = 600
    capability_rules: tuple[dict, ...] = ()


@dataclass(frozen=True)
class Intake:
    """Which open issues `coordssh plan` considers, and in which order."""

    take_labels: tuple[str, ...] = ()                  # empty: every open issue
    skip_labels: tuple[str, ...] = ("blocked", "wip", "needs-human")
    priority_labels: tuple[str, ...] = ()              # first = most urgent
    label_capabilities: dict[str, tuple[str, ...]] = field(default_factory=dict)
    day_budget_usd: float | None = None                # no proposals once today's spend reaches it
    limit: int = 500                                   # open issues read per repo (one gh call)


@dataclass(frozen=True)
class Budgets:
    """Spend caps in USD (None: no cap), counted from what each run's result reports."""

    run_usd: float | None = None        # --max-budget-usd when the playbook sets none
    item_soft_usd: float | None = None  # past it: the work item goes one rung down the ladder
    item_hard_usd: float | None = None  # past it: the work item is parked with the reason
    day_usd: float | None = None        # the fleet's spend per UTC day: past it, nothing new


@dataclass(frozen=True)
class Pipeline:
    """What `coordssh notify` may do unattended (mapped onto domain.policy.Policy)."""

    auto_test: bool = False
    auto_pr: bool = False
    auto_review: bool = False
    auto_fix: bool = False
    auto_merge: bool = False
    auto_reassign: bool = False
    auto_resume: bool = True
    auto_plan: bool = False             # notify plans and approves by itself (issue 12)
    merge_without_checks: bool = True   # a PR whose repo reports no checks at all may merge
    max_fix_rounds: int = 3
    max_review_rounds: int = 2
    stale_after: float = 600.0          # seconds unreachable before a machine is reported stale
    max_dispatches_per_pass: int = 4
    max_forge_calls_per_pass: int = 30
    run_dir_max_age: float = 14 * 24 * 3600.0
    budgets: Budgets = Budgets()
    given: frozenset[str] = frozenset()  # the keys written (the others leave the seed's sections)


@dataclass(frozen=True)
class Config:
    path: Path                          # the resolved coordinator.yml
    state_dir: Path                     # .coordssh/ beside it unless state_dir says otherwise
    repos: dict[str, Repo]
    machines: dict[str, Machine]
    concurrency: Concurrency = Concurrency()
    models: Models = Models()
    runs: Runs = Runs()
    hooks: dict[str, tuple[str, ...]] = field(default_factory=dict)
    reviews: Reviews = Reviews()
    smoke_tests: SmokeTests = SmokeTests()
    intake: Intake = Intake()
    pipeline: Pipeline = Pipeline()
    claude_command: str = DEFAULT_CLAUDE_COMMAND
    playbooks_dir: Path | None = None   # None: the playbooks shipped with coordssh

    def machine(self, name: str) -> Machine:
        from coordssh.errors import NotFound
        from coordssh.config.suggest import did_you_mean

        try:
            return self.machines[name]
        except KeyError:
            raise NotFound(
                f"unknown machine '{name}'{did_you_mean(name, self.machines)}",
                hint=f"machines in {self.path}: {', '.join(self.machines) or '(none)'}",
            ) from None

    def repo(self, name: str) -> Repo:
        from coordssh.errors import NotFound
        from coordssh.config.suggest import did_you_mean

        try:
            return self.repos[name]
        except KeyError:
            raise NotFound(
                f"unknown repo '{name}'{did_you_mean(name, self.repos)}",
                hint=f"repos in {self.path}: {', '.join(self.repos) or '(none)'}",
            ) from None
