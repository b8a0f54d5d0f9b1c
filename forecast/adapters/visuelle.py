"""VISUELLE new-product sales (``train.csv``, ``gtrends.csv``, optional ``test.csv``).

- Columns ``0``..``11`` are the first 12 weekly sales after ``release_date`` divided by 1065: each product
  becomes 12 weekly rows, week ``i`` dated ``release_date + 7·i`` days, ``units = round(value · 1065)``
  (negative = returns, kept). ``store_id`` is ``ALL`` (chain level), ``article_id`` the ``external_code``.
- Weeks start on the release day, which can be any weekday: the dates are kept exactly as given (they are not
  moved to a Monday, which would mix two products' weeks), and ``week_label`` is ``"MON"`` by convention.
- ``gtrends.csv`` becomes ``trends`` (week, lower-case term, value; ``-1`` = no value = null).
- ``test.csv`` (beside ``train.csv``) lists products to be launched: catalogue articles with
  ``is_future=True``. Their sales columns, if any, are never read as history.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from forecast.adapters.common import (
    ROW,
    Kind,
    check_unique,
    concat_rejects,
    data_folder,
    drop_rejected,
    duplicate_rows,
    find_table,
    parse_columns,
    read_table,
    require_file,
    source_cache,
)
from forecast.config import DataConfig
from forecast.dataset import Dataset
from forecast.errors import InputError
from forecast.schemas import ArticleSchema, SalesSchema, TrendSchema, validate_rows

SCALE = 1065
WEEKS = [str(i) for i in range(12)]
ATTRIBUTES = ["season", "color", "fabric", "extra", "image_path"]
FIX = "point [data] path (or --data) at the folder holding train.csv and gtrends.csv"


def _products(
    path: Path, *, future: bool, config: DataConfig
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame | None, int]:
    """Articles (and, for history, the typed wide sales) of one product file."""
    name = path.name
    required = ["external_code", "release_date", *([] if future else WEEKS)]
    raw = read_table(path, required=required, cache=source_cache(config))
    specs: dict[str, Kind] = {"external_code": "id", "release_date": "date"}
    if not future:
        specs |= dict.fromkeys(WEEKS, "float")
    not_null = ["external_code", "release_date", *([] if future else WEEKS)]
    typed, rejects = parse_columns(
        raw, specs, file=name, not_null=not_null, dates=(config.date_min, config.date_max)
    )
    rejects = concat_rejects([rejects, duplicate_rows(drop_rejected(typed, rejects, file=name), file=name)])
    text = [
        pl.col(c) if c in typed.columns else pl.lit(None, pl.Utf8).alias(c) for c in ["category", *ATTRIBUTES]
    ]
    articles = typed.select(
        pl.col("external_code").alias("article_id"),
        *text,
        pl.col("release_date").alias("launch_date"),
        pl.lit(None, pl.Float64).alias("list_price"),
        pl.lit(None, pl.Float64).alias("unit_cost"),
        pl.lit(future).alias("is_future"),
        ROW,
    )
    articles = drop_rejected(articles, rejects, file=name)
    articles, more = validate_rows(articles, ArticleSchema, file=name)
    rejects = concat_rejects([rejects, more])
    wide = None if future else typed.filter(pl.col(ROW).is_in(articles[ROW].implode()))
    return articles, rejects, wide, raw.height


def _weekly(wide: pl.DataFrame) -> pl.DataFrame:
    """12 weekly rows per product from the scaled wide columns."""
    long = wide.select(ROW, "external_code", "release_date", *WEEKS).unpivot(
        index=[ROW, "external_code", "release_date"],
        on=WEEKS,
        variable_name="week_index",
        value_name="scaled",
    )
    sales = long.select(
        (pl.col("release_date") + pl.duration(days=7 * pl.col("week_index").cast(pl.Int64))).alias("date"),
        pl.lit("ALL").alias("store_id"),
        pl.col("external_code").alias("article_id"),
        (pl.col("scaled") * SCALE).round(0).alias("units"),
        pl.lit(None, pl.Float64).alias("price"),
        ROW,
    )
    return sales.sort("article_id", "date")


def _trends(path: Path, config: DataConfig) -> tuple[pl.DataFrame, pl.DataFrame, int]:
    name = path.name
    raw = read_table(path, required=["date"], cache=source_cache(config))
    terms = [c for c in raw.columns if c not in ("date", ROW)]
    specs: dict[str, Kind] = {"date": "date", **dict.fromkeys(terms, "float")}
    typed, rejects = parse_columns(
        raw, specs, file=name, not_null=["date"], dates=(config.date_min, config.date_max)
    )
    typed = drop_rejected(typed, rejects, file=name)
    rejects = concat_rejects([rejects, duplicate_rows(typed, file=name)])
    typed = drop_rejected(typed, rejects, file=name)
    long = typed.unpivot(index=[ROW, "date"], on=terms, variable_name="term", value_name="value").select(
        pl.col("date").alias("week"),
        pl.col("term").str.to_lowercase(),
        pl.when(pl.col("value") < 0).then(None).otherwise(pl.col("value")).alias("value"),
        ROW,
    )
    kept, more = validate_rows(long, TrendSchema, file=name)
    check_unique(kept, ["term", "week"], file=name, what="term × week")
    return kept.sort("term", "week"), concat_rejects([rejects, more]), raw.height


def _future(
    folder: Path, train: pl.DataFrame, config: DataConfig
) -> tuple[pl.DataFrame | None, pl.DataFrame, dict[str, int]]:
    path = find_table(folder, "test.csv")
    if path is None:
        return None, concat_rejects([]), {}
    future, rejects, _, n_test = _products(path, future=True, config=config)
    check_unique(future, ["article_id"], file=path.name, what="product", label="external_code")
    both = future.filter(pl.col("article_id").is_in(train["article_id"].implode()))
    if both.height:
        first = both.row(0, named=True)
        msg = f"{both.height:,} product(s) of {path.name} also in train.csv, e.g. {first['article_id']!r}"
        raise InputError(
            msg,
            file=path.name,
            column="external_code",
            row=first[ROW],
            fix="list each product in one file only",
        )
    return future, rejects, {path.name: n_test}


def load_visuelle(config: DataConfig) -> Dataset:
    """Read the VISUELLE folder into a weekly, chain-level `Dataset`."""
    folder = data_folder(config)
    articles, rejects, wide, n_train = _products(
        require_file(folder, "train.csv", FIX), future=False, config=config
    )
    check_unique(articles, ["article_id"], file="train.csv", what="product", label="external_code")
    sales, sales_rejects = validate_rows(
        _weekly(wide if wide is not None else articles), SalesSchema, file="train.csv"
    )
    articles = drop_rejected(articles, sales_rejects, file="train.csv")
    future, future_rejects, future_rows = _future(folder, articles, config)
    trends, trend_rejects, n_trends = _trends(require_file(folder, "gtrends.csv", FIX), config)
    catalogue = articles if future is None else pl.concat([articles, future], how="vertical")
    return Dataset(
        name="visuelle",
        sales=sales.drop(ROW),
        articles=catalogue.drop(ROW),
        stores=pl.DataFrame(
            {"store_id": ["ALL"], "capacity_units": [None]},
            schema={"store_id": pl.Utf8, "capacity_units": pl.Float64},
        ),
        trends=trends.drop(ROW),
        rejects=concat_rejects([rejects, sales_rejects, future_rejects, trend_rejects]),
        rows_read={"train.csv": n_train, **future_rows, "gtrends.csv": n_trends},
        grain="weekly",
        week_label="MON",
        article_attributes=list(ATTRIBUTES),
    )
