"""The board at the size a team reaches after months of `coordssh notify` from cron.

    PYTHONPATH=$PWD python3 bench/board_bench.py [--sizes 100,1000,5000] [--repeat 5] [--json F]

No root, no machines. For each size N it builds a board of N work items, each carried through a
whole pipeline lifecycle by the project's own code (`services/pipeline.py` in real `Board`
transactions: implement, test, PR, review asking for changes, fix, test, review approving,
merge: 15 events and 6 runs, the runs' rows with a real folded stream-json summary), 5 % of
them still in flight (their history cut short, the last run live). The first item is made
that way; the others are copies of its records with their keys, run ids, SHAs and event
numbers renumbered (building 5,000 items one transaction at a time would itself take hours
on the current board). The files written are what the current release writes (a schema-2
board.json and board-archive.json), so the code under test opens and, if it must, migrates them.

Then, in this process, medians over --repeat rounds of what users feel:
  open            `Board.open` of the board (a new Board object: every command starts so)
  assign          the board side of `assign`: its two reads of every run (the issue's branch
                  claims, a fresh id) and its intent transaction (a row put, a run started)
  notify pass     the board side of one quiet `notify` pass: the observe write (one row),
                  every item's next action (`list_work`, `get_work` each, `next_action`),
                  the comments owed after the cursor and the cursor write, gc's plan, the
                  round hook's check
  status read     what `status` reads (the rows of board.json)
  work read       `coordssh work` without machines: every item, its runs, its next action
  history         `work KEY --history` of one item
  live read       the live view's first read of the board (`status --live` starting)
  live tick       another process writes one kv entry, the running live view reads the change
and the size of every file in the state directory. Exits 1 if a read disagrees with what was
built (an item, a run or an event missing).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from coordssh.agent.stream import StreamState  # noqa: E402
from coordssh.board.migrate import ASSIGNMENTS, EVENTS, KV, WORK  # noqa: E402
from coordssh.board.storage import write_json_atomic  # noqa: E402
from coordssh.board.store import Board  # noqa: E402
from coordssh.config.schema import Config, Machine, Repo  # noqa: E402
from coordssh.domain import models as m  # noqa: E402
from coordssh.domain.models import Assignment  # noqa: E402
from coordssh.domain.next_action import next_action  # noqa: E402
from coordssh.domain.work import Event  # noqa: E402
from coordssh.services import pipeline  # noqa: E402

FIXTURE = Path(__file__).resolve().parents[1] / "tests/fixtures/stream-json/success.jsonl"
DAY = 86400.0
SPREAD = 90 * DAY
REVIEW = ("Changes requested: the parser accepts an empty key\n"
          "- [blocker] src/parse.py:41: an empty key is stored and later read as None\n"
          "- [minor] tests/test_parse.py:12: the new branch has no test\n" * 3)


def _stream() -> dict[str, Any]:
    state = StreamState()
    state.feed(FIXTURE.read_bytes())
    state.finish()
    return state.to_dict()


def _row(rid: str, role: str, now: float, sha: str, stream: dict[str, Any]) -> Assignment:
    return Assignment(id=rid, machine="m0", repo="demo", issue=1, branch="issue-1-widget",
                      title="Make the widget parse keys", base_branch="main", base_sha=sha,
                      worktree=f"/srv/wt/demo/{rid}", run_dir=f"/srv/runs/{rid}",
                      model="sonnet", role=role, launcher="nohup", status=m.RUNNING,
                      session_id=f"{rid}-session", created_at=now, updated_at=now,
                      started_at=now, extra={"stream": stream})


def _end(tx, row: Assignment, now: float, sha: str, **more: Any) -> Assignment:
    row = row.evolve(status=m.DONE, reason="finished", finished_at=now, updated_at=now,
                     pushed_sha=sha if row.role in ("implement", "fix") else "", exit_code=0,
                     duration_s=600.0, cost_usd=0.42, turns=20, **more)
    tx.put(row)
    return row


def lifecycle(board: Board, t0: float, *, cut: int | None = None) -> None:
    """One item, demo#1, through the whole pipeline (or its first `cut` events)."""
    stream, key = _stream(), "demo#1"
    sha1, sha2 = "a" * 40, "b" * 40
    steps: list[tuple[str, Any]] = [
        ("start", ("zzrun1", "implement", "new", "0" * 40)), ("end", ("zzrun1", sha1, {})),
        ("start", ("zzrun2", "test", "new", sha1)), ("verdict", ("zzrun2", "test_verdict", sha1, "passed")),
        ("event", Event("pr_opened", {"number": 1, "url": "https://github.com/o/demo/pull/1"})),
        ("start", ("zzrun3", "review", "new", sha1)),
        ("verdict", ("zzrun3", "review_verdict", sha1, "request_changes")),
        ("start", ("zzrun4", "fix", "new", sha1)), ("end", ("zzrun4", sha2, {})),
        ("start", ("zzrun5", "test", "new", sha2)), ("verdict", ("zzrun5", "test_verdict", sha2, "passed")),
        ("start", ("zzrun6", "review", "new", sha2)),
        ("verdict", ("zzrun6", "review_verdict", sha2, "approve")),
        ("event", Event("merge_started", {"method": "squash"})),
        ("event", Event("pr_merged", {"number": 1, "sha": sha2}))]
    rows: dict[str, Assignment] = {}
    now = t0
    for n, (what, arg) in enumerate(steps[:cut]):
        now += 900.0
        with board.transaction() as tx:
            if what == "start":
                rid, role, mode, base = arg
                rows[rid] = pipeline.record_start(tx, _row(rid, role, now, base, stream), now,
                                                  mode=mode, rung=1)
            elif what == "end":
                rid, sha, _ = arg
                rows[rid] = _end(tx, rows[rid], now, sha)
                pipeline.record_end(tx, rows[rid], now)
            elif what == "verdict":
                rid, kind, sha, result = arg
                rows[rid] = _end(tx, rows[rid], now, sha)
                detail = REVIEW if result == "request_changes" else "12 passed in 3.1s"
                pipeline.record(tx, key, Event(kind, {"role": rows[rid].role, "status": "done",
                                                      "result": result, "sha": sha,
                                                      "detail": detail}, rid), now)
            else:
                pipeline.record(tx, key, arg, now)


def template(t0: float, cut: int | None) -> dict[str, Any]:
    """The records of one item as the project's own code writes them (read back through the
    Board API, so the template is the same whatever the code under test stores them in)."""
    with tempfile.TemporaryDirectory(prefix="board-template-") as tmp:
        board = Board.open(Path(tmp))
        lifecycle(board, t0, cut=cut)
        return {"rows": [r.to_dict() for r in board.list(include_archived=True)],
                "work": [w.to_dict() for w in board.list_work()],
                "events": board.events()}


def _renumber(text: str, i: int) -> str:
    return (text.replace("demo#1", f"demo#{i}").replace("issue-1-widget", f"issue-{i}-widget")
            .replace("zzrun", f"{i:05d}run")
            .replace('"issue":1,', f'"issue":{i},').replace('"issue": 1,', f'"issue": {i},'))


def v2_board() -> dict[str, Any]:
    """An empty board as the schema-2 release writes it."""
    return {ASSIGNMENTS: {}, KV: {}, WORK: {}, EVENTS: {}, "meta": {"schema": {"version": 2}}}


def build(state: Path, n: int, t0: float) -> dict[str, int]:
    """A schema-2 board of `n` items (5 % in flight), as the current release writes it."""
    merged = template(t0, None)
    flight = template(t0, 9)      # in the fix run: r4 is live
    data, seq, counts = v2_board(), 0, {"items": n, "rows": 0, "events": 0}
    for i in range(1, n + 1):
        shape = flight if i % 20 == 0 else merged
        offset = (i - n) * SPREAD / n     # started over 90 days, the newest item last
        text = _renumber(json.dumps(shape, separators=(",", ":")), i)
        one = json.loads(text)
        for row in one["rows"]:
            for k in ("created_at", "updated_at", "started_at", "finished_at"):
                if row.get(k):
                    row[k] += offset
            if shape is merged and row["finished_at"] < t0 + DAY - 14 * DAY:
                # what `coordssh gc` has long since removed (its marks on the row)
                tree = "testtree" if row["role"] == "test" else "worktree"
                row["extra"]["gc"] = {tree: "removed", "rundir": "removed"}
            data[ASSIGNMENTS][row["id"]] = row
        for item in one["work"]:
            item["created_at"] += offset
            item["updated_at"] += offset
            data[WORK][f"demo#{i}"] = item
        for event in one["events"]:
            seq += 1
            event.update(seq=seq, at=event["at"] + offset)
            data[EVENTS][f"{seq:012d}"] = event
        counts["rows"] += len(one["rows"])
        counts["events"] += len(one["events"])
    data[KV]["events.seq"] = {"value": seq}
    data[KV]["notify.events_seq"] = {"value": seq}          # every comment already posted
    data[KV]["hooks.round_seq"] = {"value": seq}
    state.mkdir(mode=0o700, parents=True, exist_ok=True)
    # The release keeps 300 finished rows in board.json and the rest in board-archive.json.
    finished = sorted((r for r in data[ASSIGNMENTS].values() if r["status"] in m.TERMINAL_STATUSES),
                      key=lambda r: r.get("finished_at") or 0.0)
    archive = v2_board()
    for row in finished[:-300]:
        archive[ASSIGNMENTS][row["id"]] = data[ASSIGNMENTS].pop(row["id"])
    write_json_atomic(state / "board-archive.json", archive)
    write_json_atomic(state / "board.json", data)
    return counts


# --- what users feel ------------------------------------------------------------------------
def context(state: Path, now: float) -> SimpleNamespace:
    machine = Machine(name="m0", worktree_root="/srv/wt", run_root="/srv/runs",
                      repo_paths={"demo": "/srv/demo"})
    config = Config(path=state.parent / "coordinator.yml", state_dir=state,
                    repos={"demo": Repo(name="demo")}, machines={"m0": machine})
    return SimpleNamespace(config=config, board=Board.open(state), clock=lambda: now)


def assign_tx(state: Path, now: float, k: int) -> None:
    """The board side of `assign` for a new issue: its reads of the runs (the issue's branch
    claims, as `assign._checkout` reads them; a fresh id, `assign.fresh_id` itself), then its
    intent transaction."""
    from coordssh.services.assign import fresh_id

    board = Board.open(state)
    if hasattr(board, "maybe_cold"):      # since schema 3: the cold archive only when needed
        board.list(include_archived=True, cold=False)
    else:
        board.list(include_archived=True)
    fresh_id(SimpleNamespace(board=board))
    row = _row(f"new{k:04d}", "implement", now, "c" * 40, {}).evolve(issue=90000 + k,
                                                                      branch=f"issue-{90000 + k}")
    with board.transaction() as tx:
        pipeline.record_start(tx, row, now, rung=1)


def notify_pass(state: Path, now: float) -> int:
    from coordssh.services.gc import _plan
    from coordssh.services.notify_comments import CURSOR, pending_comments

    ctx = context(state, now)
    board = ctx.board
    live = board.list(live_only=True)
    if live:                                            # the observe write
        board.update_many({live[0].id: {"last_status": f"pass {now}", "updated_at": now}})
    policy = pipeline.policy_from_config(ctx.config)
    acted = 0
    for item in board.list_work():                      # notify._actions
        item = board.get_work(item.key) or item
        acted += next_action(item, policy, now).kind not in ("none", "wait")
    comments, last = pending_comments(ctx)              # notify_comments.post_pending
    if last != int(board.kv_get(CURSOR, 0) or 0):
        board.kv_set(CURSOR, last)
    _plan(ctx)                                          # gc
    from coordssh.services.hooks import ROUND_KEY       # hooks.round_hooks' reads
    done = int(board.kv_get(ROUND_KEY, 0) or 0)
    _ = [e for e in _events_after(board, done)] and board.list(live_only=True)
    return acted + len(comments)


def _events_after(board: Board, seq: int) -> list[dict[str, Any]]:
    since = getattr(board, "events_since", None)
    return since(seq) if since else [e for e in board.events() if e["seq"] > seq]


def work_read(state: Path) -> int:
    from coordssh.domain.policy import Policy

    board = Board.open(state)
    policy, n = Policy(), 0
    for item in board.list_work():
        next_action(item, policy, time.time())
        n += sum(1 for rid in item.runs if board.get(rid) is not None)
    return n


def live_read(state: Path) -> None:
    from coordssh.services.live_board import BoardCache

    BoardCache(Board.open(state)).refresh()


def live_tick(state: Path, cache, now: float) -> None:
    """Another process's write (one kv entry), then the live view's read of what changed."""
    Board.open(state).kv_set("bench.tick", now)
    if not cache.refresh():
        raise RuntimeError("the live view did not see the change")


def warm_cache(state: Path):
    from coordssh.services.live_board import BoardCache

    cache = BoardCache(Board.open(state))
    cache.refresh()
    return cache


def timed(fn, repeat: int, limit: float) -> dict[str, float]:
    """Medians over `repeat` rounds, in a forked child stopped after `limit` seconds (the old
    board's quadratic reads take hours at 5,000 items: they are reported as over the limit)."""
    import multiprocessing

    def child(conn) -> None:
        walls, cpus = [], []
        for _ in range(repeat):
            w0, c0 = time.perf_counter(), time.process_time()
            fn()
            walls.append(time.perf_counter() - w0)
            cpus.append(time.process_time() - c0)
            conn.send((walls, cpus))
        conn.close()

    ctx = multiprocessing.get_context("fork")
    reader, writer = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=child, args=(writer,))
    proc.start()
    writer.close()
    walls: list[float] = []
    cpus: list[float] = []
    deadline = time.monotonic() + limit
    while len(walls) < repeat:
        left = deadline - time.monotonic()
        if left <= 0 or not reader.poll(left):
            break
        try:
            walls, cpus = reader.recv()
        except EOFError:
            break
    if proc.is_alive():
        proc.kill()
    proc.join()
    if not walls:
        return {"over_s": limit}
    return {"median_ms": statistics.median(walls) * 1000, "min_ms": min(walls) * 1000,
            "max_ms": max(walls) * 1000, "cpu_ms": statistics.median(cpus) * 1000,
            "rounds": len(walls)}


def sizes(state: Path) -> dict[str, int]:
    return {p.name: p.stat().st_size for p in sorted(state.iterdir())
            if p.is_file() and not p.name.startswith(".") and p.suffix != ".lock"}


def one_size(root: Path, n: int, repeat: int, limit: float) -> tuple[dict[str, Any], list[str]]:
    state = root / f"state-{n}"
    now = time.time()
    counts = build(state, n, now - DAY)
    result: dict[str, Any] = {"size": n, **counts, "files_before_open": sizes(state)}
    w0 = time.perf_counter()
    Board.open(state)
    result["first_open_ms"] = (time.perf_counter() - w0) * 1000   # a migration, if any
    problems = check(state, counts)
    k = iter(range(10_000))
    cases = {
        "open": lambda: Board.open(state),
        "assign": lambda: assign_tx(state, now, next(k)),
        "notify pass": lambda: notify_pass(state, now),
        "status read": lambda: Board.open(state).list(),
        "work read": lambda: work_read(state),
        "history": lambda: Board.open(state).events(f"demo#{n // 2 + 1}"),
        "live read": lambda: live_read(state),
        "live tick": lambda: live_tick(state, cache, time.time()),
    }
    cache = warm_cache(state)      # made before the fork: the child's view is warm
    result["cases"] = {name: timed(fn, repeat, limit) for name, fn in cases.items()}
    gc = getattr(__import__("coordssh.services.gc", fromlist=["compact"]), "compact", None)
    if gc is not None:                                      # after a gc compaction
        ctx = context(state, now)
        w0 = time.perf_counter()
        moved = gc(ctx)
        result["gc_compact_ms"] = (time.perf_counter() - w0) * 1000
        result["gc_compact"] = moved if isinstance(moved, dict) else str(moved)
        problems += check(state, counts)
        cache = warm_cache(state)
        result["after_gc"] = {name: timed(fn, repeat, limit) for name, fn in cases.items()}
    result["files"] = sizes(state)
    return result, problems


def check(state: Path, counts: dict[str, int]) -> list[str]:
    board = Board.open(state)
    problems = []
    items = board.list_work()
    if len(items) < counts["items"]:
        problems.append(f"{len(items)} work items read, {counts['items']} built")
    rows = board.list(include_archived=True)
    if len(rows) < counts["rows"]:
        problems.append(f"{len(rows)} runs read, {counts['rows']} built")
    events = board.events()
    if len(events) < counts["events"]:
        problems.append(f"{len(events)} events read, {counts['events']} built")
    one = board.events("demo#1")
    if [e["kind"] for e in one][-1:] != ["pr_merged"]:
        problems.append(f"demo#1's history ends {[e['kind'] for e in one][-2:]}")
    return problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="100,1000,5000")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--limit", type=float, default=60.0, help="seconds per case (all rounds)")
    ap.add_argument("--json", default="")
    args = ap.parse_args(argv)
    out: list[dict[str, Any]] = []
    problems: list[str] = []
    root = Path(tempfile.mkdtemp(prefix="board-bench-"))
    try:
        for n in (int(s) for s in args.sizes.split(",")):
            result, found = one_size(root, n, args.repeat, args.limit)
            out.append(result)
            problems += [f"{n} items: {p}" for p in found]
            print(report(result), flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    for problem in problems:
        print(f"PROBLEM: {problem}")
    return 1 if problems else 0


def report(r: dict[str, Any]) -> str:
    lines = [f"== {r['size']} work items, {r['rows']} runs, {r['events']} events; "
             f"load {os.getloadavg()[0]:.1f}",
             "files as built (the current release's): " + _files(r["files_before_open"]),
             f"first open: {r['first_open_ms']:.0f} ms",
             "files now: " + _files(r["files"])]
    for name, t in r["cases"].items():
        after = r.get("after_gc", {}).get(name)
        more = f"   after gc compaction: {_ms(after)}" if after else ""
        lines.append(f"  {name:12} {_ms(t)}{more}")
    if "gc_compact_ms" in r:
        lines.append(f"  gc compaction: {r['gc_compact_ms']:,.0f} ms, {r['gc_compact']}")
    return "\n".join(lines)


def _ms(t: dict[str, float]) -> str:
    if "over_s" in t:
        return f"not one round within {t['over_s']:.0f} s (stopped)"
    return (f"median {t['median_ms']:>9,.1f} ms (min {t['min_ms']:,.1f}, max {t['max_ms']:,.1f}, "
            f"CPU {t['cpu_ms']:,.1f}; {t['rounds']} rounds)")


def _files(files: dict[str, int]) -> str:
    return ", ".join(f"{k} {v / 1e6:.2f} MB" for k, v in files.items())


if __name__ == "__main__":
    sys.exit(main())
