"""What a worker is told: the issue, the rendered prompt, the model, the claude command line.

The issue comes from GitHub for a repo with `github:`, else from the operator (`--title`
required, `--briefing` as the task). The operator's briefing is appended to the playbook's
prompt. The model: --model, else an issue label mapped in models.labels, else the playbook's,
else models.default (`agent.claude.resolve_model`). What the operator asked for (`sonnet`) and
where it came from are recorded on the row until the run's init line says which model runs.
The repo's own permission rules (build/test commands, worker_permissions) join the playbook's.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from coordssh.agent.claude import build_for_playbook, resolve_model
from coordssh.agent.permissions import RepoRules, repo_rules
from coordssh.config.schema import Repo
from coordssh.errors import UsageError
from coordssh.forge.git import local_issue
from coordssh.forge.issue import Issue
from coordssh.remote.worktree import branch_name
from coordssh.services.context import Context
from coordssh.shell.command import Command

if TYPE_CHECKING:
    from coordssh.agent.playbook import Playbook

ROLE = "implement"


@dataclass(frozen=True)
class Brief:
    issue: Issue
    prompt: str
    claude_model: str           # what claude is given (an alias or an id)
    model: str                  # what the operator asked for (`sonnet`, a user alias, an id)
    model_source: str           # "--model", "label: <name>", "playbook", "models.default"
    playbook: Playbook
    rules: RepoRules = RepoRules()

    def claude_command(self, claude_path: str, session_id: str | None,
                       extra_args: tuple[str, ...] = ()) -> Command:
        return build_for_playbook(claude_path, self.playbook, model=self.claude_model,
                                  session_id=session_id, allow=self.rules.allow,
                                  deny=self.rules.deny, extra_args=extra_args)

    def model_extra(self) -> dict[str, str]:
        """For the row's `extra`: what was asked for, where from, and what claude is given."""
        extra = {"model_requested": self.model, "model_source": self.model_source}
        if self.claude_model != self.model:
            extra["model_given"] = self.claude_model
        return extra


async def make_brief(ctx: Context, repo: Repo, request: Any) -> Brief:
    """`request` carries issue, title, briefing and model (an AssignRequest)."""
    from coordssh.agent.playbook import load_playbook

    issue = await fetch_issue(ctx, repo, request.issue, request.title, request.briefing)
    playbook = load_playbook(ROLE, ctx.config.playbooks_dir)
    run_cap = ctx.config.pipeline.budgets.run_usd   # the playbook's own cap wins (budgets.py)
    if playbook.max_budget_usd is None and run_cap is not None:
        playbook = replace(playbook, max_budget_usd=run_cap)
    claude_model, asked = resolve_model(request.model, issue.labels, ctx.config.models,
                                        playbook.model)
    prompt = render_prompt(playbook, repo, issue, branch_name(issue.number, issue.title),
                           request.briefing)
    return Brief(issue, prompt, claude_model, asked,
                 _model_source(ctx, request.model, issue.labels, playbook.model), playbook,
                 repo_rules(repo))


async def fetch_issue(ctx: Context, repo: Repo, number: int, title: str | None,
                      briefing: str) -> Issue:
    if repo.github:
        return await ctx.forge(repo).issue_view(number)
    if not title or not title.strip():
        raise UsageError(
            f"repo '{repo.name}' has no GitHub, so issue #{number} needs a --title",
            hint="pass --title 'what to do' (and --briefing for the details), or add "
                 "`github: OWNER/NAME` to the repo in coordinator.yml")
    return local_issue(number, title.strip(), briefing)


def on_branch(brief: Brief, repo: Repo, branch: str, briefing: str) -> Brief:
    """The brief whose prompt names the branch the run works on (a new cycle's `-2`)."""
    if branch == branch_name(brief.issue.number, brief.issue.title):
        return brief
    return replace(brief, prompt=render_prompt(brief.playbook, repo, brief.issue, branch,
                                               briefing))


def render_prompt(playbook: Playbook, repo: Repo, issue: Issue, branch: str, briefing: str) -> str:
    """The playbook's prompt; the briefing is appended under its heading (for a plain-git repo it
    already is the issue's body, so it is not repeated)."""
    return playbook.render({
        "issue_number": issue.number, "issue_title": issue.title, "issue_body": issue.body,
        "issue_url": issue.url, "branch": branch, "base_branch": repo.default_branch,
        "repo_name": repo.name, "repo_notes": repo.notes,
        "briefing": briefing if repo.github else "",
    })


def _model_source(ctx: Context, cli_model: str | None, labels: tuple[str, ...],
                  playbook_model: str | None) -> str:
    if cli_model:
        return "--model"
    mapped = {k.casefold() for k in ctx.config.models.labels}
    label = next((name for name in labels if name.casefold() in mapped), None)
    if label:
        return f"label: {label}"
    return "playbook" if playbook_model else "models.default"
