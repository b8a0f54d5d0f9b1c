"""H&M transactions (``transactions_last_week.csv``, or Parquet with the same columns) and ``articles.csv``.

- The transactions file is ``[data] transactions`` (default ``transactions_last_week.csv``), else
  ``transactions_train.csv`` (the full history's name), each as CSV or Parquet.
- One transaction line is one unit sold at ``price`` (the owner's scaled price, kept as is).
- ``article_id`` is read as text and zero-padded to 10 characters so it joins the catalogue.
- ``store_id`` is the sales channel (``"1"`` = stores, ``"2"`` = online); the ``stores`` table has a
  ``channel`` attribute. A line with another channel is rejected.
- ``prices`` are each article × channel × week's unit-weighted mean price (`forecast.prices.weekly_prices`).
- ``articles`` keep all catalogue columns as attributes; ``category`` is ``product_type_name``.
"""

from __future__ import annotations

import polars as pl

from forecast.adapters.common import (
    ROW,
    check_references,
    check_unique,
    concat_rejects,
    data_folder,
    drop_rejected,
    find_table,
    parse_columns,
    read_table,
    reject_where,
    require_file,
    source_cache,
)
from forecast.config import DataConfig
from forecast.dataset import Dataset
from forecast.prices import weekly_prices
from forecast.schemas import ArticleSchema, SalesSchema, validate_rows

CHANNELS = {"1": "store", "2": "online"}
ID_WIDTH = 10
FULL_HISTORY = "transactions_train.csv"
FIX = "point [data] path (or --data) at the folder holding the transactions file and articles.csv"


def _articles(config: DataConfig) -> tuple[pl.DataFrame, pl.DataFrame, int, list[str]]:
    name = "articles.csv"
    raw = read_table(
        require_file(data_folder(config), name, FIX),
        required=["article_id", "product_type_name"],
        cache=source_cache(config),
    )
    _, rejects = parse_columns(raw, {"article_id": "id"}, file=name, not_null=["article_id"])
    attributes = [c for c in raw.columns if c not in ("article_id", ROW)]
    articles = drop_rejected(raw, rejects, file=name).select(
        pl.col("article_id").str.zfill(ID_WIDTH),
        pl.col("product_type_name").alias("category"),
        pl.lit(None, pl.Date).alias("launch_date"),
        pl.lit(None, pl.Float64).alias("list_price"),
        pl.lit(None, pl.Float64).alias("unit_cost"),
        pl.lit(False).alias("is_future"),
        *attributes,
        ROW,
    )
    kept, more = validate_rows(articles, ArticleSchema, file=name)
    check_unique(kept, ["article_id"], file=name, what="article")
    return kept, concat_rejects([rejects, more]), raw.height, attributes


def _transactions(config: DataConfig) -> tuple[pl.DataFrame, pl.DataFrame, int, str]:
    folder = data_folder(config)
    # the full two-year file is named transactions_train; use it when the configured file is absent
    path = find_table(folder, config.transactions) or find_table(folder, FULL_HISTORY)
    if path is None:
        path = require_file(folder, config.transactions, FIX)
    name = path.name
    required = ["t_dat", "article_id", "price", "sales_channel_id"]
    # customer_id (a 64-character hash on every line) is never read into memory
    raw = read_table(path, required=required, columns=required, cache=source_cache(config))
    typed, rejects = parse_columns(
        raw,
        {"t_dat": "date", "price": "float", "article_id": "id"},
        file=name,
        not_null=["article_id", "sales_channel_id"],
        non_negative=["price"],
        dates=(config.date_min, config.date_max),
    )
    unknown = pl.col("sales_channel_id").is_not_null() & ~pl.col("sales_channel_id").is_in(list(CHANNELS))
    channel = reject_where(
        typed,
        unknown,
        file=name,
        column="sales_channel_id",
        reason=f"unknown sales channel (expected {list(CHANNELS)})",
    )
    rejects = concat_rejects([rejects, channel])
    sales = drop_rejected(typed, rejects, file=name).select(
        pl.col("t_dat").alias("date"),
        pl.col("sales_channel_id").alias("store_id"),
        pl.col("article_id").str.zfill(ID_WIDTH),
        pl.lit(1.0).alias("units"),
        pl.col("price"),
        ROW,
    )
    kept, more = validate_rows(sales, SalesSchema, file=name)
    return kept, concat_rejects([rejects, more]), raw.height, name


def load_hm(config: DataConfig) -> Dataset:
    """Read the H&M folder into a transaction-grain `Dataset` (one line = one unit)."""
    articles, article_rejects, n_articles, attributes = _articles(config)
    sales, sales_rejects, n_sales, sales_name = _transactions(config)
    check_references(sales, "article_id", articles["article_id"], file=sales_name, master="articles.csv")
    stores = pl.DataFrame(
        {
            "store_id": list(CHANNELS),
            "capacity_units": [None] * len(CHANNELS),
            "channel": list(CHANNELS.values()),
        },
        schema={"store_id": pl.Utf8, "capacity_units": pl.Float64, "channel": pl.Utf8},
    )
    return Dataset(
        name="hm",
        sales=sales.drop(ROW),
        articles=articles.drop(ROW),
        stores=stores,
        prices=weekly_prices(sales),
        rejects=concat_rejects([sales_rejects, article_rejects]),
        rows_read={sales_name: n_sales, "articles.csv": n_articles},
        grain="transactions",
        article_attributes=attributes,
        store_attributes=["channel"],
    )
