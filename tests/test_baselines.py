"""statsforecast baselines behind the Forecaster protocol."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest

from forecast.errors import ConfigError, NotFittedError
from forecast.models import Forecaster
from forecast.models.baselines import METHODS, StatsForecastModel

START = date(2023, 1, 2)


def panel_of(series: dict[tuple[str, str], list[float]], start: date = START) -> pl.DataFrame:
    return pl.DataFrame(
        [
            (article, store, start + timedelta(weeks=i), float(v))
            for (article, store), values in series.items()
            for i, v in enumerate(values)
        ],
        schema=["article_id", "store_id", "week", "units"],
        orient="row",
    )


@pytest.fixture(scope="module")
def panel() -> pl.DataFrame:
    rng = np.random.default_rng(0)
    return panel_of(
        {
            ("a1", "s1"): rng.poisson(3, 70).tolist(),
            ("a2", "s1"): (rng.poisson(0.3, 70)).tolist(),
            ("a3", "s2"): [0.0] * 60 + [2.0, 1.0, 0.0, 4.0, 1.0, 0.0, 0.0, 1.0, 2.0, 3.0],
        }
    )


@pytest.mark.parametrize("method", METHODS)
def test_every_method_gives_ordered_nonnegative_quantiles(panel: pl.DataFrame, method: str) -> None:
    origin = START + timedelta(weeks=69)
    model = StatsForecastModel(method, quantiles=[0.1, 0.5, 0.9], season_length=52)
    assert isinstance(model, Forecaster)
    out = model.fit(panel, origin).predict(4)
    assert out.columns == ["article_id", "store_id", "week", "horizon", "model", "mean", "q10", "q50", "q90"]
    assert out.height == 3 * 4
    assert out["model"].unique().to_list() == [method]
    assert out["horizon"].to_list()[:4] == [1, 2, 3, 4]
    assert out["week"].min() == origin + timedelta(weeks=1)
    assert (out["q10"] >= 0).all()
    assert ((out["q10"] <= out["q50"]) & (out["q50"] <= out["q90"])).all()
    assert out["mean"].is_finite().all()


def test_naive_and_seasonal_naive_values() -> None:
    values = [float(i % 52) for i in range(60)]  # seasonal pattern with period 52
    panel = panel_of({("a", "s"): values})
    origin = START + timedelta(weeks=59)
    naive = StatsForecastModel("naive").fit(panel, origin).predict(2)
    assert naive["mean"].to_list() == [7.0, 7.0]
    seasonal = StatsForecastModel("seasonal_naive", season_length=52).fit(panel, origin).predict(2)
    # week 60 repeats week 60 - 52 = 8 -> value 8; week 61 -> 9
    assert seasonal["mean"].to_list() == [8.0, 9.0]


def test_seasonal_naive_falls_back_to_naive_on_short_series() -> None:
    panel = panel_of({("a", "s"): [1.0, 2.0, 5.0]})
    out = (
        StatsForecastModel("seasonal_naive", season_length=52)
        .fit(panel, START + timedelta(weeks=2))
        .predict(3)
    )
    assert out["mean"].to_list() == [5.0, 5.0, 5.0]


def test_series_are_zero_padded_to_the_origin() -> None:
    # the series' last row is 3 weeks before the origin: nothing sold since, so naive forecasts 0
    panel = panel_of({("a", "s"): [4.0, 4.0, 4.0]})
    out = (
        StatsForecastModel("naive")
        .fit(panel, START + timedelta(weeks=5))
        .predict(1, panel.select("article_id", "store_id").unique())
    )
    assert out["mean"].to_list() == [0.0]
    avg = StatsForecastModel("window_average", window_size=4).fit(panel, START + timedelta(weeks=3))
    # last 4 weeks: 4, 4, 4, 0 -> 3
    assert avg.predict(1, panel.select("article_id", "store_id").unique())["mean"].item() == pytest.approx(
        3.0
    )


def test_fit_ignores_rows_after_origin_and_unknown_series_get_zero() -> None:
    panel = panel_of({("a", "s"): [1.0, 2.0, 100.0]})
    model = StatsForecastModel("naive").fit(panel, START + timedelta(weeks=1))
    series = pl.DataFrame({"article_id": ["a", "new"], "store_id": ["s", "s"]})
    out = model.predict(1, series)
    assert out["article_id"].to_list() == ["a", "new"]
    assert out["mean"].to_list() == [2.0, 0.0]


def test_extra_quantiles_come_from_wider_intervals(panel: pl.DataFrame) -> None:
    model = StatsForecastModel("naive", quantiles=[0.05, 0.1, 0.5, 0.9, 0.95])
    out = model.fit(panel, START + timedelta(weeks=69)).predict(2)
    assert {"q5", "q95"} <= set(out.columns)
    assert (out["q95"] >= out["q90"]).all()
    assert (out.filter(pl.col("q90") > 0)["q95"] > out.filter(pl.col("q90") > 0)["q90"]).all()


def test_errors() -> None:
    with pytest.raises(ConfigError, match="'arima'"):
        StatsForecastModel("arima")
    with pytest.raises(NotFittedError, match="not fitted"):
        StatsForecastModel("naive").predict(1)


def test_conformal_quantiles_come_from_the_methods_own_rolling_errors() -> None:
    # window_average over 1 week is naive: the last 9 one-week-ahead errors are 3, 7, 1, 8, 2, 9, 4, 6, 5
    values = [30.0] * 5 + [33.0, 26.0, 27.0, 19.0, 21.0, 12.0, 16.0, 10.0, 15.0]
    panel = panel_of({("a", "s"): values})
    model = StatsForecastModel("window_average", window_size=1, conformal_weeks=9)
    out = model.fit(panel, START + timedelta(weeks=len(values) - 1)).predict(1)
    # 9 scores, level 0.8: the ceil(10 * 0.8) = 8th smallest error, 8
    assert out["q50"].item() == pytest.approx(15.0)
    assert out["q90"].item() == pytest.approx(15.0 + 8.0)
    assert out["q10"].item() == pytest.approx(15.0 - 8.0)


def test_conformal_errors_pool_the_horizon_steps_of_non_overlapping_windows() -> None:
    # two windows of 2 weeks before the origin, each forecast by the mean of the 2 weeks before it
    values = [10.0, 10.0, 10.0, 12.0, 8.0, 11.0, 14.0]
    panel = panel_of({("a", "s"): values})
    model = StatsForecastModel("window_average", window_size=2, conformal_weeks=4)
    out = model.fit(panel, START + timedelta(weeks=6)).predict(2)
    # window 1: trained on 10, 10, 10 -> 10 vs 12, 8; window 2: trained up to 8 -> 10 vs 11, 14
    # errors 2, 2, 1, 4: level 0.8 of 4 scores -> the 4th smallest, 4; forecast = (11 + 14) / 2
    assert out["q50"].to_list() == pytest.approx([12.5, 12.5])
    assert out["q90"].to_list() == pytest.approx([16.5, 16.5])
    assert out["q10"].to_list() == pytest.approx([8.5, 8.5])


def test_series_too_short_for_two_windows_fall_back_to_residual_quantiles() -> None:
    values = [4.0, 1.0, 6.0, 2.0, 5.0, 3.0, 4.0]  # fewer than 2 * 4 + 1 weeks
    panel = panel_of({("a", "s"): values})
    out = (
        StatsForecastModel("window_average", window_size=2).fit(panel, START + timedelta(weeks=6)).predict(4)
    )
    recent = np.array(values)
    offsets = np.quantile(recent - recent.mean(), [0.1, 0.9])
    # the residual band around the mean, scaled by one factor where it cannot hold the mean (`coherent_rows`)
    factor = out["q10"].to_numpy() / (3.5 + offsets[0])
    assert out["mean"].to_list() == pytest.approx([3.5] * 4)
    assert out["q90"].to_list() == pytest.approx((factor * (3.5 + offsets[1])).tolist())
    assert factor == pytest.approx([factor[0]] * 4)
    assert 0.9 < factor[0] <= 1.0


@pytest.mark.parametrize("method", ["window_average", "tsb"])
def test_conformal_band_covers_about_80_percent_of_noisy_demand(method: str) -> None:
    rng = np.random.default_rng(7)
    weeks, horizon = 200, 8
    series = {
        (f"a{i}", "s"): np.maximum(0.0, 20.0 + 5.0 * rng.standard_normal(weeks)).round().tolist()
        for i in range(40)
    }
    panel = panel_of(series)
    model = StatsForecastModel(method, window_size=8, alpha_d=0.2, alpha_p=0.2)
    hits = []
    for origin_week in range(100, weeks - horizon, 20):
        origin = START + timedelta(weeks=origin_week)
        out = model.fit(panel.filter(pl.col("week") <= origin), origin).predict(horizon)
        scored = out.join(panel, on=["article_id", "store_id", "week"])
        hits.append(((scored["units"] >= scored["q10"]) & (scored["units"] <= scored["q90"])).to_numpy())
    coverage = np.concatenate(hits).mean()
    assert 0.75 <= coverage <= 0.87, coverage


@pytest.mark.parametrize("method", METHODS)
def test_no_series_asked_gives_an_empty_forecast_frame(panel: pl.DataFrame, method: str) -> None:
    model = StatsForecastModel(method, quantiles=[0.1, 0.5, 0.9]).fit(panel, panel["week"].max())
    none = pl.DataFrame(schema={"article_id": pl.Utf8, "store_id": pl.Utf8})
    out = model.predict(3, none)
    assert out.height == 0
    assert out.columns == model.predict(3).columns
