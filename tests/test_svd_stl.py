"""The stlf.svd model (per-article SVD denoising + MSTL/seasonal naive), the Christmas shift and the blend."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest

from forecast.features import build_matrix, denoise
from forecast.models.base import FORECAST_COLUMNS, Forecaster
from forecast.models.blend import BlendForecaster
from forecast.models.svd_stl import SVDSTLForecaster, low_rank, shift_christmas

START = date(2010, 2, 5)  # a Friday: weeks labelled by their last day, like Walmart's


def panel(weeks: int, stores: int = 4, noise: float = 0.0, seed: int = 0) -> pl.DataFrame:
    """One article whose stores share a yearly shape times a store level, plus optional noise."""
    rng = np.random.default_rng(seed)
    shape = 10 + 5 * np.sin(2 * np.pi * np.arange(weeks) / 52)
    rows = [
        {
            "article_id": "d1",
            "store_id": f"s{s}",
            "week": START + timedelta(weeks=t),
            "units": float((s + 1) * shape[t] + noise * rng.normal()),
        }
        for s in range(stores)
        for t in range(weeks)
    ]
    return pl.DataFrame(rows)


def test_low_rank_keeps_a_rank_one_matrix_and_drops_noise() -> None:
    rng = np.random.default_rng(1)
    signal = np.outer(np.arange(1, 21), np.sin(np.arange(60) / 5) + 2)
    assert np.allclose(low_rank(signal, 1), signal)
    noisy = signal + rng.normal(0, 0.5, signal.shape)
    assert np.abs(low_rank(noisy, 1) - signal).mean() < 0.5 * np.abs(noisy - signal).mean()
    small = rng.normal(size=(3, 10))
    assert np.array_equal(low_rank(small, 12), small)  # fewer rows than the rank: unchanged


def test_seasonal_naive_path_repeats_last_year_of_the_denoised_history() -> None:
    data = panel(70)
    origin = START + timedelta(weeks=69)
    out = SVDSTLForecaster(rank=1, christmas_shift=False).fit(data, origin).predict(4)
    assert out.columns == FORECAST_COLUMNS
    expected = data.filter(pl.col("week") > origin - timedelta(weeks=52)).sort("store_id", "week")
    for store in ("s0", "s3"):
        got = out.filter(pl.col("store_id") == store)["mean"].to_numpy()
        want = expected.filter(pl.col("store_id") == store)["units"].to_numpy()[:4]
        assert got == pytest.approx(want, rel=1e-9)
    assert (out["q10"] <= out["q50"]).all()
    assert (out["q50"] <= out["q90"]).all()


def test_mstl_path_follows_the_seasonal_shape() -> None:
    data = panel(120, noise=0.5)
    origin = START + timedelta(weeks=119)
    everyone = data.select("article_id", "store_id").unique()
    out = SVDSTLForecaster(rank=1).fit(data, origin).predict(8, everyone)
    truth = 4 * (10 + 5 * np.sin(2 * np.pi * np.arange(120, 128) / 52))
    got = out.filter(pl.col("store_id") == "s3").sort("week")["mean"].to_numpy()
    assert np.abs(got - truth).mean() < 1.0


def test_christmas_shift_moves_a_share_of_each_peak_week_into_the_next() -> None:
    # weeks ending Fri 2011-12-02 .. 12-30; Christmas 2011 (Sunday) has 1 day in its week, 2010's (Saturday) 0
    weeks = [date(2011, 12, 2) + timedelta(weeks=k) for k in range(5)]
    values = [10.0, 20.0, 30.0, 40.0, 10.0]
    frame = pl.DataFrame({"article_id": "d", "store_id": "s", "week": weeks, "mean": values})
    out = shift_christmas(frame, ["mean"], start=START, source_years=[2010])["mean"].to_list()
    share = 1 / 7
    want = [10.0] + [(1 - share) * values[k] + share * values[k - 1] for k in range(1, 5)]
    assert out == pytest.approx(want)
    flat = frame.with_columns(pl.lit(10.0).alias("mean"))  # no pre-Christmas peak: left alone
    assert shift_christmas(flat, ["mean"], start=START, source_years=[2010])["mean"].to_list() == [10.0] * 5
    same_day = shift_christmas(frame, ["mean"], start=START, source_years=[2011])  # no weekday difference
    assert same_day["mean"].to_list() == values


def test_lightgbm_denoise_keeps_the_shared_shape_and_unknown_weeks() -> None:
    clean = panel(70).with_columns(pl.lit(False).alias("censored"))
    week_3 = START + timedelta(weeks=3)
    noisy = panel(70, noise=1.0).with_columns((pl.col("week") == week_3).alias("censored"))
    origin = START + timedelta(weeks=60)
    truth = build_matrix(clean, origin).units
    m = denoise(build_matrix(noisy, origin), 1)
    assert m.denoised is not None
    assert m.denoised.shape == (4, 61)
    assert np.isnan(m.denoised[:, 3]).all()  # censored weeks stay unknown
    known = ~np.isnan(m.units)
    assert np.abs(m.denoised - truth)[known].mean() < 0.7 * np.abs(m.units - truth)[known].mean()


class Fixed(Forecaster):
    """A stand-in global model returning constant forecasts."""

    name = "fixed"

    def __init__(self, value: float) -> None:
        self.value = value

    def fit(self, panel: pl.DataFrame, origin: date, **_: object) -> Fixed:
        self.origin_ = origin
        self.keys_ = panel.select("article_id", "store_id").unique()
        return self

    def predict(self, horizon: int, series: pl.DataFrame | None = None) -> pl.DataFrame:
        keys = self.keys_ if series is None else series
        weeks = pl.DataFrame(
            {"week": [self.origin_ + timedelta(weeks=h) for h in range(1, horizon + 1)]}
        ).with_row_index("horizon", offset=1)
        grid = keys.join(weeks, how="cross")
        v = np.full(grid.height, self.value)
        return self.forecast_frame(grid, v, np.column_stack([v - 1, v, v + 1]))


def test_blend_averages_both_models_column_by_column() -> None:
    data = panel(70)
    origin = START + timedelta(weeks=69)
    local = SVDSTLForecaster(rank=1).fit(data, origin).predict(3)
    out = BlendForecaster(Fixed(100.0), SVDSTLForecaster(rank=1)).fit(data, origin).predict(3)
    assert out.columns == FORECAST_COLUMNS
    assert out.height == local.height
    assert set(out["model"]) == {"lightgbm_svd"}
    joined = out.join(local, on=["article_id", "store_id", "week"], suffix="_local")
    assert joined["mean"].to_numpy() == pytest.approx((100.0 + joined["mean_local"].to_numpy()) / 2)
    assert (out["q10"] <= out["q50"]).all()
    assert (out["q50"] <= out["q90"]).all()


def test_blend_forecasts_from_a_new_history_slice() -> None:
    data = panel(70)
    origin = START + timedelta(weeks=60)
    model = BlendForecaster(Fixed(100.0), SVDSTLForecaster(rank=1)).fit(data, origin)
    later = START + timedelta(weeks=69)
    keys = data.select("article_id", "store_id").unique()
    out = model.forecast_from(data.filter(pl.col("week") <= later), 2, keys)
    assert out["week"].min() == later + timedelta(weeks=1)
    assert out.height == 2 * keys.height


def test_walmart_pipeline_forecasts_with_the_blend_by_default() -> None:
    from pathlib import Path

    from forecast.cli.backtest import select_models
    from forecast.config import load_pipeline
    from forecast.models import default_model

    path = Path(__file__).resolve().parents[1] / "pipelines" / "walmart.toml"
    config = load_pipeline(path)
    assert config.models.tables["lightgbm_svd"] == {"global_model": {"holiday_weight": 5.0}}
    assert default_model(config) == "lightgbm_svd"
    chosen = select_models(config, "seasonal_naive,lightgbm_svd")
    assert chosen.models.names() == ["seasonal_naive", "lightgbm_svd"]
