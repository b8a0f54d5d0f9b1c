"""Cold-start calibration: offsets from a time-ordered holdout widen an under-dispersed band, never move q50
or the mean, and read only launches known at the origin."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest

from forecast.config import ModelsConfig, PipelineConfig
from forecast.features import launch as cf
from forecast.models import build_cold_start
from forecast.models.coldstart import ColdStartForecaster
from forecast.models.launch_calibration import (
    holdout_cut,
    inputs_before,
    shift_quantiles,
)

START = date(2023, 1, 2)
ORIGIN = START + timedelta(weeks=90)
# many rounds on small leaves, not moved toward the launch curves: quantile boosters that fit their own
# launches closely, too narrow on new ones
PARAMS = {
    "num_boost_round": 150,
    "quantile_num_boost_round": 150,
    "learning_rate": 0.2,
    "min_data_in_leaf": 5,
    "min_data_per_group": 5,
    "curve_weight": 0.0,
}


def _launches(seed: int = 0, n_articles: int = 240, n_stores: int = 3) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Two launches a week; units are Poisson with a gamma-distributed level per pair (over-dispersed)."""
    rng = np.random.default_rng(seed)
    cats = ["tops", "dresses", "coats"]
    articles = pl.DataFrame(
        {
            "article_id": [f"a{i:03d}" for i in range(n_articles)],
            "category": [cats[i % 3] for i in range(n_articles)],
            "colour": [["red", "blue"][(i // 3) % 2] for i in range(n_articles)],
            "launch_date": [START + timedelta(weeks=i // 2) for i in range(n_articles)],
        }
    )
    curve = np.array([4, 8, 10, 9, 7, 6, 5, 4, 3, 2, 2, 1], dtype=float)
    rows = []
    for i, art in enumerate(articles.iter_rows(named=True)):
        for s in range(n_stores):
            level = (1 + i % 3) * rng.gamma(2.0, 0.5)
            for h, mean in enumerate(curve):
                week = art["launch_date"] + timedelta(weeks=h)
                rows.append((art["article_id"], f"s{s}", week, float(rng.poisson(level * mean))))
    panel = pl.DataFrame(rows, schema=["article_id", "store_id", "week", "units"], orient="row")
    return articles, panel


@pytest.fixture(scope="module")
def data() -> tuple[pl.DataFrame, pl.DataFrame]:
    return _launches()


def _new(articles: pl.DataFrame, panel: pl.DataFrame) -> pl.DataFrame:
    """Pairs launched after the origin with their actual units."""
    launch = articles.select("article_id", pl.col("launch_date").alias("launch_week"))
    return (
        panel.join(launch, on="article_id")
        .filter(pl.col("launch_week") > ORIGIN)
        .with_columns((((pl.col("week") - pl.col("launch_week")).dt.total_days() // 7) + 1).alias("horizon"))
    )


def _fit(model: ColdStartForecaster, articles: pl.DataFrame, panel: pl.DataFrame) -> ColdStartForecaster:
    return model.fit(panel.filter(pl.col("week") <= ORIGIN), ORIGIN, articles=articles)


@pytest.fixture(scope="module")
def fitted(data: tuple[pl.DataFrame, pl.DataFrame]) -> tuple[ColdStartForecaster, ColdStartForecaster]:
    articles, panel = data
    raw = _fit(ColdStartForecaster([0.1, 0.5, 0.9], 3, params=PARAMS), articles, panel)
    calibrated = _fit(ColdStartForecaster([0.1, 0.5, 0.9], 3, params=PARAMS, calibrate=True), articles, panel)
    assert calibrated.calibrate
    return raw, calibrated


def _forecast(model: ColdStartForecaster, new: pl.DataFrame) -> pl.DataFrame:
    series = new.select("article_id", "store_id", "launch_week").unique(maintain_order=True)
    out = model.predict(12, series)
    return out.join(
        new.select("article_id", "store_id", "horizon", "units"), on=["article_id", "store_id", "horizon"]
    )


def _coverage(out: pl.DataFrame) -> float:
    inside = (pl.col("units") >= pl.col("q10")) & (pl.col("units") <= pl.col("q90"))
    return float(out.select(inside.mean()).item())


def test_calibration_keeps_q50_and_raises_the_mean_only_where_the_wider_band_needs_it(
    data: tuple[pl.DataFrame, pl.DataFrame], fitted: tuple[ColdStartForecaster, ColdStartForecaster]
) -> None:
    from forecast.distribution import lowest_mean

    raw, calibrated = (_forecast(m, _new(*data)) for m in fitted)
    assert raw.height == calibrated.height == 58 * 3 * 12
    assert raw["q50"].equals(calibrated["q50"])
    floor = lowest_mean(np.array([0.1, 0.5, 0.9]), calibrated.select("q10", "q50", "q90").to_numpy())
    expected = np.maximum(raw["mean"].to_numpy(), floor)
    assert np.allclose(calibrated["mean"].to_numpy(), expected)
    assert not raw["q90"].equals(calibrated["q90"])
    ordered = (pl.col("q10") <= pl.col("q50")) & (pl.col("q50") <= pl.col("q90")) & (pl.col("q10") >= 0)
    assert calibrated.select(ordered.all()).item()


def test_calibrated_band_is_wider_and_covers_closer_to_80_percent(
    data: tuple[pl.DataFrame, pl.DataFrame], fitted: tuple[ColdStartForecaster, ColdStartForecaster]
) -> None:
    raw, calibrated = (_forecast(m, _new(*data)) for m in fitted)
    assert _coverage(raw) < 0.7  # under-dispersed launches
    assert abs(_coverage(calibrated) - 0.8) < abs(_coverage(raw) - 0.8)
    assert 0.72 < _coverage(calibrated) < 0.88
    width = (pl.col("q90") - pl.col("q10")).sum()
    assert calibrated.select(width).item() > 1.2 * raw.select(width).item()
    offsets = fitted[1].offsets_
    assert offsets["q10"][1:].mean() < 0 < offsets["q90"][1:].mean()


def test_offsets_read_only_launches_known_at_the_origin(
    data: tuple[pl.DataFrame, pl.DataFrame], fitted: tuple[ColdStartForecaster, ColdStartForecaster]
) -> None:
    articles, panel = data
    base = fitted[1].offsets_
    # later sales, and later launches in the catalogue, change nothing
    later = panel.with_columns(
        pl.when(pl.col("week") > ORIGIN).then(pl.col("units") * 40 + 3).otherwise(pl.col("units"))
    )
    moved = articles.with_columns(
        pl.when(pl.col("launch_date") > ORIGIN)
        .then(pl.lit("coats"))
        .otherwise(pl.col("category"))
        .alias("category")
    )
    after = _fit(ColdStartForecaster([0.1, 0.5, 0.9], 3, params=PARAMS, calibrate=True), moved, later)
    assert after.calibrate
    assert set(after.offsets_) == {"q10", "q90"}
    assert all(np.array_equal(base[c], after.offsets_[c]) for c in base)
    # the latest launches before the origin do drive them
    cut = holdout_cut(cf.launch_inputs(panel, ORIGIN, articles, 12).pairs, fitted[1].holdout_share)
    assert cut is not None
    launch = articles.select("article_id", "launch_date")
    held = pl.col("launch_date").is_between(cut + timedelta(days=1), ORIGIN)
    noisier = (
        panel.join(launch, on="article_id")
        .with_columns(pl.when(held).then(pl.col("units") * 3).otherwise(pl.col("units")))
        .drop("launch_date")
    )
    changed = _fit(ColdStartForecaster([0.1, 0.5, 0.9], 3, params=PARAMS, calibrate=True), articles, noisier)
    assert changed.calibrate
    assert not np.array_equal(changed.offsets_["q90"], base["q90"])


def test_inputs_before_the_cut_hold_only_what_was_known_then(data: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    articles, panel = data
    inputs = cf.launch_inputs(panel, ORIGIN, articles, 12)
    cut = START + timedelta(weeks=60)
    before = inputs_before(inputs, cut)
    assert before.pairs.height == 61 * 2 * 3
    assert before.pairs["launch_week"].max() == cut
    assert before.grid["_week"].max() == cut
    assert before.grid.join(before.pairs, on=["article_id", "store_id"], how="anti").height == 0
    # the same as the inputs computed from the panel cut at that week
    direct = cf.launch_inputs(panel, cut, articles, 12)
    assert before.pairs.equals(direct.pairs)
    assert before.grid.equals(direct.grid)
    assert before.seen.equals(direct.seen)


def test_too_few_launches_leave_the_band_raw() -> None:
    pairs = pl.DataFrame({"article_id": ["a", "b"], "launch_week": [START, START + timedelta(weeks=1)]})
    assert holdout_cut(pairs, 0.2) is None
    rows = pl.DataFrame({"horizon": [1], "mean": [1.0], "q10": [0.5], "q50": [1.0], "q90": [2.0]})
    assert shift_quantiles(rows, {}).equals(rows)


def test_without_complete_launches_before_the_cut_the_band_is_raw(
    data: tuple[pl.DataFrame, pl.DataFrame],
) -> None:
    articles, panel = data
    origin = START + timedelta(weeks=16)  # half held out: the cut leaves no 12-week window before it
    history = panel.filter(pl.col("week") <= origin)
    assert holdout_cut(cf.launch_inputs(history, origin, articles, 12).pairs, 0.5) is not None
    model = ColdStartForecaster([0.1, 0.5, 0.9], 3, params=PARAMS, calibrate=True, holdout_share=0.5)
    calibrated = model.fit(history, origin, articles=articles)
    raw = ColdStartForecaster([0.1, 0.5, 0.9], 3, params=PARAMS).fit(history, origin, articles=articles)
    assert calibrated.calibrate
    assert calibrated.offsets_ == {}
    series = _new(articles, panel).select("article_id", "store_id", "launch_week").unique(maintain_order=True)
    assert calibrated.predict(4, series).equals(raw.predict(4, series))


def test_the_pipeline_builds_the_calibrated_cold_start_model_when_asked() -> None:
    plain = build_cold_start(PipelineConfig(name="x"))
    assert isinstance(plain, ColdStartForecaster)
    assert not plain.calibrate
    calibrated = build_cold_start(
        PipelineConfig(name="x", models=ModelsConfig(cold_start={"calibrate": True}))
    )
    assert isinstance(calibrated, ColdStartForecaster)
    assert calibrated.calibrate
    assert build_cold_start(PipelineConfig(name="x", models=ModelsConfig(cold_start=None))) is None
