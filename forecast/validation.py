"""Checks and summaries of a loaded `Dataset`: the contract holds, counts reconcile, what was read.

Examples
--------
>>> import datetime as dt
>>> import polars as pl
>>> from forecast.dataset import Dataset
>>> sales = pl.DataFrame({"date": [dt.date(2024, 1, 1)], "store_id": ["s"], "article_id": ["a"],
...                       "units": [2.0], "price": [None]}, schema_overrides={"price": pl.Float64})
>>> articles = pl.DataFrame({"article_id": ["a"], "category": [None], "launch_date": [None],
...                          "list_price": [None], "unit_cost": [None], "is_future": [False]},
...                         schema_overrides={"category": pl.Utf8, "launch_date": pl.Date,
...                                           "list_price": pl.Float64, "unit_cost": pl.Float64})
>>> stores = pl.DataFrame({"store_id": ["s"], "capacity_units": [None]},
...                       schema_overrides={"capacity_units": pl.Float64})
>>> ds = Dataset("toy", sales, articles, stores, rows_read={"sales.csv": 1})
>>> check_dataset(ds)
>>> file_counts(ds).row(0)
('sales.csv', 1, 1, 0)
"""

from __future__ import annotations

from typing import Any

import pandera.polars as pa
import polars as pl

from forecast.dataset import Dataset
from forecast.errors import InputError
from forecast.schemas import (
    ArticleSchema,
    DcStockSchema,
    ExogSchema,
    PriceSchema,
    RejectSchema,
    SalesSchema,
    StockSchema,
    StoreSchema,
    TrendSchema,
    TrueDemandSchema,
    validate_table,
)

TABLE_SCHEMAS: dict[str, type[pa.DataFrameModel]] = {
    "sales": SalesSchema,
    "articles": ArticleSchema,
    "stores": StoreSchema,
    "stock": StockSchema,
    "exog": ExogSchema,
    "trends": TrendSchema,
    "dc_stock": DcStockSchema,
    "true_demand": TrueDemandSchema,
    "prices": PriceSchema,
    "rejects": RejectSchema,
}


def check_dataset(ds: Dataset) -> None:
    """Raise `InputError` unless every table matches its schema and rejected rows are within rows read."""
    for table, schema in TABLE_SCHEMAS.items():
        frame = getattr(ds, table)
        if frame is not None:
            validate_table(frame, schema, name=f"{ds.name} {table}")
    check_kept(ds)
    for name, kept in ds.rows_kept().items():
        if kept < 0:
            msg = f"more rows rejected than read ({ds.rows_read[name]:,} read)"
            raise InputError(msg, file=name, fix="report this as a bug in the adapter")
    unknown = set(ds.rejects["file"].unique().to_list()) - set(ds.rows_read)
    if unknown:
        msg = f"rejects name file(s) {sorted(unknown)} that were not counted as read"
        raise InputError(msg, fix="report this as a bug in the adapter")


def check_kept(ds: Dataset) -> None:
    """Raise `InputError` for a file whose every row was rejected (nothing of it can be used).

    The message names the most common reason, with its first row and value.
    """
    for name, kept in ds.rows_kept().items():
        read = ds.rows_read.get(name, 0)
        if read == 0 or kept > 0:
            continue
        mine = ds.rejects.filter(pl.col("file") == name)
        top = (
            mine.group_by("reason")
            .agg(pl.len().alias("n"), pl.col("row").min())
            .sort(["n", "row"], descending=[True, False])
        )
        reason, count, row = top.row(0) if top.height else ("rejected", read, None)
        first = mine.filter((pl.col("reason") == reason) & (pl.col("row") == row)).row(0, named=True)
        msg = (
            f"all {read:,} rows were rejected, most for {reason!r} ({count:,} rows, first value "
            f"{first['value']!r})"
        )
        fix = "correct the file (see `forecast validate --out DIR` for rejects.csv)"
        raise InputError(msg, file=name, column=first["column"], row=row, fix=fix)


def file_counts(ds: Dataset) -> pl.DataFrame:
    """One row per source file: ``file, rows_read, rows_kept, rows_rejected`` (read = kept + rejected)."""
    kept = ds.rows_kept()
    rows = [(name, n, kept[name], n - kept[name]) for name, n in ds.rows_read.items()]
    return pl.DataFrame(
        rows,
        schema={"file": pl.Utf8, "rows_read": pl.Int64, "rows_kept": pl.Int64, "rows_rejected": pl.Int64},
        orient="row",
    )


def rejects_by_reason(ds: Dataset) -> pl.DataFrame:
    """Rejected values counted by ``file, column, reason`` (a row may count under several reasons)."""
    return (
        ds.rejects.group_by("file", "column", "reason")
        .agg(pl.len().alias("count"), pl.col("value").drop_nulls().first().alias("example"))
        .sort("count", "file", "column", descending=[True, False, False])
    )


def summarize(ds: Dataset) -> dict[str, Any]:
    """Headline figures of a dataset: rows, date range, articles, stores, returns."""
    sales = ds.sales
    return {
        "name": ds.name,
        "grain": ds.grain,
        "target_unit": ds.target_unit,
        "sales_rows": sales.height,
        "first_date": sales["date"].min() if sales.height else None,
        "last_date": sales["date"].max() if sales.height else None,
        "articles": ds.articles.height,
        "articles_sold": sales["article_id"].n_unique(),
        "future_articles": int(ds.articles["is_future"].sum()),
        "stores": ds.stores.height,
        "stores_sold": sales["store_id"].n_unique(),
        "series": sales.select("article_id", "store_id").unique().height,
        "negative_rows": int((sales["units"] < 0).sum()),
        "rows_rejected": sum(int(n) for n in file_counts(ds)["rows_rejected"]),
    }


__all__ = ["TABLE_SCHEMAS", "check_dataset", "check_kept", "file_counts", "rejects_by_reason", "summarize"]
