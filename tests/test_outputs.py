"""Outputs as people read them: natural id order and CSV precision."""

from __future__ import annotations

import polars as pl

from forecast.ids import natural_key, natural_order
from forecast.outputs import csv_precision


def test_ids_sort_naturally_with_ties_kept_in_order() -> None:
    assert sorted(["A10", "A2", "A1", "B2", "A02"], key=natural_key) == ["A1", "A02", "A2", "A10", "B2"]
    assert sorted(["10", "9", "100", "1"], key=natural_key) == ["1", "9", "10", "100"]
    frame = pl.DataFrame(
        {"store_id": ["10", "2", "2", None], "article_id": ["A2", "A10", "A2", "A1"], "week": [1, 2, 1, 3]}
    )
    out = natural_order(frame, ["store_id", "article_id"], then=["week"])
    assert out.rows() == [("2", "A2", 1), ("2", "A10", 2), ("10", "A2", 1), (None, "A1", 3)]
    assert natural_order(frame.head(0), ["store_id"]).is_empty()


def test_csv_precision_money_to_cents_units_to_two_decimals_ratios_to_four() -> None:
    frame = pl.DataFrame(
        {
            "store_id": ["1"],
            "units": [3],
            "expected_sales": [1.23456],
            "q90": [2.71828],
            "expected_profit": [10.005001],
            "wape": [0.123456],
        }
    )
    row = csv_precision(frame).row(0, named=True)
    assert row == {
        "store_id": "1",
        "units": 3,
        "expected_sales": 1.23,
        "q90": 2.72,
        "expected_profit": 10.01,
        "wape": 0.1235,
    }


def test_csv_precision_never_rounds_a_scaled_price_to_zero() -> None:
    # H&M's prices are scaled (0.003..0.6): rounded to cents, a price under 0.005 would become 0 and the
    # derived DC stock would fail its own `price > 0` check
    frame = pl.DataFrame({"price": [0.0031234, 0.0169, 0.59], "unit_cost": [0.0015617, 0.00845, 0.295]})
    out = csv_precision(frame)
    assert out["price"].to_list() == [0.00312, 0.0169, 0.59]
    assert (out["unit_cost"] > 0).all()
    assert (out["unit_cost"] < out["price"]).all()
