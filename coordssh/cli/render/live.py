"""`coordssh status --live`: the full-screen fleet view over `services/live.LiveView`.

Five sections (machines, runs, work items, the merge queue, the latest events), each a table
whose columns are dropped by priority until it fits the terminal's width: ids and statuses are
never cut (the commands take them), free text ends in an ellipsis. What needs a human (see
`services/live_model`) is marked `!` in the first column and drawn in bold red, so it stands out
without colour too (`NO_COLOR` is honoured by rich). Each section gets a share of the height;
what needs a human is listed first, so a cut never hides it. Untrusted text (titles, STATUS
lines, reasons) is passed as `Text`, never as markup.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace

from rich.console import Group, RenderableType
from rich.text import Text

from coordssh.cli.render.events import duration
from coordssh.cli.render.fit import Col, fit_table
from coordssh.cli.render.status import STYLE
from coordssh.errors import UsageError
from coordssh.services.live_model import MachineView, RunView, Snapshot

HUMAN = "bold red"
MARK = "!"


def _t(text: str, style: str = "") -> Text:
    return Text(text, style=style)


def _clock(epoch: float | None) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(epoch)) if epoch else ""


def _money(value: float | None) -> str:
    return "" if value is None else f"${value:.2f}"


def _bytes(value: int | None) -> str:
    if value is None:
        return ""
    for unit in ("B", "K", "M", "G", "T"):
        if value < 1024 or unit == "T":
            return f"{value:.0f}{unit}" if unit == "B" else f"{value:.1f}{unit}"
        value /= 1024
    return ""


def _mark(item) -> Text:
    return _t(MARK, HUMAN) if item.needs_human else _t("")


def _status(status: str, human: bool) -> Text:
    return _t(status, HUMAN if human else STYLE.get(status, "red"))


# --- columns of each section ------------------------------------------------------------------
def machine_cols(now: float) -> list[Col]:
    def state(mv: MachineView) -> Text:
        if not mv.reachable:
            return _t("unreachable", HUMAN)
        return _t("parked", HUMAN) if mv.parked else _t("up", "green")

    return [
        Col("", 100, _mark, "whole"), Col("machine", 99, lambda mv: _t(mv.name), "whole"),
        Col("state", 98, state, "whole"),
        Col("running", 90, lambda mv: f"{mv.running}/{mv.max_workers}" if mv.reachable
            else f"?/{mv.max_workers}"),
        Col("load", 60, lambda mv: "" if mv.load is None else f"{mv.load:.2f}"),
        Col("free", 55, lambda mv: _bytes(mv.free_bytes)),
        Col("streams", 30, lambda mv: str(mv.streams) if mv.reachable else ""),
        Col("stale since", 70, lambda mv: _clock(mv.stale_since)),
        Col("parked / error", 80, lambda mv: _t(
            (f"until {_clock(mv.parked_until)} " if mv.parked_until else "")
            + (mv.parked_reason or mv.error)), "flex"),
    ]


def run_cols(now: float) -> list[Col]:
    def elapsed(r: RunView) -> str:
        if r.started_at is None:
            return ""
        return duration((r.finished_at or now) - r.started_at)

    return [
        Col("", 100, _mark, "whole"), Col("run", 99, lambda r: _t(r.id), "whole"),
        Col("status", 98, lambda r: _status(r.status, r.needs_human), "whole"),
        Col("machine", 85, lambda r: _t(r.machine)),
        Col("item", 60, lambda r: _t(r.work)), Col("role", 35, lambda r: _t(r.role)),
        Col("elapsed", 75, elapsed),
        Col("turns", 50, lambda r: "" if r.turns is None else str(r.turns)),
        Col("cost", 55, lambda r: _money(r.cost_usd)),
        Col("retries", 40, lambda r: str(r.api_retries) if r.api_retries else ""),
        Col("denied", 45, lambda r: _t(str(r.denials), "yellow") if r.denials else ""),
        Col("doing now", 80, lambda r: _t(r.doing), "flex"),
        Col("last STATUS", 70, lambda r: _t(r.last_status), "flex"),
    ]


def work_cols(now: float) -> list[Col]:
    return [
        Col("", 100, _mark, "whole"), Col("item", 99, lambda w: _t(w.key), "whole"),
        Col("stage", 98, lambda w: _t(w.stage, HUMAN if w.needs_human else "cyan"), "whole"),
        Col("PR", 40, lambda w: f"#{w.pr_number}" if w.pr_number else ""),
        Col("spend", 30, lambda w: _money(w.spend_usd) if w.spend_usd else ""),
        Col("next", 90, lambda w: _t(w.action + (" (auto)" if w.auto else ""))),
        Col("reason", 80, lambda w: _t(w.reason), "flex"),
        Col("title", 20, lambda w: _t(w.title), "flex"),
    ]


def queue_cols(now: float) -> list[Col]:
    return [
        Col("item", 99, lambda q: _t(q.key), "whole"),
        Col("PR", 90, lambda q: f"#{q.pr_number}" if q.pr_number else ""),
        Col("stage", 98, lambda q: _t(q.stage), "whole"),
        Col("held by", 95, lambda q: _t(q.gate or "-", "yellow" if q.gate else "dim")),
        Col("why", 80, lambda q: _t(q.reason), "flex"),
    ]


def event_cols(now: float) -> list[Col]:
    return [
        Col("at", 90, lambda e: _clock(e.at)), Col("item", 95, lambda e: _t(e.work)),
        Col("event", 99, lambda e: _t(e.kind), "whole"),
        Col("what", 80, lambda e: _t(e.text), "flex"),
    ]


def _first_needing_human(items: Sequence) -> list:
    return sorted(items, key=lambda x: not x.needs_human)


def _section(title: str, cols: list[Col], items: Sequence, room: int, width: int,
             human_first: bool = True) -> list[RenderableType]:
    items = _first_needing_human(items) if human_first else list(items)
    if not items:
        return [_t(f"{title}: none", "bold")]
    shown = items[:max(room, 1)]
    parts: list[RenderableType] = [fit_table(f"{title} ({len(items)})", cols, shown, width)]
    if len(items) > len(shown):
        parts.append(_t(f"  … {len(items) - len(shown)} more", "dim"))
    return parts


def live_view(snap: Snapshot, config_path: str, width: int, height: int) -> RenderableType:
    """The whole screen for one snapshot."""
    now = snap.at
    humans = snap.needs_human()
    head = Text.assemble(
        ("coordssh live", "bold"), "  ", (f"{MARK} {humans} need a human" if humans else
                                          "nothing needs a human", HUMAN if humans else "green"),
        f"  {_clock(now)} UTC  refresh {snap.refresh_s:g}s  Ctrl-C leaves  {config_path}")
    head.truncate(width, overflow="ellipsis")
    rest = max(height - 2, 10)
    budget = {"machines": max(rest // 5, 2), "runs": max(rest // 3, 3),
              "work": max(rest // 6, 2), "queue": max(rest // 10, 1), "events": max(rest // 8, 1)}
    parts: list[RenderableType] = [head]
    if snap.notice:
        parts.append(_t(snap.notice, HUMAN))
    parts += _section("machines", machine_cols(now), snap.machines, budget["machines"], width)
    parts += _section("runs", run_cols(now), snap.runs, budget["runs"], width)
    parts += _section("work items", work_cols(now), snap.work, budget["work"], width)
    if snap.final_items:
        parts.append(_t(f"  {snap.final_items} merged or abandoned items not listed", "dim"))
    if snap.queue:
        parts += _section("merge queue", queue_cols(now), snap.queue, budget["queue"], width,
                          human_first=False)
    parts += _section("latest events", event_cols(now), snap.events, budget["events"], width,
                      human_first=False)
    return Group(*parts)



# --- the loop ------------------------------------------------------------------------------------
REDRAW_MIN_S = 0.25     # at most four redraws a second, however fast lines arrive
TICK_S = 1.0            # the clock and the ages move even when nothing else does


def show_live(ctx, machines: list[str] | None, refresh: float, config_path: str) -> None:
    """Full screen until Ctrl-C; then the terminal is restored and every connection closed."""
    import asyncio

    from rich.live import Live

    from coordssh.cli.render.status import console as make_console

    console = make_console()
    if not console.is_terminal:
        raise UsageError("status --live draws on a terminal, and this output is not one",
                         hint="use `coordssh status` (or `status --json`) in scripts and pipes")
    with Live(console=console, screen=True, auto_refresh=False, redirect_stdout=False,
              redirect_stderr=False) as live:
        try:
            asyncio.run(_draw_until_stopped(ctx, machines, refresh, config_path, live))
        except KeyboardInterrupt:
            pass


async def _draw_until_stopped(ctx, machines, refresh: float, config_path: str, live) -> None:
    import asyncio

    from coordssh.services.live import LiveView

    loop = asyncio.get_running_loop()
    async with LiveView(ctx, machines, refresh=refresh) as view:
        seen = None
        while True:
            try:
                seen = shown = await asyncio.wait_for(view.next_snapshot(seen), TICK_S)
            except TimeoutError:   # nothing new: the same facts, a new clock
                shown = replace(view.snapshot, at=view.ctx.clock())
            started = loop.time()
            width, height = live.console.size
            live.update(live_view(shown, config_path, width, height), refresh=True)
            await asyncio.sleep(max(0.0, REDRAW_MIN_S - (loop.time() - started)))
