"""Markdown plans from frames, the settings' errors, the command line, the lift fit and the replay."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from forecast.config import SimulateConfig, parse_pipeline
from forecast.errors import ConfigError
from forecast.markdown.config import MarkdownConfig
from forecast.markdown.output import stock_frame
from forecast.markdown.plan import plan_markdowns
from forecast.markdown.policies import NoMarkdown, Optimiser
from forecast.markdown.replay import build_world, play
from forecast.markdown.response import fit_elasticity
from forecast.panel import build_panel
from forecast.simulate import simulate_dataset


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"ladder": []}, "`markdown.ladder` must list at least one discount"),
        ({"ladder": [0, 20, 100]}, "percentages in [0, 100), got 100"),
        ({"max_steps": -1}, "`markdown.max_steps` and `min_weeks_between` must be >= 0"),
        ({"level": "store"}, "`markdown.level` must be one of"),
    ],
)
def test_bad_settings_get_one_line_errors(settings: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=r".*") as info:
        parse_pipeline({"name": "p", "markdown": settings})
    text = str(info.value)
    assert message in text
    assert "[markdown]" in text
    assert "\n" not in text


def test_pipeline_without_markdown_section_has_no_step() -> None:
    assert parse_pipeline({"name": "p"}).markdown is None
    config = parse_pipeline({"name": "p", "markdown": {"ladder": [0, 25, 50], "max_steps": 1}})
    assert config.markdown is not None
    assert config.markdown.discounts().tolist() == [0.0, 0.25, 0.5]


def test_cli_bad_ladder_exits_1_with_one_line(tmp_path: Path) -> None:
    pipeline = tmp_path / "bad.toml"
    pipeline.write_text('name = "bad"\n[data]\nadapter = "simulate"\n[markdown]\nladder = [0, 10, 120]\n')
    args = [sys.executable, "-m", "forecast", "markdown", str(pipeline), "--out", str(tmp_path / "out")]
    done = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error:")
    assert "markdown.ladder" in lines[0]
    assert not (tmp_path / "out").exists()


@pytest.fixture(scope="module")
def retailer() -> dict[str, pl.DataFrame]:
    ds = simulate_dataset(SimulateConfig(articles=150, stores=8, weeks=40, seed=5))
    panel = build_panel(ds).collect()
    last = panel["week"].max()
    recent = panel.filter(pl.col("week") > last - timedelta(weeks=4))  # type: ignore[operator]
    level = recent.group_by("article_id", "store_id").agg(
        pl.col("units").clip(lower_bound=0).mean().alias("mean")
    )
    weeks = pl.DataFrame({"week": [last + timedelta(weeks=k) for k in range(1, 9)]})  # type: ignore[operator]
    ends = ds.articles.select("article_id", "end_date")
    forecasts = (
        level.join(weeks, how="cross")
        .join(ends, on="article_id")
        .filter(pl.col("week") <= pl.col("end_date"))
        .drop("end_date")
        .with_columns(
            (pl.col("mean") * 0.5).alias("q10"),
            pl.col("mean").alias("q50"),
            (pl.col("mean") * 1.6).alias("q90"),
        )
    )
    store_stock = ds.stock.filter(pl.col("week") == last).select("store_id", "article_id", "on_hand")
    assert ds.dc_stock is not None
    return {
        "panel": panel,
        "articles": ds.articles,
        "stores": ds.stores,
        "forecasts": forecasts,
        "stock": stock_frame(store_stock, ds.dc_stock),
    }


def _check_rules(markdowns: pl.DataFrame, settings: MarkdownConfig) -> None:
    ladder = set((100 * settings.discounts()).round(6).tolist())
    for (_article, _cluster), rows in markdowns.sort("week").group_by(["article_id", "cluster"]):
        cuts = rows["discount"].to_numpy()
        assert set(np.round(cuts, 6).tolist()) <= ladder
        assert (np.diff(cuts) >= 0).all()
        steps = np.flatnonzero(np.diff(cuts) > 0) + 1
        assert steps.size <= settings.max_steps
        assert (np.diff(steps) >= settings.min_weeks_between).all()


@pytest.mark.parametrize("level", ["chain", "cluster"])
def test_plan_keeps_the_rules_and_beats_keeping_the_price(
    retailer: dict[str, pl.DataFrame], level: str
) -> None:
    settings = MarkdownConfig(level=level, max_steps=2, min_weeks_between=2, max_depth=50, samples=50)
    result = plan_markdowns(
        retailer["forecasts"], retailer["panel"], retailer["articles"], retailer["stock"], settings,
        stores=retailer["stores"],
    )  # fmt: skip
    first = retailer["forecasts"]["week"].min()
    ending = retailer["articles"].filter(
        pl.col("end_date").is_between(first, first + timedelta(weeks=8, days=-1))  # type: ignore[operator]
    )
    planned = set(result.summary["article_id"].to_list())
    assert planned
    assert planned <= set(ending["article_id"].to_list())
    assert result.markdowns.columns[:8] == [
        "article_id", "cluster", "week", "discount", "price", "expected_units", "expected_revenue",
        "expected_leftover_end",
    ]  # fmt: skip
    assert result.markdowns["discount"].max() <= 50  # type: ignore[operator]
    _check_rules(result.markdowns, settings)
    clusters = set(result.summary["cluster"].to_list())
    assert clusters == {"ALL"} if level == "chain" else "ALL" not in clusters
    assert result.totals["expected_profit"] >= result.totals["keep_price_expected_profit"] - 1e-6
    assert np.isfinite(result.totals["approximation_gap"])
    again = plan_markdowns(
        retailer["forecasts"], retailer["panel"], retailer["articles"], retailer["stock"], settings,
        stores=retailer["stores"],
    )  # fmt: skip
    assert again.markdowns.equals(result.markdowns)


def test_planned_prices_are_the_current_plan(retailer: dict[str, pl.DataFrame]) -> None:
    settings = MarkdownConfig(samples=20)
    args = (retailer["forecasts"], retailer["panel"], retailer["articles"], retailer["stock"], settings)
    base = plan_markdowns(*args)
    article = base.summary["article_id"][0]
    weeks = base.markdowns.filter(pl.col("article_id") == article)["week"]
    list_price = retailer["articles"].filter(pl.col("article_id") == article)["list_price"][0]
    prices = pl.DataFrame(
        {"article_id": article, "store_id": "ALL", "week": weeks, "price": list_price * 0.6}
    )
    planned = plan_markdowns(*args, prices=prices)
    row = planned.markdowns.filter(pl.col("article_id") == article)
    assert row["current_discount"].round(1).to_list() == [40.0] * row.height
    assert (
        row["discount"].to_list()
        == base.markdowns.filter(pl.col("article_id") == article)["discount"].to_list()
    )


def test_elasticity_recovered_despite_the_life_cycle() -> None:
    rng = np.random.default_rng(0)
    rows = []
    for a in range(60):
        true = 2.5 if a % 2 else 1.5
        start = int(rng.integers(8, 14))
        for age in range(20):
            cut = 0.0 if age < start else (0.3 if age < start + 3 else 0.5)
            mean = 400 * np.exp(-age / 8) * (1 - cut) ** -true
            rows.append((f"A{a}", "g2" if a % 2 else "g1", age, cut, float(rng.poisson(mean))))
    frame = pl.DataFrame(rows, schema=["article_id", "group", "age", "discount", "units"], orient="row")
    fitted = dict(fit_elasticity(frame).select("group", "elasticity").iter_rows())
    assert fitted["g1"] == pytest.approx(1.5, abs=0.2)
    assert fitted["g2"] == pytest.approx(2.5, abs=0.2)


def test_replay_is_deterministic_and_the_oracle_beats_no_markdown() -> None:
    world = build_world(SimulateConfig(articles=300, stores=6, weeks=50, seed=3), weeks=6)
    assert world.article_id.size > 0
    cut = np.full(world.article_id.size, 0.2)
    assert (world.demand(cut, 0) >= world.demand(np.zeros_like(cut), 0)).all()
    settings = MarkdownConfig()
    oracle = play(world, Optimiser(oracle=True), settings)
    keep = play(world, NoMarkdown(), settings)
    assert oracle.profit.sum() > keep.profit.sum()
    assert np.array_equal(play(world, NoMarkdown(), settings).profit, keep.profit)
    assert (keep.units <= keep.start_stock + 1e-9).all()


def test_cli_prices_without_a_price_column_exits_1(tmp_path: Path) -> None:
    pipeline = tmp_path / "p.toml"
    pipeline.write_text(
        'name = "p"\n[data]\nadapter = "simulate"\n[simulate]\narticles = 20\nstores = 2\nweeks = 30\n'
    )
    prices = tmp_path / "prices.csv"
    prices.write_text("article_id,store_id,week\nA00001,ALL,2024-01-01\n", encoding="utf-8")
    args = [
        sys.executable,
        "-m",
        "forecast",
        "markdown",
        str(pipeline),
        "--prices",
        str(prices),
        "--out",
        str(tmp_path / "o"),
    ]
    done = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"error: {prices}: column 'price': missing column(s) ['price']; fix: give the columns "
        "['article_id', 'store_id', 'week', 'price']"
    ]


def test_replay_world_is_the_simulated_retailer() -> None:
    cfg = SimulateConfig(articles=300, stores=6, weeks=50, seed=4)
    world = build_world(cfg, weeks=6)
    ds = simulate_dataset(cfg)
    assert ds.dc_stock is not None
    catalogue = ds.articles.filter(pl.col("article_id").is_in(pl.Series(world.article_id).implode()))
    lookup = dict(zip(catalogue["article_id"].to_list(), catalogue["list_price"].to_list(), strict=True))
    assert np.allclose([lookup[a] for a in world.article_id], world.list_price)
    # the DC prices the week after the history at the catalogue's planned price: the rebuilt schedule's
    dc = dict(zip(ds.dc_stock["article_id"].to_list(), ds.dc_stock["price"].to_list(), strict=True))
    planned = np.round(world.list_price * (1 - world.catalogue[:, 0]), 2)
    assert all(dc[a] == pytest.approx(p) for a, p in zip(world.article_id, planned, strict=True) if a in dc)
    ends = catalogue.select("article_id", "end_date").sort("article_id")
    last_open = [world.weeks[int(np.flatnonzero(row)[-1])] for row in world.open_weeks]
    for end, week in zip(ends["end_date"].to_list(), last_open, strict=True):
        assert week <= end < week + timedelta(weeks=1)


def test_nothing_to_plan_gives_empty_files_with_their_columns(retailer: dict[str, pl.DataFrame]) -> None:
    later = retailer["articles"].with_columns(pl.col("end_date") + timedelta(weeks=60))
    result = plan_markdowns(
        retailer["forecasts"], retailer["panel"], later, retailer["stock"], MarkdownConfig()
    )
    assert result.markdowns.height == 0
    assert result.markdowns.columns[:5] == ["article_id", "cluster", "week", "discount", "price"]
    assert result.summary.height == 0
    assert result.totals == {"units": 0.0}
