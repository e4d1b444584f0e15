"""Hooks: `hooks.on_round_complete` once per round, `hooks.on_session_end` on `coordssh done`.

A hook action is the built-in `summary_report` (a summary written to
`<state_dir>/reports/<event>-<time>.md`, returned too), or a command from coordinator.yml run
on this machine with `sh -c` (the command is the operator's own text; the event's data only ever
travels in environment variables `COORDSSH_EVENT_*`, never into a command line).

A round: the runs started since the last completed round. It is complete when a pass finds no
live run and the history has new run ends since then. Its dedupe key is the last event seq: the
hooks run once per round (not on every pass), and the key is recorded only after they ran.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

from coordssh.forge.process import run_program
from coordssh.shell.command import sh_script

if TYPE_CHECKING:
    from coordssh.services.context import Context

ROUND_KEY = "hooks.round_seq"
BUILTINS = ("summary_report",)
ENDS = ("run_ended", "test_verdict", "review_verdict")
HOOK_TIMEOUT_S = 300.0


async def round_hooks(ctx: Context, *, dry_run: bool = False) -> list[dict[str, Any]]:
    """Run on_round_complete when a round has just completed; what ran (or would)."""
    done = int(ctx.board.kv_get(ROUND_KEY, 0) or 0)
    events = ctx.board.events_since(done)
    if not events or ctx.board.list(live_only=True):
        return []
    if not any(e["kind"] in ENDS for e in events):
        return []
    last = events[-1]["seq"]
    ended = sorted({e["run"] for e in events if e["kind"] in ENDS and e["run"]})
    data = {"kind": "round_complete", "round": str(last), "runs": ",".join(ended),
            "count": str(len(ended))}
    if dry_run:
        return [{"hook": "on_round_complete", "would_run": list(_actions(ctx, "on_round_complete"))}]
    results = await run_hook(ctx, "on_round_complete", data)
    ctx.board.kv_set(ROUND_KEY, last)
    return results


def _actions(ctx: Context, name: str) -> tuple[str, ...]:
    return ctx.config.hooks.get(name, ())


async def run_hook(ctx: Context, name: str, data: dict[str, str]) -> list[dict[str, Any]]:
    """Run every action of hook `name`; one result each (a failure is reported, not raised)."""
    results = []
    for action in _actions(ctx, name):
        if action in BUILTINS:
            path = summary_report(ctx, name, data)
            results.append({"hook": name, "action": action, "ok": True, "detail": str(path)})
            continue
        env = {**os.environ, **{f"COORDSSH_EVENT_{k.upper()}": str(v) for k, v in data.items()},
               "COORDSSH_EVENT_HOOK": name}
        try:
            result = await run_program(sh_script(action), env=env, cwd=ctx.config.path.parent,
                                       timeout=HOOK_TIMEOUT_S)
            ok, detail = result.returncode == 0, result.text.strip()[-500:] or \
                result.stderr_text.strip()[-500:]
        except Exception as err:   # a broken hook is reported; the driver goes on
            ok, detail = False, str(err)
        results.append({"hook": name, "action": action, "ok": ok, "detail": detail})
    return results


def summary_report(ctx: Context, name: str, data: dict[str, str]):
    from coordssh.services.session import summary, summary_text

    folder = ctx.config.state_dir / "reports"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(ctx.clock()))
    path = folder / f"{name}-{stamp}-{data.get('round', 'end')}.md"
    path.write_text(summary_text(summary(ctx)), encoding="utf-8")
    os.chmod(path, 0o600)
    return path
