"""`coordssh push ID`: push a finished run's branch again (after a `push_failed`, once the
worker's push access is fixed), and reconcile its row in one board transaction.

Only the wrapper's post-run steps run again on the worker (remote/repush.py); a run that is
still going is left alone. A `push_failed` row is judged again from its stream fold (done,
advisory, or failed for its denials; `push_failed` again with git's new message); any other
finished row keeps its status and its reason says what the push did.
"""

from __future__ import annotations

from coordssh.domain import models as m
from coordssh.domain.models import Assignment
from coordssh.errors import NotFound, Refused
from coordssh.remote.repush import PushAgain
from coordssh.remote.repush import push_again as remote_push_again
from coordssh.services import pipeline
from coordssh.services.context import Context

PUSH_NOTE = "; git push failed"


async def push_again(ctx: Context, id_or_prefix: str) -> Assignment:
    row = ctx.board.find(id_or_prefix)
    if row.live:
        raise Refused(f"run {row.id} is {row.status}: it pushes its branch when it ends",
                      hint=f"wait for it: coordssh wait {row.id}")
    machine = ctx.config.machine(row.machine)
    async with await ctx.connector.connect(machine) as transport:
        pushed = await remote_push_again(transport, row.run_dir)
    if pushed.state == "running":
        raise Refused(f"run {row.id} still runs on {machine.name}: it pushes when it ends",
                      hint=f"stop it first (coordssh stop {row.id}) or wait for it")
    if pushed.state == "missing":
        raise NotFound(f"on {machine.name}: the run directory {row.run_dir} is gone",
                       hint=f"push branch {row.branch} from the repo's clone on {machine.name}")
    with ctx.board.transaction() as tx:
        current = tx.get(row.id) or row
        updated = current.evolve(**_fields(current, pushed), updated_at=ctx.clock())
        tx.put(updated)
        pipeline.record_pushed(tx, current, updated, ctx.clock())
    return updated


def _fields(row: Assignment, pushed: PushAgain) -> dict:
    from coordssh.agent.outcome import Push, classify, push_error
    from coordssh.agent.stream import StreamState

    push = Push(sha=pushed.sha, failed=pushed.state == "failed", log=pushed.log)
    if row.status == m.PUSH_FAILED:
        saved = row.extra.get("stream") if isinstance(row.extra, dict) else None
        state = StreamState.from_dict(saved or {})
        outcome = classify(state, exit_code=row.exit_code, alive=False, push=push, row=row)
        return {"status": outcome.status, "reason": outcome.reason,
                "pushed_sha": pushed.sha or row.pushed_sha}
    base = row.reason.split(PUSH_NOTE, 1)[0]
    if push.failed:
        said = push_error(push.log) or "see push.log"
        return {"reason": f"{base}{PUSH_NOTE} again: {said}"}
    if pushed.sha:
        return {"reason": f"{base}; pushed {pushed.sha[:7]} (coordssh push)",
                "pushed_sha": pushed.sha}
    return {"reason": f"{base}; nothing to push"}
