"""`plan --brain`: claude writes briefings and proposes splits for a deterministic plan.

One `claude -p --output-format json` run on this machine, in an empty scratch directory (the
prompt on stdin, never in argv; `--permission-mode plan`: it changes nothing), asked for one JSON object:
{"briefings": {"<id>": "text"}, "splits": {"<id>": ["part", ...]}}. Its cost (the result
line's `total_cost_usd`) is shown. The deterministic plan always stands: the brain adds
briefings (passed to `assign` by `approve`) and split suggestions (shown only), and whatever
it answers that is not that shape (an error, prose, unknown ids) is ignored with the reason.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from coordssh.errors import CoordError
from coordssh.forge.process import run_program
from coordssh.services.context import Context
from coordssh.services.plan import PLAN_KEY, PlanResult
from coordssh.shell.command import cmd

MAX_BRIEFING = 2000
MAX_PARTS = 6
TIMEOUT = 300.0
BODY_CHARS = 1500
_OBJECT = re.compile(r"\{.*\}", re.DOTALL)


def brain_prompt(plan: PlanResult, bodies: Mapping[tuple[str, int], str]) -> str:
    lines = ["You help plan work for unattended Claude Code workers. For each proposal below,",
             "write a short briefing (what to look at first, what done means, what not to touch)",
             "and, only for an issue too large for one run, propose a split into smaller issues.",
             "Answer with ONE JSON object and nothing else:",
             '{"briefings": {"<id>": "..."}, "splits": {"<id>": ["part one", "part two"]}}', ""]
    for p in plan.schedule.proposals:
        body = bodies.get((p.repo, p.issue), "")[:BODY_CHARS]
        lines += [f"## proposal {p.id}: {p.repo}#{p.issue} {p.title}",
                  f"likely files: {', '.join(p.files) or 'unknown'}", body, ""]
    return "\n".join(lines)


def parse_answer(stdout: bytes, ids: set[str]) -> dict[str, Any]:
    """The brain's record: status ok | failed | ignored, cost, briefings, splits, error."""
    try:
        result = json.loads(stdout.decode("utf-8", "replace").strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"status": "failed", "error": "claude printed no JSON result", "cost_usd": None}
    if not isinstance(result, dict):
        return {"status": "failed", "error": "claude printed no JSON result", "cost_usd": None}
    cost = result.get("total_cost_usd")
    record: dict[str, Any] = {"cost_usd": cost if isinstance(cost, (int, float)) else None}
    if result.get("is_error") or result.get("subtype") != "success":
        return {**record, "status": "failed",
                "error": str(result.get("result") or result.get("subtype") or "error")[:300]}
    answer = _object(str(result.get("result") or ""))
    if answer is None:
        return {**record, "status": "ignored", "error": "the answer was not the JSON asked for"}
    briefings, splits, problems = _fields(answer, ids)
    if problems:
        return {**record, "status": "ignored", "error": "; ".join(problems)[:300]}
    return {**record, "status": "ok", "briefings": briefings, "splits": splits}


def _object(text: str) -> dict | None:
    found = _OBJECT.search(text)
    try:
        value = json.loads(found.group(0)) if found else None
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _fields(answer: dict, ids: set[str]) -> tuple[dict, dict, list[str]]:
    briefings = answer.get("briefings") or {}
    splits = answer.get("splits") or {}
    problems = []
    if not isinstance(briefings, dict) or not isinstance(splits, dict):
        return {}, {}, ["briefings and splits must be objects keyed by proposal id"]
    unknown = sorted((set(briefings) | set(splits)) - ids)
    if unknown:
        problems.append(f"unknown proposal ids {', '.join(unknown)}")
    if any(not isinstance(v, str) or not v.strip() for v in briefings.values()):
        problems.append("a briefing is not text")
    if any(not isinstance(v, list) or not 1 < len(v) <= MAX_PARTS
           or not all(isinstance(x, str) and x.strip() for x in v) for v in splits.values()):
        problems.append(f"a split is not a list of 2-{MAX_PARTS} texts")
    if not briefings and not splits:
        problems.append("no briefing and no split")
    return ({k: v.strip()[:MAX_BRIEFING] for k, v in briefings.items()},
            {k: [x.strip() for x in v] for k, v in splits.items()}, problems)


async def add_brain(ctx: Context, plan: PlanResult, *, claude: str | None = None,
                    env: Mapping[str, str] | None = None, model: str | None = None,
                    bodies: Mapping[tuple[str, int], str] | None = None) -> PlanResult:
    """The plan with `brain` filled in (and the briefings saved with its proposals)."""
    if not plan.schedule.proposals:
        return replace(plan, brain={"status": "skipped", "error": "nothing proposed",
                                    "cost_usd": None})
    environ = {k: v for k, v in (os.environ if env is None else env).items()
               if k != "CLAUDECODE"}
    command = cmd(claude or ctx.config.claude_command, "-p", "--output-format", "json",
                  "--model", model or ctx.config.models.default, "--permission-mode", "plan",
                  "--max-turns", "2")
    prompt = brain_prompt(plan, plan.bodies if bodies is None else bodies)
    try:
        with tempfile.TemporaryDirectory(prefix="coordssh-brain-") as scratch:  # not the cwd
            done = await run_program(command, input=prompt.encode(), env=environ, cwd=scratch,
                                     timeout=TIMEOUT)
    except CoordError as err:
        brain = {"status": "failed", "error": err.message, "cost_usd": None}
    else:
        brain = parse_answer(done.stdout, {p.id for p in plan.schedule.proposals})
        if done.returncode != 0 and brain["status"] == "ok":
            brain = {**brain, "status": "failed", "error": f"claude exited {done.returncode}"}
    _save(ctx, plan.id, brain)
    return replace(plan, brain=brain)


def _save(ctx: Context, plan_id: str, brain: dict[str, Any]) -> None:
    with ctx.board.transaction() as tx:
        saved = tx.kv_get(PLAN_KEY)
        if not saved or saved.get("id") != plan_id:
            return
        saved["brain"] = brain
        for p in saved["proposals"]:
            briefing = (brain.get("briefings") or {}).get(p["id"]) if brain["status"] == "ok" else None
            if briefing:
                p["briefing"] = briefing
        tx.kv_set(PLAN_KEY, saved)
