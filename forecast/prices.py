"""Price plans: the canonical ``prices`` table, what each week charged or will charge, and plans at an origin.

The ``prices`` table (``prices.csv``) has one row per ``article_id`` × ``store_id`` × ``week`` with ``price``
and an optional ``promo`` flag (0/1); ``store_id`` ``ALL`` sets a chain-wide price, and a store's own row wins
over it. Weeks up to a forecast origin say what was charged; later weeks what is planned (a markdown
schedule). A week the table does not price falls back, in the panel, to the unit-weighted selling price of
its sales; after the origin, to the last known price of the series (carried forward, and said once).

`price_plan` gives the prices a forecast assumes for each series × week after the origin: the one input of a
what-if (`forecast.whatif`). `with_override` replaces the planned weeks by another plan (``--prices FILE``).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import TypeVar

import polars as pl

from forecast.contracts import SERIES, WEEKLY_KEY

FrameT = TypeVar("FrameT", pl.DataFrame, pl.LazyFrame)
CHAIN = "ALL"  # store_id of a chain-wide price
PLAN_COLUMNS = [*WEEKLY_KEY, "price", "list_price", "promo", "planned"]


def resolve_prices(prices: pl.DataFrame | None, rows: FrameT) -> FrameT:
    """`rows` (article_id, store_id, week, ...) with ``_table_price`` and ``_table_promo`` from `prices`.

    A store's own row wins over the chain-wide (``ALL``) row of the same article and week; both are null
    where the table has no row.

    Examples
    --------
    >>> from datetime import date
    >>> prices = pl.DataFrame({"article_id": ["a", "a"], "store_id": ["ALL", "s2"],
    ...     "week": [date(2024, 1, 1)] * 2, "price": [10.0, 8.0]})
    >>> rows = pl.DataFrame({"article_id": ["a", "a"], "store_id": ["s1", "s2"],
    ...     "week": [date(2024, 1, 1)] * 2})
    >>> resolve_prices(prices, rows)["_table_price"].to_list()
    [10.0, 8.0]
    """
    if prices is None or prices.height == 0:
        return rows.with_columns(
            pl.lit(None, pl.Float64).alias("_table_price"), pl.lit(None, pl.Float64).alias("_table_promo")
        )
    table = prices.select(
        pl.col("article_id").cast(pl.Utf8),
        pl.col("store_id").cast(pl.Utf8),
        pl.col("week").cast(pl.Date),
        pl.col("price").cast(pl.Float64).alias("_p"),
        (pl.col("promo") if "promo" in prices.columns else pl.lit(None)).cast(pl.Float64).alias("_promo"),
    )
    own = table.filter(pl.col("store_id") != CHAIN)
    chain = (
        table.filter(pl.col("store_id") == CHAIN)
        .drop("store_id")
        .rename({"_p": "_p_chain", "_promo": "_promo_chain"})
    )
    if isinstance(rows, pl.LazyFrame):
        out: FrameT = rows.join(own.lazy(), on=WEEKLY_KEY, how="left", maintain_order="left").join(
            chain.lazy(), on=["article_id", "week"], how="left", maintain_order="left"
        )
    else:
        out = rows.join(own, on=WEEKLY_KEY, how="left", maintain_order="left").join(
            chain, on=["article_id", "week"], how="left", maintain_order="left"
        )
    return out.with_columns(
        pl.coalesce("_p", "_p_chain").alias("_table_price"),
        pl.coalesce("_promo", "_promo_chain").alias("_table_promo"),
    ).drop("_p", "_p_chain", "_promo", "_promo_chain")


def weekly_prices(sales: pl.DataFrame, week_label: str = "MON", is_end: bool = False) -> pl.DataFrame:
    """The prices table of transaction lines: each article × store × week's unit-weighted mean price (what
    a source without a prices table, such as H&M's transactions, charged), from lines with units > 0.

    Examples
    --------
    >>> from datetime import date
    >>> lines = pl.DataFrame({"date": [date(2024, 1, 2), date(2024, 1, 3)], "store_id": ["1", "1"],
    ...     "article_id": ["a", "a"], "units": [1.0, 3.0], "price": [10.0, 6.0]})
    >>> weekly_prices(lines)["price"].to_list()
    [7.0]
    """
    from forecast.calendar import week_of

    sold = sales.filter((pl.col("units") > 0) & pl.col("price").is_not_null())
    keys = [pl.col(c).cast(pl.Utf8) for c in SERIES] + [week_of("date", week_label, is_end).alias("week")]
    revenue = (pl.col("price") * pl.col("units")).sum() / pl.col("units").sum()
    weekly = sold.group_by(keys).agg(revenue.alias("price"))
    return weekly.select(*WEEKLY_KEY, "price", pl.lit(None, pl.Float64).alias("promo")).sort(WEEKLY_KEY)


def with_override(prices: pl.DataFrame | None, override: pl.DataFrame, after: date) -> pl.DataFrame:
    """`prices` whose weeks after `after` are replaced, key by key, by the rows of `override` after it.

    Rows of `override` up to `after` are left out: what was charged is history, not a plan.
    """
    columns = ["article_id", "store_id", "week", "price", "promo"]
    planned = _normalised(override).filter(pl.col("week") > after)
    if prices is None:
        return planned
    kept = _normalised(prices).join(planned.select(WEEKLY_KEY), on=WEEKLY_KEY, how="anti")
    return pl.concat([kept, planned]).select(columns).sort(WEEKLY_KEY)


def _normalised(prices: pl.DataFrame) -> pl.DataFrame:
    promo = pl.col("promo") if "promo" in prices.columns else pl.lit(None)
    return prices.select(
        pl.col("article_id").cast(pl.Utf8),
        pl.col("store_id").cast(pl.Utf8),
        pl.col("week").cast(pl.Date),
        pl.col("price").cast(pl.Float64),
        promo.cast(pl.Float64).alias("promo"),
    )


def price_plan(
    history: pl.DataFrame,
    prices: pl.DataFrame | None,
    origin: date,
    horizon: int,
    series: pl.DataFrame,
    ends: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """The price each of `series` × weeks origin+1..origin+`horizon` assumes (`PLAN_COLUMNS`).

    ``price`` and ``promo`` come from `prices` (`resolve_prices`); a week without a planned price carries
    the series' last price up to the origin forward (``planned`` is False there, except after the article's
    end of sale in `ends`, `forecast.panel.sale_ends`: nothing is sold then, so no price is missing).
    ``list_price`` is the series' list price at the origin (the panel's).

    Parameters
    ----------
    history
        The panel up to `origin` (``price`` and ``list_price`` columns).
    prices
        The canonical prices table, or None.
    series
        article_id, store_id of the series to plan.
    """
    weeks = pl.DataFrame(
        {"week": [origin + timedelta(weeks=h) for h in range(1, horizon + 1)]}, schema={"week": pl.Date}
    )
    keys = series.select(pl.col(c).cast(pl.Utf8) for c in SERIES).unique()
    last = last_prices(history, origin)
    grid = keys.join(weeks, how="cross").join(last, on=SERIES, how="left")
    grid = resolve_prices(prices, grid)
    over = pl.lit(False)
    if ends is not None and ends.height:
        grid = grid.join(ends.select("article_id", "end_week"), on="article_id", how="left")
        over = pl.col("end_week").is_not_null() & (pl.col("week") > pl.col("end_week"))
    return grid.select(
        *WEEKLY_KEY,
        pl.coalesce("_table_price", "_last_price").alias("price"),
        pl.col("_list_price").alias("list_price"),
        pl.col("_table_promo").fill_null(0.0).alias("promo"),
        (pl.col("_table_price").is_not_null() | over).alias("planned"),
    ).sort(WEEKLY_KEY)


def with_plan_price(forecasts: pl.DataFrame, plan: pl.DataFrame | None) -> pl.DataFrame:
    """`forecasts` with ``price``: the price the plan gave each row's series and week (null where none)."""
    if plan is None or forecasts.height == 0:
        return forecasts.with_columns(pl.lit(None, pl.Float64).alias("price"))
    planned = plan.select(*WEEKLY_KEY, pl.col("price").cast(pl.Float64))
    return forecasts.join(planned, on=WEEKLY_KEY, how="left", maintain_order="left")


def last_prices(history: pl.DataFrame, origin: date) -> pl.DataFrame:
    """article_id, store_id, ``_last_price``, ``_list_price``: each series' last known prices at `origin`."""
    cols = [c for c in ("price", "list_price") if c in history.columns]
    known = history.filter(pl.col("week") <= origin).sort([*SERIES, "week"])
    last = known.group_by(SERIES).agg(
        *[pl.col(c).drop_nulls().last().cast(pl.Float64).alias(f"_{c}") for c in cols]
    )
    last = last.rename({"_price": "_last_price"}) if "price" in cols else last
    for name in ("_last_price", "_list_price"):
        if name not in last.columns:
            last = last.with_columns(pl.lit(None, pl.Float64).alias(name))
    return last.with_columns(pl.col(SERIES).cast(pl.Utf8)).with_columns(
        pl.coalesce("_list_price", "_last_price").alias("_list_price")
    )


def carried_message(plan: pl.DataFrame) -> str | None:
    """The one line a run prints when some planned weeks had no price (None when every week had one)."""
    carried = plan.filter(~pl.col("planned"))
    if carried.height == 0:
        return None
    series = carried.select(SERIES).unique().height
    return (
        f"no planned price for {carried.height:,} series × week(s) of {series:,} series after the origin: "
        "their last known price carries forward (give prices.csv rows for those weeks, or --prices FILE)"
    )


__all__ = [
    "CHAIN",
    "PLAN_COLUMNS",
    "carried_message",
    "last_prices",
    "price_plan",
    "resolve_prices",
    "weekly_prices",
    "with_plan_price",
    "with_override",
]
