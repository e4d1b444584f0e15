"""The PR half of the pipeline: `pr`, `review`, `merge`, `split`.

ID is a run id (or a prefix) or REPO#ISSUE. Each command builds the context, calls one service
and renders (cli/render/prflow.py).
"""

from __future__ import annotations

from typing import Optional

import typer

from coordssh.cli.fastpath import CONFIG_HELP

_ID = typer.Argument(..., metavar="ID", help="A run id (or prefix), or REPO#ISSUE.")
_JSON = typer.Option(False, "--json", help="Print the result as JSON.")
_CONFIG = typer.Option(None, "--config", help=CONFIG_HELP)


def register(app: typer.Typer) -> None:
    app.command("pr")(pr)
    app.command("review")(review)
    app.command("merge")(merge)
    app.command("split")(split)


def pr(which: str = _ID,
       draft: bool = typer.Option(False, "--draft", help="Open it as a draft."),
       json_output: bool = _JSON, config: Optional[str] = _CONFIG) -> None:
    """Open the work item's pull request (no worker run): reused when one is open already."""
    import asyncio

    from coordssh.cli.context import build_context
    from coordssh.cli.render.prflow import print_pr
    from coordssh.services.pr import open_pr

    ctx = build_context(config)
    print_pr(asyncio.run(open_pr(ctx, which, draft=draft)), json_output=json_output)


def review(which: str = _ID,
           machine: Optional[str] = typer.Option(None, "--machine", "-m",
                                                 help="Review on this machine."),
           model: Optional[str] = typer.Option(None, "--model", help="The reviewer's model."),
           wait: bool = typer.Option(False, "--wait",
                                     help="Wait for the verdict and post it on the PR."),
           timeout: Optional[float] = typer.Option(None, "--timeout",
                                                   help="Seconds to wait with --wait."),
           json_output: bool = _JSON, config: Optional[str] = _CONFIG) -> None:
    """Review the PR's head in a fresh, read-only claude session; --wait posts the verdict."""
    import asyncio

    from coordssh.cli.context import build_context
    from coordssh.cli.render.prflow import print_review, print_review_outcome
    from coordssh.services.review import dispatch_review
    from coordssh.services.review_post import wait_review

    ctx = build_context(config)

    async def go():
        started = await dispatch_review(ctx, which, machine=machine, model=model)
        if not (wait and json_output):     # --wait --json prints the outcome alone
            print_review(started, json_output=json_output)
        return await wait_review(ctx, started.assignment.id, timeout=timeout) if wait else None

    outcome = asyncio.run(go())
    if outcome is not None:
        print_review_outcome(outcome, json_output=json_output)
        verdict = outcome.item.verdict("review")
        if verdict is None or verdict.result != "approve":
            raise typer.Exit(1)


def merge(repo: Optional[str] = typer.Option(None, "--repo", help="Only this repo's PRs."),
          dry_run: bool = typer.Option(False, "--dry-run",
                                       help="Change nothing; say what each PR waits for."),
          method: str = typer.Option("merge", "--method", help="rebase | squash | merge."),
          json_output: bool = _JSON, config: Optional[str] = _CONFIG) -> None:
    """The merge queue: merge every PR whose gates hold, one at a time per repo and base."""
    import asyncio

    from coordssh.cli.context import build_context
    from coordssh.cli.render.prflow import print_queue
    from coordssh.services.merge_queue import run_queue

    ctx = build_context(config)
    print_queue(asyncio.run(run_queue(ctx, repo=repo, dry_run=dry_run, method=method)),
                json_output=json_output)


def split(which: str = typer.Argument(..., metavar="REPO#ISSUE|ID",
                                      help="The parent issue, or a run id of its work."),
          apply: bool = typer.Option(False, "--apply",
                                     help="Create the sub-issues and extend the parent."),
          json_output: bool = _JSON, config: Optional[str] = _CONFIG) -> None:
    """Propose sub-issues from the issue's task list; --apply creates them (idempotent)."""
    import asyncio

    from coordssh.cli.context import build_context
    from coordssh.cli.render.prflow import print_split
    from coordssh.services.split import split_issue

    ctx = build_context(config)
    print_split(asyncio.run(split_issue(ctx, which, apply=apply)), json_output=json_output)
