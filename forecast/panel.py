"""The article × store × week panel every model learns from.

`build_panel` turns a `Dataset`'s sales (transaction lines or weekly rows) into one row per article × store ×
week, zero-filled inside each article × store's selling life: from the first to the last week the source has a
row for it. Columns (the contract, in this order): see `PANEL_SCHEMA`.

- ``units`` is net sales (returns already subtracted); ``returns_units`` records the returned units (>= 0).
- ``price`` is the week's price in the ``prices`` table (`forecast.prices`) when it has one, else the
  unit-weighted average selling price of the week; a week without priced sales carries the
  last known price forward, and before any known price falls back to the list price.
- ``list_price`` comes from the catalogue; where it has none, the highest price the article × store has
  sold at so far (never a later price, so it cannot leak the future).
  ``discount`` = 1 - price / list_price, clipped to [0, 1].
- ``on_hand`` is the stock at the end of the week from ``Dataset.stock``; ``censored`` marks weeks whose
  demand was cut by a stockout: the week ended with no stock (sold out, or nothing to sell all week), or the
  week's sales used up all the stock the previous week ended with when the week's own count is missing.
- ``is_holiday`` is the calendar's flag (`forecast.calendar.FLAGGED_HOLIDAYS`) or the source's own flag.
- Sales of catalogue articles marked ``is_future`` are never history and are left out.
"""

from __future__ import annotations

import polars as pl

from forecast.calendar import is_holiday_week, week_of
from forecast.contracts import SERIES, WEEKLY_KEY, quantile_columns
from forecast.dataset import Dataset
from forecast.prices import resolve_prices
from forecast.schemas import PanelSchema, validate_table

PANEL_SCHEMA: dict[str, pl.DataType] = {
    "article_id": pl.Utf8(),
    "store_id": pl.Utf8(),
    "week": pl.Date(),
    "units": pl.Float64(),
    "returns_units": pl.Float64(),
    "price": pl.Float64(),
    "list_price": pl.Float64(),
    "discount": pl.Float64(),
    "on_hand": pl.Float64(),
    "censored": pl.Boolean(),
    "is_holiday": pl.Boolean(),
    "category": pl.Utf8(),
}


def _sales(ds: Dataset) -> pl.LazyFrame:
    """Canonical sales with string keys, Float64 units and price, minus the sales of future articles."""
    sales = ds.sales.lazy()
    if "price" not in ds.sales.columns:
        sales = sales.with_columns(pl.lit(None, pl.Float64).alias("price"))
    sales = sales.with_columns(
        pl.col("article_id").cast(pl.Utf8),
        pl.col("store_id").cast(pl.Utf8),
        pl.col("units").cast(pl.Float64),
        pl.col("price").cast(pl.Float64),
        week_of("date", ds.week_label, ds.week_label_is_end).alias("week"),
    )
    if "is_future" in ds.articles.columns:
        future = ds.articles.lazy().filter(pl.col("is_future").fill_null(False))
        future = future.select(pl.col("article_id").cast(pl.Utf8))
        sales = sales.join(future, on="article_id", how="anti")
    return sales


def _weekly(sales: pl.LazyFrame) -> pl.LazyFrame:
    """Sum lines per article × store × week: net units, returned units, unit-weighted selling price."""
    priced = (pl.col("units") > 0) & pl.col("price").is_not_null()
    # plain column sums keep the group-by on its fast path
    lines = sales.select(
        *SERIES,
        "week",
        "units",
        (-pl.col("units")).clip(lower_bound=0.0).alias("returns_units"),
        pl.when(priced).then(pl.col("price") * pl.col("units")).otherwise(0.0).alias("_revenue"),
        pl.when(priced).then(pl.col("units")).otherwise(0.0).alias("_priced_units"),
    )
    weekly = lines.group_by(WEEKLY_KEY).agg(
        pl.col("units", "returns_units", "_revenue", "_priced_units").sum()
    )
    sold_price = pl.col("_revenue") / pl.when(pl.col("_priced_units") > 0).then(pl.col("_priced_units"))
    return weekly.select(*SERIES, "week", "units", "returns_units", sold_price.alias("sold_price"))


def _join_in_order(left: pl.LazyFrame, right: pl.LazyFrame, on: str | list[str]) -> pl.LazyFrame:
    """Left join keeping the left row order (an unordered join and one integer sort are the cheap way)."""
    joined = left.with_row_index("_row").join(right, on=on, how="left")
    return joined.sort("_row").drop("_row")


def _life_grid(weekly: pl.LazyFrame, stock: pl.LazyFrame | None) -> pl.LazyFrame:
    """Every week from the first to the last week of each article × store, sorted by series and week.

    The life ends at the later of the last sale and the last stock count of the series: weeks on the shelf
    after the last sale (unsold stock, or an empty shelf whose demand is censored) are part of it.
    """
    life = weekly.group_by(SERIES).agg(
        pl.col("week").min().alias("first"), pl.col("week").max().alias("last")
    )
    if stock is not None:
        counted = stock.group_by(SERIES).agg(pl.col("week").max().alias("_counted"))
        life = life.join(counted, on=SERIES, how="left").with_columns(
            pl.max_horizontal("last", "_counted").alias("last")
        )
    return (
        life.sort(SERIES).select(*SERIES, pl.date_ranges("first", "last", "1w").alias("week")).explode("week")
    )


def _with_prices(panel: pl.LazyFrame, articles: pl.DataFrame, prices: pl.DataFrame | None) -> pl.LazyFrame:
    """Add price, list_price and discount; a week the prices table prices takes its price."""
    catalogue_cols = [c for c in ("category", "list_price") if c in articles.columns]
    catalogue = articles.lazy().select(pl.col("article_id").cast(pl.Utf8), *catalogue_cols)
    for name, dtype in (("category", pl.Utf8), ("list_price", pl.Float64)):
        if name not in catalogue_cols:
            catalogue = catalogue.with_columns(pl.lit(None, dtype).alias(name))
    catalogue = catalogue.with_columns(
        pl.col("category").cast(pl.Utf8), pl.col("list_price").cast(pl.Float64)
    )
    panel = _join_in_order(panel, catalogue.unique("article_id"), "article_id")
    list_price = pl.coalesce(
        pl.col("list_price"), pl.col("sold_price").cum_max().forward_fill().over(SERIES, order_by="week")
    )
    if prices is not None:
        panel = resolve_prices(prices, panel).drop("_table_promo")
        charged = pl.coalesce("_table_price", "sold_price")
    else:
        charged = pl.col("sold_price")
    price = pl.coalesce(charged.forward_fill().over(SERIES, order_by="week"), pl.col("list_price"))
    panel = panel.with_columns(list_price.alias("list_price")).with_columns(price.alias("price"))
    discount = (1.0 - pl.col("price") / pl.col("list_price")).clip(0.0, 1.0)
    return panel.with_columns(pl.when(pl.col("list_price") > 0).then(discount).alias("discount"))


def _stock(ds: Dataset) -> pl.LazyFrame | None:
    if ds.stock is None:
        return None
    stock = ds.stock.lazy().select(
        pl.col("article_id").cast(pl.Utf8),
        pl.col("store_id").cast(pl.Utf8),
        week_of("week", ds.week_label, ds.week_label_is_end).alias("week"),
        pl.col("week").alias("counted"),
        pl.col("on_hand").cast(pl.Float64),
    )
    # the last count inside a week is the stock at its end
    return stock.group_by(WEEKLY_KEY).agg(pl.col("on_hand").sort_by("counted").last())


def _with_stock(panel: pl.LazyFrame, stock: pl.LazyFrame | None) -> pl.LazyFrame:
    """Add on_hand and censored."""
    if stock is None:
        return panel.with_columns(pl.lit(None, pl.Float64).alias("on_hand"), pl.lit(False).alias("censored"))
    panel = _join_in_order(panel, stock, WEEKLY_KEY)
    previous = pl.col("on_hand").shift(1).over(SERIES, order_by="week")
    sold_out = pl.col("on_hand") <= 0
    used_up = pl.col("on_hand").is_null() & (pl.col("units") > 0) & (pl.col("units") >= previous)
    return panel.with_columns((sold_out | used_up).fill_null(False).alias("censored"))


def _with_holidays(panel: pl.LazyFrame, sales: pl.LazyFrame, ds: Dataset) -> pl.LazyFrame:
    """Calendar holiday weeks (computed once per week), or weeks the source flags."""
    weeks = panel.select("week").unique()
    holiday = is_holiday_week("week", ds.week_label_is_end)
    if "is_holiday" in ds.sales.columns:
        flagged = sales.group_by("week").agg(pl.col("is_holiday").cast(pl.Boolean).any().alias("_source"))
        weeks = weeks.join(flagged, on="week", how="left")
        holiday = holiday | pl.col("_source").fill_null(False)
    weeks = weeks.select("week", holiday.alias("is_holiday"))
    return _join_in_order(panel, weeks, "week")


def build_panel(ds: Dataset) -> pl.LazyFrame:
    """Article × store × week panel of `ds`, zero-filled inside each series' selling life.

    Parameters
    ----------
    ds
        Canonical dataset; ``ds.grain`` may be ``"transactions"`` (one row per sales line, negative units =
        returns) or ``"weekly"`` (one row per week, dated by any day of it).

    Returns
    -------
    pl.LazyFrame
        Columns `PANEL_SCHEMA`, sorted by article_id, store_id, week.

    Examples
    --------
    >>> from datetime import date
    >>> sales = pl.DataFrame({"date": [date(2024, 1, 2), date(2024, 1, 16)], "store_id": ["s1", "s1"],
    ...     "article_id": ["a1", "a1"], "units": [2.0, 1.0], "price": [10.0, 8.0]})
    >>> ds = Dataset("toy", sales, pl.DataFrame({"article_id": ["a1"]}), pl.DataFrame({"store_id": ["s1"]}))
    >>> build_panel(ds).collect()["units"].to_list()
    [2.0, 0.0, 1.0]
    """
    # both are read twice below; cache them so the transactions are scanned and summed once
    sales = _sales(ds).cache()
    weekly = _weekly(sales).cache()
    stock = _stock(ds)
    stock = stock.cache() if stock is not None else None
    panel = (
        _life_grid(weekly, stock)
        .pipe(_join_in_order, weekly, WEEKLY_KEY)
        .with_columns(pl.col("units", "returns_units").fill_null(0.0))
    )
    panel = _with_prices(panel, ds.articles, ds.prices)
    panel = _with_stock(panel, stock)
    panel = _with_holidays(panel, sales, ds)
    # the grid is sorted and every join keeps its order
    return panel.select([pl.col(name).cast(dtype) for name, dtype in PANEL_SCHEMA.items()])


def check_panel(panel: pl.DataFrame) -> pl.DataFrame:
    """`panel` after `PanelSchema`'s checks (columns, types, one row per series × week); what reads a checked
    panel needs no casts. A failure raises `InputError`."""
    validate_table(panel, PanelSchema, name="panel")
    return panel


def sale_ends(ds: Dataset) -> pl.DataFrame:
    """article_id, end_week: the last week each catalogue article is planned to be on sale.

    From the catalogue's ``end_date`` (the last day on sale), as the label of the week that holds it (as the
    panel labels weeks). Articles without an end date are left out; empty when the catalogue has no
    ``end_date``.
    """
    schema = {"article_id": pl.Utf8(), "end_week": pl.Date()}
    articles = ds.articles
    if "end_date" not in articles.columns or articles.height == 0:
        return pl.DataFrame(schema=schema)
    ends = articles.filter(pl.col("end_date").is_not_null()).select(
        pl.col("article_id").cast(pl.Utf8),
        week_of("end_date", ds.week_label, ds.week_label_is_end).alias("end_week"),
    )
    return ends.unique("article_id", keep="first")


def cut_at_sale_end(forecasts: pl.DataFrame, ends: pl.DataFrame) -> pl.DataFrame:
    """Forecasts with mean and every quantile set to 0 on weeks after the article's planned end of sale.

    A retailer that has planned an article's last week sells none of it afterwards; forecasting demand there
    would only send stock to be left over. `ends` is `sale_ends`' frame; rows of articles without an end stay.
    """
    if ends.height == 0 or forecasts.height == 0:
        return forecasts
    values = ["mean", *quantile_columns(forecasts.columns)]
    joined = forecasts.join(ends, on="article_id", how="left")
    over = pl.col("end_week").is_not_null() & (pl.col("week") > pl.col("end_week"))
    cut = joined.with_columns(pl.when(over).then(0.0).otherwise(pl.col(c)).alias(c) for c in values)
    return cut.drop("end_week")


def empty_panel() -> pl.DataFrame:
    """A panel with no rows and the contract's columns."""
    return pl.DataFrame(schema=PANEL_SCHEMA)


__all__ = [
    "PANEL_SCHEMA",
    "SERIES",
    "build_panel",
    "check_panel",
    "cut_at_sale_end",
    "empty_panel",
    "sale_ends",
]
