"""`coordssh report`: the aggregation over a real board, the terminal and JSON output, and the
HTML page rendered by a real headless chromium (screenshot pixels and the rendered DOM)."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from coordssh.cli.main import main
from coordssh.cli.render.report_html import MERGED_COLOR, OUTCOME_COLORS, model_colors, render_html
from coordssh.errors import EXIT_USAGE, UsageError
from coordssh.services.report import build_report, parse_since
from coordssh.services.report_board import merges, work_item_tables
from tests.support.chromium import chromium, run_chromium  # noqa: F401 (fixture)
from tests.support.png import read_png
from tests.support.report_board import DAY, HOSTILE, NOW, fill_board

MODELS = ("claude-haiku-4-5", "claude-opus-4-6", "claude-sonnet-4-6")


def report_of(tmp_path: Path, *, merged: bool = True, since: str | None = "7d", by="issue"):
    board = fill_board(tmp_path / ".coordssh", merged=merged)
    items, events = work_item_tables(board)
    return build_report(board.list(include_archived=True), now=NOW, since_s=parse_since(since),
                        by=by, merged_at=merges(items, events) if items is not None else {},
                        has_work_items=items is not None)


def test_totals_groups_rounds_and_the_window(tmp_path):
    report = report_of(tmp_path)
    t = report.totals
    assert t.runs == 8                                   # `old` (20 days ago) is outside 7d
    assert round(t.cost_usd, 2) == 13.40 and t.turns == 309
    assert t.outcomes == Counter(done=5, failed=1, stuck=1, max_turns=1)
    assert t.tokens["input_tokens"] == sum(int(c * 1000) for c in
                                           (1.25, .10, .80, 3.5, 4.75, .60, .30, 2.10))
    assert t.duration_s == 60 * (40 + 5 + 20 + 90 + 120 + 15 + 30 + 50)
    assert list(report.groups)[0] == "api#2"             # the most expensive first
    issues = {i.key: i for i in report.issues}
    assert (issues["api#1"].fix_rounds, issues["api#1"].review_rounds) == (1, 1)
    assert [r.id for r in report.expensive][:3] == ["b2", "b1", "d1"]
    by_model = report_of(tmp_path / "m", by="model").groups
    assert {k: v.runs for k, v in by_model.items()} == {"claude-opus-4-6": 2,
                                                         "claude-sonnet-4-6": 4,
                                                         "claude-haiku-4-5": 2}


def test_merges_lead_times_and_cost_per_merged_pr(tmp_path):
    report = report_of(tmp_path)
    issues = {i.key: i for i in report.issues}
    assert issues["api#1"].merged_at == NOW - 5.6 * DAY          # the pr_merged event
    assert issues["api#1"].lead_time_s == pytest.approx(0.4 * DAY)
    assert issues["api#2"].merged_at == NOW - 2.0 * DAY          # stage merged, no event
    assert issues["web#9"].merged_at is None and issues["web#9"].lead_time_s == 50 * 60
    assert issues["web#7"].lead_time_s is None                   # neither merged nor done
    assert report.cost_per_merged_pr() == {
        "claude-opus-4-6": {"merged": 1, "cost_usd": 8.25, "per_pr_usd": 8.25},
        "claude-sonnet-4-6": {"merged": 1, "cost_usd": 2.15, "per_pr_usd": 2.15}}
    plain = report_of(tmp_path / "plain", merged=False)
    assert not plain.has_work_items and plain.cost_per_merged_pr() == {}


def test_since_and_by_are_checked(tmp_path, capsys):
    assert parse_since("90m") == 5400 and parse_since("2w") == 14 * DAY
    assert parse_since("all") is None
    for bad in ("7", "-1d", "0d", "week"):
        with pytest.raises(UsageError, match="is not a duration"):
            parse_since(bad)
    config = tmp_path / "coordinator.yml"
    config.write_text("repos: []\nmachines: []\n")
    assert main(["report", "--by", "colour", "--config", str(config)]) == EXIT_USAGE
    assert "use one of issue, model, machine, role, day" in capsys.readouterr().err


def test_the_cli_prints_tables_and_json_with_titles_as_plain_text(tmp_path, capsys):
    config = tmp_path / "coordinator.yml"
    config.write_text("repos: []\nmachines: []\n")
    fill_board(tmp_path / ".coordssh")
    assert main(["report", "--since", "all", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "[bold red]markup[/]" in out                  # shown as written, never as markup
    assert "most expensive runs" in out and "cost per merged PR" in out
    assert main(["report", "--since", "all", "--by", "machine", "--json",
                 "--config", str(config)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["totals"]["runs"] == 9 and set(data["groups"]) == {"alpha", "beta", "gamma"}
    assert data["most_expensive"][0]["id"] == "old"
    assert data["work_items"] is True


def test_the_page_is_self_contained_and_escapes_everything(tmp_path):
    page = render_html(report_of(tmp_path))
    assert "<script" not in page.lower() and "&lt;script&gt;" in page
    assert not re.search(r"(src|href)\s*=", page, re.I)   # nothing is fetched
    assert re.findall(r"https?://[^\s\"']+", page) == ["http://www.w3.org/2000/svg"] * 3
    assert page.count("<svg") == 3


def screenshot(chromium: str, tmp_path: Path, page: Path):
    png = tmp_path / "out.png"
    done = run_chromium(chromium, page, tmp_path / "profile", f"--screenshot={png}",
                        "--window-size=1200,1600")
    assert done.returncode == 0 and png.exists(), done.stderr[-2000:]
    return read_png(png)


def columns(points: list[tuple[int, int]]) -> dict[int, int]:
    """x -> how many pixels of the colour that column has (the bar's height)."""
    return Counter(x for x, _ in points)


def test_chromium_renders_the_three_charts(chromium, tmp_path):
    page = tmp_path / "report.html"
    assert main(["report", "--since", "all", "--html", str(page), "--config",
                 str(_config(tmp_path))]) == 0
    image = screenshot(chromium, tmp_path, page)
    assert (image.width, image.height) == (1200, 1600)
    colors = model_colors(MODELS)
    spend = {m: image.find(colors[m]) for m in MODELS}
    outcomes = {o: image.find(OUTCOME_COLORS[o]) for o in ("done", "failed", "stuck")}
    lead = image.find(MERGED_COLOR)
    assert all(len(p) > 100 for p in [*spend.values(), *outcomes.values(), lead]), \
        "a chart colour is missing from the screenshot"
    # the charts stack in order: spend, then outcomes, then time to merge
    spend_ys = [y for p in spend.values() for _, y in p]
    outcome_ys = [y for p in outcomes.values() for _, y in p]
    assert max(spend_ys) < min(outcome_ys) and max(outcome_ys) < min(y for _, y in lead)
    # the two opus days are bars of $3.50 and $4.75: their heights keep that ratio
    heights = sorted(h for h in columns(spend["claude-opus-4-6"]).values() if h > 20)
    assert len(set(heights)) == 2
    assert heights[-1] / heights[0] == pytest.approx(4.75 / 3.50, rel=0.03)


def test_chromium_dom_has_the_svg_and_no_injected_element(chromium, tmp_path):
    page = tmp_path / "report.html"
    fill_board(tmp_path / ".coordssh")
    page.write_text(render_html(report_of(tmp_path / "again")))
    done = run_chromium(chromium, page, tmp_path / "profile", "--dump-dom")
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    assert len(re.findall(r'<svg class="chart (spend|outcomes|lead)"', dom)) == 3
    assert dom.count("<rect") > 20
    assert "<script" not in dom.lower()                  # the hostile title stayed text
    assert HOSTILE.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") in dom


def _config(tmp_path: Path) -> Path:
    fill_board(tmp_path / ".coordssh")
    config = tmp_path / "coordinator.yml"
    config.write_text("repos: []\nmachines: []\n")
    return config
