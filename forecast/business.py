"""The money model, defined once, and the backtest's newsvendor evaluation of forecasts.

**Profit.** For a store × article (or a backtest row) with price p, unit cost c, holding cost h per unit
left over and shipping cost s per unit sent:

    profit = (p − c)·sales − h·leftover − s·units_sent

`profit` is that formula; the backtest (`evaluate_rows`), the allocation objective and the plan rows
(`forecast.allocation`) all call it. A unit sold earns its margin p − c; a unit left over pays its holding
cost (its purchase cost is not lost: it is still stock); shipping is paid on the units sent.
Stock already in a store counts like the units sent, except that it pays no shipping: its sales earn p − c
and its leftovers pay h.

**Trading profit.** Over weeks in which stock is also bought (the replenishment replay), the purchases are
paid when ordered and what is left at a season's end is sold off at its salvage value v per unit:

    trading_profit = revenue + salvage − purchase_cost − holding_cost − ship_cost

**Newsvendor backtest.** For each article × store × week row:

- critical fractile tau = (p − c) / (p − c + h), clipped to [0, 1] (a row sold at or below cost gets tau = 0);
- stock = the tau-quantile of the row's demand distribution (`forecast.distribution`: Poisson(mean) for a
  mean-only forecast, else the quantile function through the row's quantiles whose mean is the row's mean);
- demand = actual units clipped at 0 (net sales below zero are returns, not negative demand);
- sales = min(demand, stock), lost = (demand − stock)+, leftover = (stock − demand)+;
- revenue = p·sales, lost_sales_cost = (p − c)·lost, holding_cost = h·leftover, profit as above (nothing is
  shipped in the backtest: s = 0).

Stock is not rounded to whole units (some sources, like Walmart, count dollars, not units).

Prices and costs per unit come from `forecast.costs`, the one place they are resolved for every job.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import numpy as np
import polars as pl

from forecast.distribution import DemandDistribution, poisson_quantile

__all__ = [
    "BUSINESS_COLUMNS",
    "business_summary",
    "cents",
    "critical_fractile",
    "evaluate_business",
    "evaluate_rows",
    "poisson_quantile",
    "profit",
    "stock_levels",
    "trading_profit",
]

Money = TypeVar("Money", float, np.ndarray, pl.Expr)

BUSINESS_COLUMNS = [
    "revenue",
    "lost_sales_units",
    "lost_sales_cost",
    "overstock_units",
    "holding_cost",
    "profit",
]


def critical_fractile(
    price_col: str = "price", unit_cost_col: str = "unit_cost", holding_cost_col: str = "holding_cost"
) -> pl.Expr:
    """tau = (p − c) / (p − c + h), clipped to [0, 1]; 1 when p − c + h is 0 with a positive margin."""
    margin = pl.col(price_col) - pl.col(unit_cost_col)
    denom = margin + pl.col(holding_cost_col)
    tau = pl.when(margin <= 0).then(0.0).when(denom > 0).then(margin / denom).otherwise(1.0)
    return tau.clip(0.0, 1.0).alias("tau")


def profit(
    sales: Money,
    leftover: Money,
    *,
    price: Money,
    unit_cost: Money,
    holding_cost: Money,
    ship_cost: Money,
    units_sent: Money,
) -> Money:
    """(price − unit_cost)·sales − holding_cost·leftover − ship_cost·units_sent, for numbers, numpy arrays or
    Polars expressions alike.

    Examples
    --------
    >>> profit(3.0, 2.0, price=10.0, unit_cost=4.0, holding_cost=0.5, ship_cost=0.25, units_sent=4.0)
    16.0
    """
    return (price - unit_cost) * sales - holding_cost * leftover - ship_cost * units_sent


def trading_profit(
    revenue: Money, *, salvage: Money, purchase_cost: Money, holding_cost: Money, ship_cost: Money
) -> Money:
    """revenue + salvage − purchase_cost − holding_cost − ship_cost: the profit of weeks in which stock is
    bought as well as sold (the replenishment replay), where `profit` judges stock already owned.

    Examples
    --------
    >>> trading_profit(100.0, salvage=6.0, purchase_cost=50.0, holding_cost=2.0, ship_cost=1.0)
    53.0
    """
    return revenue + salvage - purchase_cost - holding_cost - ship_cost


SMALL_MONEY = 0.1  # below it (scaled prices such as H&M's), money keeps this many significant digits:
SMALL_MONEY_DIGITS = 3


def cents(value: pl.Expr) -> pl.Expr:
    """Money rounded to cents; an amount under `SMALL_MONEY` keeps three significant digits instead, so a
    scaled price (H&M's are 0.003..0.6) is never rounded to 0.

    Examples
    --------
    >>> frame = pl.DataFrame({"x": [12.346, 0.123, 0.0345678, 0.00254321, 0.0, -0.0123456]})
    >>> frame.select(cents(pl.col("x")))["x"].to_list()
    [12.35, 0.12, 0.0346, 0.00254, 0.0, -0.0123]
    """
    size = value.abs()
    digits = (SMALL_MONEY_DIGITS - 1 - size.log10().floor()).clip(2, 15).cast(pl.Int32)
    scale = pl.lit(10.0).pow(digits)
    small = (value * scale).round(0) / scale
    return pl.when((size < SMALL_MONEY) & (size > 0)).then(small).otherwise(value.round(2))


def stock_levels(df: pl.DataFrame, tau_col: str = "tau", mean_col: str = "mean") -> pl.Series:
    """Stock per row: the forecast quantile at `tau_col` (see the module docstring), named ``stock_units``."""
    demand = DemandDistribution.from_frame(df, mean_col)
    values = demand.quantile(df[tau_col].cast(pl.Float64).to_numpy())
    return pl.Series("stock_units", values, dtype=pl.Float64)


def evaluate_rows(
    df: pl.DataFrame,
    *,
    target_col: str = "units",
    price_col: str = "price",
    unit_cost_col: str = "unit_cost",
    holding_cost_col: str = "holding_cost",
) -> pl.DataFrame:
    """Add tau, stock_units, sales_units, lost_sales_units, overstock_units and the money columns per row."""
    out = df.with_columns(critical_fractile(price_col, unit_cost_col, holding_cost_col))
    out = out.with_columns(stock_levels(out).clip(lower_bound=0.0))
    demand = pl.col(target_col).clip(lower_bound=0.0)
    stock = pl.col("stock_units")
    out = out.with_columns(
        pl.min_horizontal(demand, stock).alias("sales_units"),
        (demand - stock).clip(lower_bound=0.0).alias("lost_sales_units"),
        (stock - demand).clip(lower_bound=0.0).alias("overstock_units"),
    )
    p, c, h = pl.col(price_col), pl.col(unit_cost_col), pl.col(holding_cost_col)
    out = out.with_columns(
        (p * pl.col("sales_units")).alias("revenue"),
        ((p - c) * pl.col("lost_sales_units")).alias("lost_sales_cost"),
        (h * pl.col("overstock_units")).alias("holding_cost_total"),
    )
    nothing = pl.lit(0.0)  # the backtest ships nothing
    money = profit(
        pl.col("sales_units"),
        pl.col("overstock_units"),
        price=p,
        unit_cost=c,
        holding_cost=h,
        ship_cost=nothing,
        units_sent=nothing,
    )
    return out.with_columns(money.alias("profit"))


def business_summary(rows: pl.DataFrame, by: Sequence[str] = ("model",)) -> pl.DataFrame:
    """Sum the per-row outcome of `evaluate_rows` per group: the leaderboard's business columns."""
    return rows.group_by(list(by), maintain_order=True).agg(
        pl.col("revenue").sum(),
        pl.col("lost_sales_units").sum(),
        pl.col("lost_sales_cost").sum(),
        pl.col("overstock_units").sum(),
        pl.col("holding_cost_total").sum().alias("holding_cost"),
        pl.col("profit").sum(),
    )


def evaluate_business(
    df: pl.DataFrame, by: Sequence[str] = ("model",), *, target_col: str = "units"
) -> pl.DataFrame:
    """Newsvendor outcome per group of `by` from rows with actuals, forecasts, price, unit_cost, holding_cost.

    Examples
    --------
    >>> rows = pl.DataFrame({"model": ["m"], "units": [5.0], "mean": [4.0], "q10": [2.0], "q50": [4.0],
    ...     "q90": [6.0], "price": [10.0], "unit_cost": [5.0], "holding_cost": [1.0]})
    >>> evaluate_business(rows)["profit"].item()  # tau = 5/6, stock = 4 + (5/6 - .5)/.4 * 2 = 5.666...
    24.333333333333332
    """
    return business_summary(evaluate_rows(df, target_col=target_col), by)
