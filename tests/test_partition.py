"""Stages run on a partition: given the rows of a subset of articles, the panel, a per-series backtest and the
predictions of a fitted model are exactly the whole run's rows for those articles, so that a distributed
engine can run them per article group."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from forecast.backtest import fold_origins, history_at, run_backtest
from forecast.config import BacktestConfig, ForecastConfig, ModelsConfig, PipelineConfig, SimulateConfig
from forecast.contracts import WEEKLY_KEY
from forecast.dataset import Dataset
from forecast.models.baselines import StatsForecastModel
from forecast.panel import build_panel, check_panel
from forecast.predict import predict_all
from forecast.simulate import simulate_dataset

SIM = SimulateConfig(articles=36, stores=3, weeks=60, seed=11)
CONFIG = PipelineConfig(
    name="partition",
    simulate=SIM,
    forecast=ForecastConfig(horizon=3, active_weeks=6),
    backtest=BacktestConfig(folds=2, step=3),
    models=ModelsConfig(cold_start=None),
)


def partition(ds: Dataset, articles: list[str]) -> Dataset:
    """The dataset's rows of `articles` only (every table keyed by article; stores stay whole)."""

    def rows(frame: pl.DataFrame | None) -> pl.DataFrame | None:
        return None if frame is None else frame.filter(pl.col("article_id").is_in(articles))

    return replace(
        ds,
        sales=ds.sales.filter(pl.col("article_id").is_in(articles)),
        articles=ds.articles.filter(pl.col("article_id").is_in(articles)),
        stock=rows(ds.stock),
        dc_stock=rows(ds.dc_stock),
        true_demand=rows(ds.true_demand),
    )


def of(frame: pl.DataFrame, articles: list[str], by: list[str]) -> pl.DataFrame:
    return frame.filter(pl.col("article_id").is_in(articles)).sort(by)


@pytest.fixture(scope="module")
def whole() -> tuple[Dataset, pl.DataFrame]:
    ds = simulate_dataset(SIM)
    return ds, check_panel(build_panel(ds).collect())


@pytest.fixture(scope="module")
def split(whole: tuple[Dataset, pl.DataFrame]) -> list[list[str]]:
    """A random split of the articles into three groups (seeded)."""
    ids = sorted(whole[0].articles["article_id"].to_list())
    groups = np.random.default_rng(5).integers(0, 3, len(ids))
    return [[a for a, g in zip(ids, groups, strict=True) if g == k] for k in range(3)]


def test_the_panel_of_a_partition_is_the_whole_panel_s_rows(
    whole: tuple[Dataset, pl.DataFrame], split: list[list[str]]
) -> None:
    ds, panel = whole
    for group in split:
        part = check_panel(build_panel(partition(ds, group)).collect())
        assert part.height > 0
        assert_frame_equal(part, of(panel, group, WEEKLY_KEY).sort(WEEKLY_KEY))


def test_a_baseline_backtest_of_a_partition_gives_the_whole_run_s_rows(
    whole: tuple[Dataset, pl.DataFrame], split: list[list[str]]
) -> None:
    ds, panel = whole
    key = ["fold", *WEEKLY_KEY, "model"]
    models = [StatsForecastModel("seasonal_naive"), StatsForecastModel("tsb")]
    full = run_backtest(panel, models, CONFIG, ds).forecasts
    assert full.height > 0
    # the folds are the whole run's (a part whose articles all end early would derive other origins itself)
    origins = fold_origins(panel, CONFIG.backtest.folds, CONFIG.backtest.step, CONFIG.backtest_horizon)
    for group in split:
        part_ds = partition(ds, group)
        part_panel = build_panel(part_ds).collect()
        part = run_backtest(part_panel, models, CONFIG, part_ds, origins=origins).forecasts
        assert_frame_equal(part.sort(key), of(full, group, key))


def test_predictions_of_a_partition_are_the_whole_run_s_rows(
    whole: tuple[Dataset, pl.DataFrame], split: list[list[str]]
) -> None:
    ds, panel = whole
    key = [*WEEKLY_KEY, "model"]
    full = predict_all(ds, panel, CONFIG, "seasonal_naive")
    for group in split:
        part_ds = partition(ds, group)
        part = predict_all(part_ds, build_panel(part_ds).collect(), CONFIG, "seasonal_naive")
        assert_frame_equal(part.sort(key), of(full, group, key))


def test_a_fitted_lightgbm_predicts_a_partition_s_rows_as_the_whole_run(
    whole: tuple[Dataset, pl.DataFrame], split: list[list[str]]
) -> None:
    # the LightGBM fit is global by design (one model learns from every series); once fitted, what it
    # predicts for a series does not depend on which other series are predicted with it
    from forecast.models.lgbm import LightGBMForecaster

    _, panel = whole
    origin = panel["week"].max()
    hist, active = history_at(panel, origin, CONFIG.forecast.active_weeks)
    params = {"num_iterations": 20, "min_data_in_leaf": 5, "num_leaves": 7, "num_threads": 1}
    model = LightGBMForecaster(seed=1, params=params, max_horizon=CONFIG.forecast.horizon).fit(hist, origin)
    key = [*WEEKLY_KEY, "horizon"]
    full = model.predict(CONFIG.forecast.horizon, active)
    for group in split:
        part = model.predict(CONFIG.forecast.horizon, active.filter(pl.col("article_id").is_in(group)))
        assert part.height > 0
        assert_frame_equal(part.sort(key), of(full, group, key))
