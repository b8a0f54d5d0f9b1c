"""Pinned accuracy on fixed real data: Walmart's last 26 weeks and its 2011 holiday season, against peers."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest

from forecast.adapters.walmart import load_walmart
from forecast.config import DataConfig, load_pipeline
from forecast.metrics import wmae
from forecast.models import Forecaster, create
from forecast.models.baselines import StatsForecastModel
from forecast.panel import build_panel

ORIGIN = date(2012, 4, 27)
HORIZON = 26
KEYS = ["article_id", "store_id", "week"]


def _scored(forecasts: pl.DataFrame, panel: pl.DataFrame, column: str) -> float:
    holidays = panel.group_by("week").agg(pl.col("is_holiday").any())
    rows = (
        forecasts.join(panel.select(*KEYS, "units"), on=KEYS, how="left")
        .join(holidays, on="week", how="left")
        .with_columns(
            pl.col("units").fill_null(0.0),
            pl.col(column).fill_null(0.0),
            pl.when(pl.col("is_holiday")).then(5.0).otherwise(1.0).alias("weight"),
        )
    )
    return wmae(rows, target_col="units", pred_col=column, weight_col="weight")


def _pipeline_model(walmart_dir: Path, horizon: int) -> Forecaster:
    """The model and q50 column `forecast predict pipelines/walmart.toml --horizon H` gives."""
    pipeline = Path(__file__).resolve().parents[1] / "pipelines" / "walmart.toml"
    return create("lightgbm_svd", load_pipeline(pipeline, data=walmart_dir, horizon=horizon))


@pytest.mark.slow
@pytest.mark.realdata
def test_the_walmart_pipeline_model_beats_stlf_svd_and_seasonal_naive_on_the_last_26_weeks(
    walmart_dir: Path,
) -> None:
    from forecast.models.svd_stl import SVDSTLForecaster

    panel = build_panel(load_walmart(DataConfig(adapter="walmart", path=walmart_dir))).collect()
    history = panel.filter(pl.col("week") <= ORIGIN)
    series = history.select("article_id", "store_id").unique()

    ours = _pipeline_model(walmart_dir, HORIZON).fit(history, ORIGIN).predict(HORIZON, series)
    ours_wmae = _scored(ours, panel, "q50")
    peer = SVDSTLForecaster(rank=12).fit(history, ORIGIN).predict(HORIZON, series)
    peer_wmae = _scored(peer, panel, "q50")
    naive = StatsForecastModel("seasonal_naive", [0.1, 0.5, 0.9], season_length=52)
    naive_wmae = _scored(naive.fit(history, ORIGIN).predict(HORIZON, series), panel, "mean")

    # this test's own pinned values: the peers' WMAE on this fold within 3%, and ours below a ratio to each
    # that leaves some slack (the goal, 0.9 x stlf.svd, is not reached)
    assert peer_wmae == pytest.approx(1307, rel=0.03)
    assert naive_wmae == pytest.approx(1525, rel=0.03)
    assert ours_wmae < 0.935 * peer_wmae
    assert ours_wmae < 0.8 * naive_wmae


HOLIDAY_ORIGIN = date(2011, 10, 28)
HOLIDAY_HORIZON = 13


@pytest.mark.slow
@pytest.mark.realdata
def test_blend_beats_stlf_svd_by_ten_percent_on_walmart_holidays(walmart_dir: Path) -> None:
    from forecast.models.svd_stl import SVDSTLForecaster

    panel = build_panel(load_walmart(DataConfig(adapter="walmart", path=walmart_dir))).collect()
    history = panel.filter(pl.col("week") <= HOLIDAY_ORIGIN)
    series = history.select("article_id", "store_id").unique()

    peer = SVDSTLForecaster(rank=12).fit(history, HOLIDAY_ORIGIN).predict(HOLIDAY_HORIZON, series)
    peer_wmae = _scored(peer, panel, "q50")
    model = _pipeline_model(walmart_dir, HOLIDAY_HORIZON).fit(history, HOLIDAY_ORIGIN)
    ours_wmae = _scored(model.predict(HOLIDAY_HORIZON, series), panel, "q50")

    # this test's own pinned values: stlf.svd's WMAE on this fold within 3%, and the goal of 10% below it
    assert peer_wmae == pytest.approx(1817, rel=0.03)
    assert ours_wmae < 0.9 * peer_wmae
