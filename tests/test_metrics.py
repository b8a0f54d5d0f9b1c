"""Accuracy metrics on hand-computed cases."""

from __future__ import annotations

import math
from datetime import date, timedelta

import polars as pl
import pytest

from forecast import metrics


@pytest.fixture
def rows() -> pl.DataFrame:
    # errors f - y: +1, -2, 0, +3
    return pl.DataFrame(
        {
            "units": [2.0, 4.0, 0.0, 6.0],
            "mean": [3.0, 2.0, 0.0, 9.0],
            "q10": [1.0, 3.0, 0.0, 5.0],
            "q50": [2.0, 4.0, 0.0, 8.0],
            "q90": [3.0, 5.0, 1.0, 10.0],
            "weight": [1.0, 5.0, 1.0, 1.0],
        }
    )


def test_point_metrics_by_hand(rows: pl.DataFrame) -> None:
    # |e| = 1, 2, 0, 3 -> sum 6; sum |y| = 12
    assert metrics.wape(rows) == pytest.approx(6 / 12)
    assert metrics.mae(rows) == pytest.approx(6 / 4)
    assert metrics.rmse(rows) == pytest.approx(math.sqrt((1 + 4 + 0 + 9) / 4))
    assert metrics.bias(rows) == pytest.approx((1 - 2 + 0 + 3) / 4)
    # weights 1, 5, 1, 1: (1 + 10 + 0 + 3) / 8
    assert metrics.wmae(rows) == pytest.approx(14 / 8)


def test_pinball_and_coverage_by_hand(rows: pl.DataFrame) -> None:
    # q10: y - f = 1, 1, 0, 1 -> 0.1 each -> mean 0.3/4 = 0.075
    # q50: y - f = 0, 0, 0, -2 -> 0.5*2 = 1 -> mean 0.25
    # q90: y - f = -1, -1, -1, -4 -> 0.1*(1+1+1+4) = 0.7 -> mean 0.175
    assert metrics.pinball(rows) == pytest.approx((0.075 + 0.25 + 0.175) / 3)
    assert metrics.pinball(rows, quantile_cols=["q50"]) == pytest.approx(0.25)
    # inside [q10, q90]: 2 in [1,3] yes; 4 in [3,5] yes; 0 in [0,1] yes; 6 in [5,10] yes
    assert metrics.coverage_80(rows) == 1.0
    # q10 + 1 -> [2,3] holds 2, [4,5] holds 4, [1,1] misses 0, [6,10] holds 6
    assert metrics.coverage_80(rows.with_columns(pl.col("q10") + 1.0)) == pytest.approx(0.75)


def test_wape_undefined_without_actuals() -> None:
    frame = pl.DataFrame({"units": [0.0, 0.0], "mean": [1.0, 0.0]})
    assert math.isnan(metrics.wape(frame))
    assert math.isnan(metrics.mae(frame.clear()))


def test_quantile_columns_parsed_and_sorted() -> None:
    assert metrics.quantile_columns(["q90", "mean", "q5", "q97.5", "quantity"]) == {
        "q5": 0.05,
        "q90": 0.9,
        "q97.5": 0.975,
    }


def _history(values: dict[str, list[float]]) -> pl.DataFrame:
    start = date(2024, 1, 1)
    return pl.DataFrame(
        [
            (article, "s", start + timedelta(weeks=i), v)
            for article, series in values.items()
            for i, v in enumerate(series)
        ],
        schema=["article_id", "store_id", "week", "units"],
        orient="row",
    )


def test_mase_naive_scale_and_mean_over_series() -> None:
    # naive in-sample |diffs|: a = 2, 2 -> scale 2; b = 1 -> scale 1; c constant -> scale 0 (skipped)
    train = _history({"a": [1.0, 3.0, 1.0], "b": [5.0, 4.0], "c": [2.0, 2.0]})
    test = pl.DataFrame(
        {
            "article_id": ["a", "a", "b", "c"],
            "store_id": ["s"] * 4,
            "units": [2.0, 2.0, 4.0, 2.0],
            "mean": [4.0, 2.0, 7.0, 9.0],
        }
    )
    # a: MAE (2 + 0)/2 = 1 -> 1/2; b: 3/1 = 3 -> mean (0.5 + 3)/2
    assert metrics.mase(test, train) == pytest.approx(1.75)


def test_mase_seasonal_scale_when_history_is_longer_than_season() -> None:
    train = _history({"a": [1.0, 5.0, 2.0, 6.0, 3.0]})
    scale = metrics.mase_scale(train, season_length=2)
    # lag-2 differences: 1, 1, 1 -> 1 (naive would be mean(4, 3, 4, 3) = 3.5)
    assert scale["mase_scale"].item() == pytest.approx(1.0)
    assert metrics.mase_scale(train, season_length=5)["mase_scale"].item() == pytest.approx(3.5)


def test_accuracy_per_group_matches_frame_functions(rows: pl.DataFrame) -> None:
    frame = pl.concat(
        [
            rows.with_columns(pl.lit("m1").alias("model")),
            rows.with_columns(pl.lit("m2").alias("model"), pl.col("mean") * 2),
        ]
    )
    out = metrics.accuracy(frame.with_columns(article_id=pl.lit("a"), store_id=pl.lit("s")))
    assert out.columns == ["model", "wape", "mae", "rmse", "bias", "mase", "pinball", "coverage_80"]
    first = out.filter(pl.col("model") == "m1").row(0, named=True)
    assert first["wape"] == pytest.approx(metrics.wape(rows))
    assert first["pinball"] == pytest.approx(metrics.pinball(rows))
    assert math.isnan(first["mase"])  # no mase_scale column
    second = out.filter(pl.col("model") == "m2").row(0, named=True)
    assert second["mae"] == pytest.approx(metrics.mae(rows.with_columns(pl.col("mean") * 2)))


def test_missing_column_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="lacks column"):
        metrics.wape(pl.DataFrame({"units": [1.0]}))
