"""Exogenous drivers as features: promotions read at the target week (a plan), other drivers at the origin."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl

from forecast.features import build_matrix
from forecast.features.exog import exog_features, with_exog

FRI = date(2011, 1, 7)


def _panel() -> pl.DataFrame:
    weeks = [FRI + timedelta(weeks=k) for k in range(6)]
    rows = [
        {"article_id": "d1", "store_id": s, "week": w, "units": 10.0, "censored": False, "is_holiday": False}
        for s in ("1", "2")
        for w in weeks
    ]
    return pl.DataFrame(rows)


def _exog() -> pl.DataFrame:
    weeks = [FRI + timedelta(weeks=k) for k in range(9)]
    return pl.DataFrame(
        {
            "week": weeks * 2,
            "store_id": ["1"] * 9 + [None] * 9,
            "markdown1": [float(k) for k in range(9)] + [100.0 + k for k in range(9)],
            "temperature": [50.0 + k for k in range(9)] + [0.0] * 9,
        }
    )


def test_promotions_read_the_target_week_and_other_drivers_the_origin() -> None:
    panel = _panel()
    origin = FRI + timedelta(weeks=5)
    m = with_exog(build_matrix(panel, origin), _exog(), 3)
    feats = exog_features(m, 5, 2)
    # store 1 has its own rows; store 2 takes the chain-wide (null store) rows
    assert feats["f_exog_markdown1"].tolist() == [7.0, 107.0]
    assert feats["f_exog_temperature"].tolist() == [55.0, 0.0]


def test_drivers_after_the_origin_other_than_promotions_never_enter() -> None:
    panel = _panel()
    origin = FRI + timedelta(weeks=5)
    changed = _exog().with_columns(
        pl.when(pl.col("week") > origin).then(-999.0).otherwise(pl.col("temperature")).alias("temperature")
    )
    m = with_exog(build_matrix(panel, origin), _exog(), 3)
    moved = with_exog(build_matrix(panel, origin), changed, 3)
    for h in (1, 2, 3):
        assert np.array_equal(exog_features(m, 5, h)["f_exog_temperature"],
                              exog_features(moved, 5, h)["f_exog_temperature"])  # fmt: skip
