"""The global LightGBM model: contract, determinism, no leakage, censored weeks."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from forecast.config import FeaturesConfig
from forecast.distribution import lowest_mean
from forecast.errors import NotFittedError
from forecast.features import seasonal_offset
from forecast.models.base import FORECAST_COLUMNS
from forecast.models.lgbm import LightGBMForecaster

SERIES_KEY = ["article_id", "store_id"]

START = date(2022, 1, 3)  # a Monday
WEEKS = 90
ORIGIN = START + timedelta(weeks=79)
SMALL = {"num_iterations": 30, "min_data_in_leaf": 5, "num_leaves": 15}


def synthetic_panel(n_series: int = 6, seed: int = 0) -> pl.DataFrame:
    """Poisson weekly units with a yearly cycle, two categories, several stores."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_series):
        level = 5.0 + 3 * i
        for t in range(WEEKS):
            mean = level * (1 + 0.4 * np.sin(2 * np.pi * t / 52))
            rows.append(
                {
                    "article_id": f"a{i % 3}",
                    "store_id": f"s{i // 3}",
                    "week": START + timedelta(weeks=t),
                    "units": float(rng.poisson(mean)),
                    "censored": False,
                    "is_holiday": False,
                    "category": f"c{i % 2}",
                }
            )
    return pl.DataFrame(rows)


def model(seed: int = 3) -> LightGBMForecaster:
    return LightGBMForecaster(FeaturesConfig(), [0.1, 0.5, 0.9], seed=seed, params=SMALL, max_horizon=8)


@pytest.fixture(scope="module")
def panel() -> pl.DataFrame:
    return synthetic_panel()


@pytest.fixture(scope="module")
def forecasts(panel: pl.DataFrame) -> pl.DataFrame:
    return model().fit(panel, ORIGIN).predict(6)


def test_forecast_contract(forecasts: pl.DataFrame) -> None:
    assert forecasts.columns == FORECAST_COLUMNS
    assert forecasts.height == 6 * 6
    assert sorted(forecasts["horizon"].unique().to_list()) == [1, 2, 3, 4, 5, 6]
    weeks = forecasts.select(pl.col("week") - pl.lit(ORIGIN) == pl.duration(weeks=pl.col("horizon")))
    assert weeks.to_series().all()
    assert (
        forecasts.select((pl.col("q10") <= pl.col("q50")) & (pl.col("q50") <= pl.col("q90")))
        .to_series()
        .all()
    )
    assert forecasts.select(pl.min_horizontal("mean", "q10") >= 0).to_series().all()
    assert (forecasts["model"] == "lightgbm").all()


def test_forecasts_follow_the_level(forecasts: pl.DataFrame, panel: pl.DataFrame) -> None:
    recent = panel.filter(pl.col("week") > ORIGIN - timedelta(weeks=13)).filter(pl.col("week") <= ORIGIN)
    level = recent.group_by("article_id", "store_id").agg(pl.col("units").mean().alias("level"))
    joined = (
        forecasts.group_by("article_id", "store_id")
        .agg(pl.col("mean").mean())
        .join(level, on=["article_id", "store_id"])
    )
    ratio = (joined["mean"] / joined["level"]).to_numpy()
    assert np.all((ratio > 0.5) & (ratio < 2.0)), ratio


def test_predict_before_fit_raises() -> None:
    with pytest.raises(
        NotFittedError, match="This LightGBMForecaster instance is not fitted yet. Call 'fit'"
    ):
        model().predict(4)


def test_same_seed_same_forecasts(panel: pl.DataFrame, forecasts: pl.DataFrame) -> None:
    again = model().fit(panel, ORIGIN).predict(6)
    assert again.equals(forecasts)


def test_data_after_the_origin_cannot_leak(panel: pl.DataFrame, forecasts: pl.DataFrame) -> None:
    future = pl.col("week") > ORIGIN
    changed = panel.with_columns(pl.when(future).then(pl.col("units") * 50 + 7).otherwise(pl.col("units")))
    assert model().fit(changed, ORIGIN).predict(6).equals(forecasts)


def test_series_selects_rows(panel: pl.DataFrame) -> None:
    series = pl.DataFrame({"article_id": ["a1"], "store_id": ["s0"]})
    out = model().fit(panel, ORIGIN).predict(3, series)
    assert out.select("article_id", "store_id").unique().rows() == [("a1", "s0")]
    assert out.height == 3


def _with_stockouts(panel: pl.DataFrame, flagged: bool) -> pl.DataFrame:
    """Cut sales to 1 unit in every fourth week and in the last 3 weeks before the origin."""
    weeks = (pl.col("week") - pl.lit(START)).dt.total_days() // 7
    cut = ((weeks % 4) == 1) | (weeks.is_between(76, 79))
    return panel.with_columns(
        pl.when(cut).then(pl.min_horizontal("units", pl.lit(1.0))).otherwise(pl.col("units")).alias("units"),
        (cut & flagged).alias("censored"),
    )


def test_censored_weeks_do_not_drag_the_forecast_down(panel: pl.DataFrame, forecasts: pl.DataFrame) -> None:
    flagged = model().fit(_with_stockouts(panel, flagged=True), ORIGIN).predict(6)
    unflagged = model().fit(_with_stockouts(panel, flagged=False), ORIGIN).predict(6)
    clean, censored, low = (float(f["mean"].sum()) for f in (forecasts, flagged, unflagged))
    assert censored >= 0.85 * clean
    assert low < 0.85 * clean  # the same low weeks taken at face value do pull the forecast down


def test_seasonal_lag_follows_thanksgiving() -> None:
    # the week holding Thanksgiving 2013 (Nov 28) lines up with Thanksgiving 2012's week, 53 weeks earlier
    assert seasonal_offset(date(2013, 11, 29), is_end=True) == 53
    assert seasonal_offset(date(2012, 11, 23), is_end=True) == 52
    assert seasonal_offset(date(2012, 6, 1), is_end=True) == 52


def noisy_panel(n_series: int = 60, weeks: int = 112, seed: int = 5) -> pl.DataFrame:
    """Negative-binomial weekly units (overdispersed) with a yearly cycle and levels from 3 to 40."""
    rng = np.random.default_rng(seed)
    t = np.arange(weeks)
    frames = []
    for i in range(n_series):
        mean = rng.uniform(3, 40) * (1 + 0.4 * np.sin(2 * np.pi * t / 52))
        frames.append(
            pl.DataFrame(
                {
                    "article_id": f"a{i % 10}",
                    "store_id": f"s{i // 10}",
                    "week": [START + timedelta(weeks=int(k)) for k in t],
                    "units": rng.negative_binomial(3, 3 / (3 + mean)).astype(float),
                }
            )
        )
    flags = {"censored": pl.lit(False), "is_holiday": pl.lit(False), "category": pl.lit("c")}
    return pl.concat(frames).with_columns(**flags)


NOISY_ORIGIN = START + timedelta(weeks=103)
FLEXIBLE = {"num_iterations": 100, "min_data_in_leaf": 10, "num_leaves": 31}


def _coverage(calibrate: bool, panel: pl.DataFrame) -> float:
    model = LightGBMForecaster(seed=3, params=FLEXIBLE, max_horizon=8, calibrate=calibrate)
    out = model.fit(panel, NOISY_ORIGIN).predict(8)
    joined = out.join(
        panel.select("article_id", "store_id", "week", "units"), on=["article_id", "store_id", "week"]
    )
    assert joined.height == out.height == 60 * 8
    inside = (pl.col("units") >= pl.col("q10")) & (pl.col("units") <= pl.col("q90"))
    return float(joined.select(inside.mean()).item())


@pytest.fixture(scope="module")
def noisy() -> pl.DataFrame:
    return noisy_panel()


@pytest.mark.slow
def test_calibrated_band_covers_80_percent_out_of_sample(noisy: pl.DataFrame) -> None:
    raw, calibrated = _coverage(False, noisy), _coverage(True, noisy)
    assert raw < 0.75  # the quantile boosters alone are under-dispersed
    assert abs(calibrated - 0.8) < 0.05
    assert abs(calibrated - 0.8) < abs(raw - 0.8)


def _holds_with_room(frame: pl.DataFrame) -> np.ndarray:
    """Rows whose quantiles hold their mean without being scaled (the mean above the lowest they allow)."""
    floor = lowest_mean(np.array([0.1, 0.5, 0.9]), frame.select("q10", "q50", "q90").to_numpy())
    return np.asarray(frame["mean"].to_numpy() > floor * (1 + 1e-9) + 1e-9)


def test_calibration_keeps_mean_and_median(noisy: pl.DataFrame) -> None:
    def fit(calibrate: bool) -> pl.DataFrame:
        model = LightGBMForecaster(seed=3, params=SMALL, max_horizon=8, calibrate=calibrate)
        return model.fit(noisy, NOISY_ORIGIN).predict(8)

    raw, calibrated = fit(False), fit(True)
    assert raw["mean"].equals(calibrated["mean"])
    # q50 moves only on rows whose band was scaled to hold the mean (`coherent_rows`)
    free = _holds_with_room(raw) & _holds_with_room(calibrated)
    assert free.sum() > raw.height // 2
    np.testing.assert_array_equal(raw["q50"].to_numpy()[free], calibrated["q50"].to_numpy()[free])
    assert not raw["q90"].equals(calibrated["q90"])
    ordered = (pl.col("q10") <= pl.col("q50")) & (pl.col("q50") <= pl.col("q90")) & (pl.col("q10") >= 0)
    assert calibrated.select(ordered.all()).item()


def test_calibration_uses_only_weeks_up_to_the_origin(noisy: pl.DataFrame) -> None:
    def offsets(panel: pl.DataFrame) -> dict[str, np.ndarray]:
        model = LightGBMForecaster(seed=3, params=SMALL, max_horizon=8, calibrate=True, calibration_weeks=13)
        return model.fit(panel, NOISY_ORIGIN).offsets_

    base = offsets(noisy)
    assert set(base) == {"q10", "q90"}
    future = noisy.with_columns(
        pl.when(pl.col("week") > NOISY_ORIGIN).then(pl.col("units") * 50 + 7).otherwise(pl.col("units"))
    )
    after = offsets(future)
    assert all(np.array_equal(base[c], after[c]) for c in base)
    # the held-out weeks just before the origin do drive the offsets
    held = pl.col("week").is_between(NOISY_ORIGIN - timedelta(weeks=12), NOISY_ORIGIN)
    noisier = noisy.with_columns(pl.when(held).then(pl.col("units") * 3).otherwise(pl.col("units")))
    assert not np.array_equal(offsets(noisier)["q90"], base["q90"])


def warm(start: str, seed: int = 3) -> LightGBMForecaster:
    return LightGBMForecaster(
        FeaturesConfig(),
        [0.1, 0.5, 0.9],
        seed=seed,
        params=SMALL,
        max_horizon=8,
        quantile_start=start,
        quantile_params={"num_iterations": 10},
    )


@pytest.mark.parametrize("start", ["mean", "median"])
def test_warm_started_quantiles_continue_the_named_booster(panel: pl.DataFrame, start: str) -> None:
    fitted = warm(start).fit(panel, ORIGIN)
    first = "mean" if start == "mean" else "q50"
    jobs = fitted.sub_fits()
    for job in ["q10", "q50", "q90"]:
        if job == first:
            assert fitted.models_[job].num_trees() == SMALL["num_iterations"]
            continue
        assert fitted.starts_from(job) == first
        assert jobs.index(first) < jobs.index(job)  # trained after the booster it continues
        # its own rounds only, learnt on top of the other booster's scores
        assert fitted.models_[job].num_trees() == 10
    again = warm(start).fit(panel, ORIGIN).predict(6)
    forecasts = fitted.predict(6)
    assert_frame_equal(forecasts, again)  # same seed, same forecasts
    ordered = (pl.col("q10") <= pl.col("q50")) & (pl.col("q50") <= pl.col("q90"))
    assert forecasts.select(ordered).to_series().all()
    assert forecasts.select(pl.min_horizontal("mean", "q10") >= 0).to_series().all()
    assert forecasts["q10"].mean() < forecasts["q50"].mean() < forecasts["q90"].mean()
    # the mean booster never changes
    assert_frame_equal(forecasts.select("mean"), model().fit(panel, ORIGIN).predict(6).select("mean"))


def test_the_median_start_leaves_the_median_booster_unchanged(panel: pl.DataFrame) -> None:
    fitted, plain = warm("median").fit(panel, ORIGIN), model().fit(panel, ORIGIN)
    assert fitted.models_["q50"].model_to_string() == plain.models_["q50"].model_to_string()
    assert fitted.models_["mean"].model_to_string() == plain.models_["mean"].model_to_string()
    assert fitted.models_["q90"].model_to_string() != plain.models_["q90"].model_to_string()
    # the forecast's q90 is q50's scores plus q90's own (scaled back to units, before any sorting)
    frame = fitted._frame(fitted.matrix_, [fitted.matrix_.weeks - 1], 4, None, fitted.codes_)
    x = fitted._matrix(frame)
    own = fitted.models_["q50"].predict(x) + fitted.models_["q90"].predict(x)
    units = np.maximum((own + fitted._base(frame)) * frame["scale"].to_numpy(), 0.0)
    upper = fitted._outputs(frame).sort("store_id", "article_id", "horizon")
    expected = frame.select(*SERIES_KEY, "horizon").with_columns(pl.Series("q90", units))
    expected = expected.sort("store_id", "article_id", "horizon")
    free = _holds_with_room(upper)  # rows not scaled to hold their mean (`coherent_rows`)
    assert free.sum() > upper.height // 2
    built = np.maximum(expected["q90"].to_numpy(), upper["q50"].to_numpy())
    np.testing.assert_allclose(upper["q90"].to_numpy()[free], built[free])


def test_a_warm_started_booster_refuses_to_train_without_its_start(panel: pl.DataFrame) -> None:
    shell = warm("median")
    from forecast.models import lgbm_parts

    train = shell.feature_frame(panel, ORIGIN)
    rows = lgbm_parts.training_set(shell, train, ORIGIN, lgbm_parts.category_codes(panel))
    assert not shell.is_fitted  # the training set does not make the model fitted
    with pytest.raises(ValueError, match="pass it as `start`"):
        lgbm_parts.train_job(shell, rows, "q90")


def test_an_unknown_quantile_start_is_refused(panel: pl.DataFrame) -> None:
    with pytest.raises(ValueError, match="`quantile_start` must be one of"):
        warm("median_of_means").fit(panel, ORIGIN)
