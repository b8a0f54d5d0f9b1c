"""How output tables are written for people: money to cents (three significant digits under 0.1, see
`forecast.business.cents`), units to 2 decimals, ratios to 4 decimals."""

from __future__ import annotations

import polars as pl

from forecast.business import cents
from forecast.contracts import QUANTILE_COLUMN

MONEY = frozenset(
    {
        "revenue",
        "lost_sales_cost",
        "holding_cost",
        "profit",
        "expected_profit",
        "price",
        "unit_cost",
        "ship_cost",
        "cost",
        "purchase_cost",
        "expected_profit_added",
    }
)
UNITS = frozenset(
    {
        "units",
        "mean",
        "demand_mean",
        "expected_sales",
        "expected_leftover",
        "lost_sales_units",
        "overstock_units",
        "on_hand",
        "available_units",
        "capacity_units",
        "known_stock",
        "stock_after",
        "expected_lost_sales",
    }
)
RATIO_DECIMALS = 4


def decimals_for(column: str) -> int:
    """Decimals a float column is written with.

    Examples
    --------
    >>> decimals_for("expected_profit"), decimals_for("q90"), decimals_for("wape")
    (2, 2, 4)
    """
    if column in MONEY or column in UNITS or QUANTILE_COLUMN.match(column):
        return 2
    return RATIO_DECIMALS


def csv_precision(frame: pl.DataFrame) -> pl.DataFrame:
    """`frame` with every float column rounded by `decimals_for` (money by `forecast.business.cents`: small
    scaled prices keep three significant digits; other columns untouched)."""
    floats = [c for c, dtype in frame.schema.items() if dtype.is_float()]
    return frame.with_columns(
        (cents(pl.col(c)) if c in MONEY else pl.col(c).round(decimals_for(c))).alias(c) for c in floats
    )
