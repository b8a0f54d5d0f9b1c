"""report.html from small hand-made frames; a headless Chromium renders it with its plots."""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest

from forecast.report import (
    ReportData,
    champion_reason,
    cold_start_article,
    figures,
    render_report,
    store_totals,
    top_articles,
    write_report,
)

START = date(2024, 1, 1)


def week(n: int) -> date:
    return START + timedelta(weeks=n)


def leaderboard() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "model": ["lightgbm", "naive"],
            "wape": [0.31, 0.45],
            "mae": [1.2, 1.9],
            "profit": [1500.0, 1100.0],
            "revenue": [4000.0, 3900.0],
        }
    )


def wide_leaderboard() -> pl.DataFrame:
    """Every column `forecast run` writes to leaderboard.csv, with a retailer's size of figures."""
    models = ["lightgbm", "lightgbm_calibrated", "croston_optimized", "window_average", "naive"]
    row = {
        "wape": 0.978,
        "mae": 1.154,
        "rmse": 2.739,
        "bias": -0.338,
        "mase": 0.582,
        "pinball": 0.434,
        "coverage_80": 0.696,
        "revenue": 1_257_393.56,
        "lost_sales_units": 11_080.0,
        "lost_sales_cost": 98_172.95,
        "overstock_units": 23_791.0,
        "holding_cost": 99_713.6,
        "profit": 917_514.32,
    }
    return pl.DataFrame(
        {"model": models, **{c: [v * (1 + i / 10) for i in range(5)] for c, v in row.items()}}
    )


def backtest_forecasts() -> pl.DataFrame:
    rows = []
    for model in ("lightgbm", "naive"):
        for fold, origin in ((1, 10), (2, 14)):
            for article, size in (("A1", 10.0), ("A2", 4.0), ("A3", 1.0), ("A4", 20.0)):
                for store in ("S1", "S2"):
                    for h in (1, 2, 3, 4):
                        rows.append(
                            {
                                "article_id": article,
                                "store_id": store,
                                "week": week(origin + h),
                                "horizon": h,
                                "model": model,
                                "mean": size,
                                "q10": size * 0.5,
                                "q50": size,
                                "q90": size * 1.5,
                                "fold": fold,
                                "origin": week(origin),
                                "units": size + h,
                            }
                        )
    return pl.DataFrame(rows)


def forecasts() -> pl.DataFrame:
    rows = []
    for article, model in (("A1", "lightgbm"), ("N1", "cold_start"), ("N2", "cold_start")):
        for store in ("S1", "S2"):
            for h in (1, 2, 3):
                mean = 5.0 if article == "N2" else 2.0
                rows.append(
                    {
                        "article_id": article,
                        "store_id": store,
                        "week": week(19 + h),
                        "horizon": h,
                        "model": model,
                        "mean": mean,
                        "q10": mean / 2,
                        "q50": mean,
                        "q90": mean * 2,
                    }
                )
    return pl.DataFrame(rows)


def plan() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "store_id": ["S1", "S1", "S2"],
            "article_id": ["A1", "N2", "A1"],
            "week": [week(20)] * 3,
            "units": [6.0, 4.0, 3.0],
            "packs": [6, 4, 3],
            "on_hand_before": [0.0, 0.0, 1.0],
            "demand_mean": [5.0, 4.0, 3.0],
            "expected_sales": [4.5, 3.5, 2.8],
            "expected_leftover": [1.5, 0.5, 1.2],
            "expected_profit": [20.0, 15.0, 9.0],
        }
    )


def report_data(**overrides: object) -> ReportData:
    history = (
        backtest_forecasts()
        .filter(pl.col("model") == "naive")
        .select("article_id", "store_id", "week", "units")
    )
    base: dict[str, object] = {
        "pipeline": "tiny <shop>",
        "objective": "profit",
        "champion": "lightgbm",
        "leaderboard": leaderboard(),
        "backtest_forecasts": backtest_forecasts(),
        "forecasts": forecasts(),
        "plan": plan(),
        "fingerprint": {
            "sales_rows": 120,
            "date_min": "2024-01-01",
            "date_max": "2024-05-13",
            "articles": 4,
            "stores": 2,
            "rows_rejected": 2,
            "rows_read": {"sales.csv": 122},
            "rows_kept": {"sales.csv": 120},
        },
        "rejects": pl.DataFrame(
            {
                "file": ["sales.csv", "sales.csv"],
                "row": [3, 9],
                "column": ["units", "date"],
                "reason": ["not a number", "bad date"],
                "value": ["x", "2024-13-01"],
            }
        ),
        "history": history,
        "true_demand": pl.DataFrame(
            {
                "week": [week(20), week(21)],
                "store_id": ["S1", "S1"],
                "article_id": ["N2", "N2"],
                "demand": [3.0, 6.0],
            }
        ),
        "allocation": {
            "expected_profit": 44.0,
            "gap": 0.0004,
            "status": "optimal",
            "rule_profits": {"proportional": 40.5, "cover": 38.25},
        },
        "run_id": "abc123",
        "warnings": ["3 forecast article(s) are not in the DC stock <and get nothing>"],
    }
    base.update(overrides)
    return ReportData(**base)  # type: ignore[arg-type]


def test_report_is_self_contained_with_every_section() -> None:
    page = render_report(report_data())
    assert page.startswith("<!DOCTYPE html>")
    for heading in (
        "Champion",
        "Leaderboard",
        "The coming weeks",
        "Forecast versus actual (backtest)",
        "Allocation plan",
        "Data",
    ):
        assert f"<h2>{heading}</h2>" in page
    assert "tiny &lt;shop&gt;" in page  # names are escaped
    assert "bad date" in page
    assert "not a number" in page
    images = re.findall(r'<img alt="[^"]*" src="data:image/png;base64,[A-Za-z0-9+/=]+">', page)
    # leaderboard, three biggest articles of the backtest, the coming weeks of the one article that is not
    # new, the cold-start article, the plan per store
    assert len(images) == 7
    assert not re.search(r"(src|href)=[\"']?(https?:|//|file:)", page)
    assert "<script" not in page
    assert "with its true demand" in page


def test_helpers_pick_the_right_rows() -> None:
    assert top_articles(backtest_forecasts(), "lightgbm") == ["A4", "A1", "A2"]
    assert cold_start_article(forecasts()) == "N2"
    totals = store_totals(plan())
    assert totals.select("store_id", "units", "expected_profit").rows() == [
        ("S1", 10.0, 35.0),
        ("S2", 3.0, 9.0),
    ]
    reason = champion_reason(leaderboard(), "lightgbm", "profit")
    assert "<b>lightgbm</b>" in reason
    assert "400" in reason
    assert "naive" in reason


def test_report_without_cold_start_plan_or_rejects() -> None:
    data = report_data(
        forecasts=forecasts().filter(pl.col("model") != "cold_start"),
        plan=plan().head(0),
        rejects=None,
        true_demand=None,
    )
    page = render_report(data)
    assert "No rows were rejected" in page
    assert "sends nothing" in page
    assert page.count("<img ") == 5


def test_plots_are_deterministic() -> None:
    assert figures(report_data()) == figures(report_data())


def test_write_report_is_atomic(tmp_path: Path) -> None:
    target = tmp_path / "report.html"
    write_report("<html></html>", target)
    assert target.read_text() == "<html></html>"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if found is None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("chromium is required in CI (apt-get install -y chromium)")
        pytest.skip("chromium not installed (apt-get install -y chromium) - browser test skipped")
    return found


@pytest.mark.browser
def test_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    browser = _chromium()
    page = tmp_path / "report.html"
    data = dataclasses.replace(report_data(), leaderboard=wide_leaderboard())
    write_report(render_report(data), page)
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-dev-shm-usage",
    ]

    def run(*extra: str, profile: str) -> subprocess.CompletedProcess[str]:
        cmd = [browser, *flags, f"--user-data-dir={tmp_path / profile}", *extra, page.as_uri()]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)

    dom = run("--dump-dom", profile="dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert "<h2>Allocation plan</h2>" in dom.stdout
    img = r'<img alt="[^"]*" src="data:image/png;base64,'
    written = re.findall(img, page.read_text(encoding="utf-8"))
    assert len(written) >= 6  # leaderboard, coming weeks, backtest, plan plots
    assert len(re.findall(img, dom.stdout)) == len(written)  # every embedded plot survives rendering
    shot = tmp_path / "shot.png"
    done = run(f"--screenshot={shot}", "--window-size=1200,2400", profile="shot")
    assert done.returncode == 0, done.stderr[-2000:]
    assert shot.exists()
    assert shot.stat().st_size > 10_000
    # a laptop screen: the page never scrolls sideways, wide tables scroll inside their own box
    probe = (
        "<script>window.addEventListener('load', () => {"
        "const b = document.body; b.dataset.pageWidth = document.documentElement.scrollWidth;"
        "b.dataset.overflow = [...document.querySelectorAll('table')].filter(t =>"
        " t.getBoundingClientRect().right > t.parentElement.getBoundingClientRect().right + 1"
        " && getComputedStyle(t.parentElement).overflowX !== 'auto').length;"
        "b.dataset.leaderboard = Math.round(document.querySelector('table').getBoundingClientRect().right);"
        "});</script>"
    )
    page.write_text(page.read_text(encoding="utf-8").replace("</body>", probe + "</body>"), encoding="utf-8")
    laptop = run("--window-size=1366,900", "--virtual-time-budget=5000", "--dump-dom", profile="laptop")
    assert laptop.returncode == 0, laptop.stderr[-2000:]
    measured = dict(re.findall(r'data-([a-z-]+)="(\d+)"', laptop.stdout))
    assert int(measured["page-width"]) <= 1366, measured
    assert int(measured["overflow"]) == 0, measured
    assert int(measured["leaderboard"]) <= 1366, measured


def test_plan_figures_rules_warnings_and_wape_as_a_planner_reads_them() -> None:
    page = render_report(report_data())
    assert "<h2>Warnings</h2>" in page
    assert "&lt;and get nothing&gt;" in page  # every warning, escaped
    assert "expected profit<b>44.00</b>" in page  # the plan total, to the cent
    assert "optimality gap<b>0.0%</b>" in page
    # the plan beside the rules on the same demand, in money: plan − rule
    assert "<td>proportional</td><td>40.50</td><td>3.50</td>" in page
    assert "<td>2 weeks of cover</td><td>38.25</td><td>5.75</td>" in page
    # WAPE in percent in the leaderboard and the champion's paragraph
    wape = float(leaderboard().filter(pl.col("model") == "lightgbm")["wape"][0])
    assert f"its WAPE is {100 * wape:.1f}%" in page
    assert f"<td>{100 * wape:.1f}%</td>" in page
    assert "<h3>Per store</h3>" in page
