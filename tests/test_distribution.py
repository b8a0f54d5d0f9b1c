"""The one demand distribution per forecast row: hand cases and properties on random forecasts."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from forecast.distribution import DemandDistribution, coherent_forecasts, lowest_mean

LEVELS = np.array([0.1, 0.5, 0.9])


def _one(mean: float, q: list[float]) -> DemandDistribution:
    return DemandDistribution.build(np.array([mean]), LEVELS, np.array([q], dtype=float))


def test_default_tails_continue_the_outer_slopes_when_they_give_the_mean() -> None:
    # q = 2, 4, 6: a0 = 2 − 0.1·(2/0.4) = 1.5, b0 = 6 + 0.1·(2/0.4) = 6.5; the mean of Q is
    # 0.05·(1.5 + 2) + 0.4·(2 + 4)/2 + 0.4·(4 + 6)/2 + 0.05·(6 + 6.5) = 4
    d = _one(4.0, [2, 4, 6])
    np.testing.assert_allclose(d.knot_values[0], [1.5, 2, 4, 6, 6.5])
    assert d.quantile(np.array([1.0]))[0] == pytest.approx(6.5)
    assert d.quantile(np.array([0.0]))[0] == pytest.approx(1.5)


def test_a_higher_mean_stretches_the_upper_tail() -> None:
    # q = 2, 4, 7 with default tails has mean 4.3125; mean 5 needs b = 7.75 + (5 − 4.3125)/0.05 = 21.5
    d = _one(5.0, [2, 4, 7])
    assert d.knot_values[0, -1] == pytest.approx(21.5)
    assert d.distribution_mean()[0] == pytest.approx(5.0)
    # intermittent: q = 0, 0, 0 and mean 0.3: 90% at zero, 10% spread over 0..6
    d = _one(0.3, [0, 0, 0])
    np.testing.assert_allclose(d.knot_values[0], [0, 0, 0, 0, 6])
    # E[min(D, 1)] = 0.1·E[min(U(0, 6), 1)] = 0.1·(1·5/6 + 0.5·1/6)
    assert d.expected_sales(np.array([1.0]))[0] == pytest.approx(0.1 * (5 / 6 + 1 / 12))


def test_a_lower_mean_shrinks_the_upper_tail_then_the_lower_one() -> None:
    # q = 2, 4, 6: mean = 0.05·(a + 2) + 0.4·3 + 0.4·5 + 0.05·(6 + b) = 3.6 + 0.05·(a + b), a <= 1.5, b >= 6
    d = _one(3.99, [2, 4, 6])  # b = (3.99 − 3.6 − 0.05·1.5) / 0.05 = 6.3
    np.testing.assert_allclose(d.knot_values[0], [1.5, 2, 4, 6, 6.3])
    d = _one(3.95, [2, 4, 6])  # b = q90, a = (3.95 − 3.6 − 0.05·6) / 0.05 = 1
    np.testing.assert_allclose(d.knot_values[0], [1.0, 2, 4, 6, 6])


def test_quantiles_too_high_for_the_mean_are_scaled_down() -> None:
    # q = 2, 3, 4 allow a mean of at least 0.05·2 + 0.4·2.5 + 0.4·3.5 + 0.1·4 = 2.9; mean 1.45 halves them
    rows = pl.DataFrame({"mean": [1.45], "q10": [2.0], "q50": [3.0], "q90": [4.0]})
    fixed, info = coherent_forecasts(rows)
    assert fixed.select("q10", "q50", "q90").row(0) == pytest.approx((1.0, 1.5, 2.0))
    assert fixed["mean"].item() == 1.45
    assert info.lowered == 1
    assert "too high for their mean" in info.warnings()[0]
    d = DemandDistribution.from_frame(fixed)
    assert d.distribution_mean()[0] == pytest.approx(1.45)


def test_mean_only_rows_are_poisson() -> None:
    frame = pl.DataFrame({"mean": [2.0, 0.0]})
    d = DemandDistribution.from_frame(frame)
    assert d.poisson.all()
    # Poisson(2): E[min(D, 1)] = P(D >= 1) = 1 − e⁻²; a fraction of a unit more sells when D >= 2
    assert d.expected_sales(np.array([1.0, 3.0]))[0] == pytest.approx(1 - np.exp(-2))
    assert d.expected_sales(np.array([1.5]), np.array([0]))[0] == pytest.approx(
        1 - np.exp(-2) + 0.5 * (1 - 3 * np.exp(-2))
    )
    # a row with a null quantile is Poisson too
    mixed = pl.DataFrame({"mean": [2.0, 3.0], "q10": [1.0, None], "q50": [2.0, 3.0], "q90": [3.0, 5.0]})
    assert DemandDistribution.from_frame(mixed).poisson.tolist() == [False, True]


forecast_rows = st.lists(
    st.tuples(
        st.floats(0, 50, allow_nan=False),
        st.floats(-2, 60, allow_nan=False),
        st.floats(-2, 60, allow_nan=False),
        st.floats(-2, 60, allow_nan=False),
    ),
    min_size=1,
    max_size=30,
)


@settings(max_examples=150, deadline=None)
@given(forecast_rows, st.sampled_from([None, 2]))
@example([(0.0, 0.0, 0.0, 0.0)], None)
@example([(3.0, 9.0, 1.0, 5.0)], 2)
@example([(0.004, 0.0, 0.0, 0.0)], 2)
def test_random_forecasts_become_one_distribution(rows, decimals) -> None:
    frame = pl.DataFrame(rows, schema=["mean", "q10", "q50", "q90"], orient="row")
    fixed, _ = coherent_forecasts(frame, decimals=decimals)
    q = fixed.select("q10", "q50", "q90").to_numpy()
    mean = fixed["mean"].to_numpy()
    assert (q >= 0).all()
    assert (np.diff(q, axis=1) >= 0).all()  # q10 <= q50 <= q90
    assert (lowest_mean(LEVELS, q) <= mean + 1e-9).all()  # the quantiles can hold the mean
    if decimals is not None:
        np.testing.assert_allclose(q, np.round(q, decimals), atol=1e-12)
    d = DemandDistribution.from_frame(fixed)
    np.testing.assert_allclose(d.distribution_mean(), mean, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(d.knot_values[:, 1:-1], q)  # it goes through the quantiles it was given
    # E[min(D, y)] is at most min(mean, y), grows with y and reaches the mean
    for y in (0.0, 0.5, 1.0, 3.0, 10.0):
        sales = d.expected_sales(np.full(d.size, y))
        assert (sales <= np.minimum(mean, y)).all()
        assert (sales >= 0).all()
    top = d.knot_values[:, -1].max() + 1
    np.testing.assert_allclose(d.expected_sales(np.full(d.size, top)), mean, rtol=1e-9, atol=1e-9)
    # coherent twice changes nothing
    again, info = coherent_forecasts(fixed, decimals=decimals)
    assert info.reordered == 0
    np.testing.assert_allclose(again.select("q10", "q50", "q90").to_numpy(), q, atol=1e-12)
