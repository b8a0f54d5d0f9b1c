"""The vectorised naive, seasonal naive and window average equal statsforecast's per-series path."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forecast.models import baselines
from forecast.models.baselines import VECTORISED, StatsForecastModel

START = date(2023, 1, 2)


def panel_of(histories: list[tuple[int, list[float]]]) -> pl.DataFrame:
    """Series i starts `offset` weeks after START; its rows are its values, week after week."""
    rows = [
        (f"a{i}", f"s{i % 3}", START + timedelta(weeks=offset + w), value)
        for i, (offset, values) in enumerate(histories)
        for w, value in enumerate(values)
    ]
    return pl.DataFrame(rows, schema=["article_id", "store_id", "week", "units"], orient="row")


def both_paths(
    model: StatsForecastModel, panel: pl.DataFrame, origin: date, horizon: int
) -> tuple[pl.DataFrame, pl.DataFrame]:
    series = panel.select("article_id", "store_id").unique(maintain_order=True)
    fast = model.fit(panel, origin).predict(horizon, series)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(baselines, "VECTORISED", ())
        slow = model.fit(panel, origin).predict(horizon, series)
    return fast, slow


def assert_same(fast: pl.DataFrame, slow: pl.DataFrame) -> None:
    assert fast.columns == slow.columns
    assert fast.select("article_id", "store_id", "week", "horizon").equals(
        slow.select("article_id", "store_id", "week", "horizon")
    )
    for column in fast.columns[5:]:
        got, want = fast[column].to_numpy(), slow[column].to_numpy()
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=0, err_msg=column)


def random_histories(rng: np.random.Generator, count: int, weeks: int) -> list[tuple[int, list[float]]]:
    """Poisson, intermittent, constant and single-week series; some stop selling before the origin."""
    histories = []
    for i in range(count):
        length = int(rng.integers(1, weeks + 1))
        kind = i % 4
        if kind == 0:
            values = rng.poisson(rng.uniform(0.5, 20), length).astype(float)
        elif kind == 1:
            values = rng.poisson(0.3, length) * rng.integers(1, 5, length).astype(float)
        elif kind == 2:
            values = np.full(length, float(rng.integers(0, 6)))
        else:
            values = np.round(rng.gamma(2.0, 3.0, length), 2)
        end = weeks - int(rng.integers(0, 12)) if i % 5 == 0 else weeks  # stopped selling: padded with zeros
        offset = max(0, end - length)
        histories.append((offset, values[: end - offset].tolist() or [values[0]]))
    return histories


@pytest.mark.parametrize("method", VECTORISED)
@pytest.mark.parametrize(("horizon", "season_length"), [(1, 52), (4, 52), (8, 13), (12, 5)])
def test_vectorised_equals_statsforecast_on_a_varied_panel(
    method: str, horizon: int, season_length: int
) -> None:
    rng = np.random.default_rng(horizon * 100 + season_length)
    weeks = 90
    panel = panel_of(random_histories(rng, 240, weeks))
    origin = START + timedelta(weeks=weeks - 1)
    model = StatsForecastModel(
        method, quantiles=[0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95], season_length=season_length, window_size=4
    )
    fast, slow = both_paths(model, panel, origin, horizon)
    assert fast.height == 240 * horizon
    assert_same(fast, slow)


def test_the_varied_panel_reaches_every_branch() -> None:
    """Short series, padded ones, series shorter than a season, conformal and residual bands all occur."""
    rng = np.random.default_rng(4 * 100 + 52)
    histories = random_histories(rng, 240, 90)
    lengths = np.array([90 - offset for offset, _ in histories])  # first week to the origin, padding included
    observed = np.array([len(values) for _, values in histories])
    assert (observed < lengths).any()  # zero-padded to the origin
    assert (lengths < 52).any()  # seasonal naive: the naive fallback
    assert (lengths >= 52).any()
    assert (lengths < 4).any()  # window average: naive fallback
    assert ((lengths >= 4) & (lengths < 2 * 4 + 1)).any()  # residual band
    assert (lengths >= 2 * 4 + 1).any()  # conformal band
    assert any(len(set(values)) == 1 and len(values) > 3 for _, values in histories)  # constant series


history = st.tuples(
    st.integers(0, 6),
    st.lists(st.sampled_from([0.0, 0.0, 1.0, 2.0, 3.0, 7.5, 40.0]), min_size=1, max_size=40),
)


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(
    histories=st.lists(history, min_size=1, max_size=8),
    method=st.sampled_from(VECTORISED),
    horizon=st.integers(1, 6),
    season_length=st.integers(1, 12),
    window_size=st.integers(1, 6),
    conformal_weeks=st.integers(1, 30),
    residual_weeks=st.integers(1, 30),
    extra_weeks=st.integers(0, 5),
)
def test_vectorised_equals_statsforecast_on_generated_panels(
    histories: list[tuple[int, list[float]]],
    method: str,
    horizon: int,
    season_length: int,
    window_size: int,
    conformal_weeks: int,
    residual_weeks: int,
    extra_weeks: int,
) -> None:
    panel = panel_of(histories)
    origin = panel["week"].max() + timedelta(weeks=extra_weeks)  # extra_weeks > 0: every series is padded
    model = StatsForecastModel(
        method,
        season_length=season_length,
        window_size=window_size,
        conformal_weeks=conformal_weeks,
        residual_weeks=residual_weeks,
    )
    fast, slow = both_paths(model, panel, origin, horizon)
    assert_same(fast, slow)


def test_unknown_and_non_finite_series_take_the_per_series_path() -> None:
    panel = panel_of([(0, [1.0, 2.0, 3.0, 4.0, 5.0]), (0, [1.0, float("nan"), 3.0, 4.0, 5.0])])
    origin = START + timedelta(weeks=4)
    series = pl.DataFrame({"article_id": ["a0", "a1", "new"], "store_id": ["s0", "s1", "s0"]})
    for method in VECTORISED:
        model = StatsForecastModel(method, season_length=3)
        fast = model.fit(panel, origin).predict(2, series)
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(baselines, "VECTORISED", ())
            slow = model.fit(panel, origin).predict(2, series)
        assert_same(fast, slow)
        assert fast.filter(pl.col("article_id") == "new")["mean"].to_list() == [0.0, 0.0]
