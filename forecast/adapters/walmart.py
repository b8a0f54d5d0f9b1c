"""Walmart store × department × week sales (``train.csv``, ``features.csv``, ``stores.csv``).

- ``Weekly_Sales`` is dollars, so ``sales.units`` holds dollars and ``Dataset.target_unit`` is ``"USD"``;
  negative weeks are returns and are kept.
- ``article_id`` is the department, ``store_id`` the store (both as text); a week is labelled by the Friday it
  ends on (``week_label="FRI"``, ``week_label_is_end=True``); a row dated another weekday is rejected.
- ``features.csv`` becomes ``exog`` (``NA`` = null); ``stores.csv`` (CR-only line endings) becomes ``stores``
  with attributes ``type`` and ``size`` (square feet, not a capacity in units).
"""

from __future__ import annotations

import polars as pl

from forecast.adapters.common import (
    ROW,
    Kind,
    check_references,
    check_unique,
    concat_rejects,
    data_folder,
    drop_rejected,
    duplicate_rows,
    parse_columns,
    read_table,
    reject_where,
    require_file,
    source_cache,
)
from forecast.config import DataConfig
from forecast.dataset import Dataset
from forecast.schemas import ExogSchema, SalesSchema, StoreSchema, validate_rows

NULLS = ("NA", "")
FRIDAY = 5
EXOG_COLUMNS = {
    "Temperature": "temperature",
    "Fuel_Price": "fuel_price",
    "MarkDown1": "markdown1",
    "MarkDown2": "markdown2",
    "MarkDown3": "markdown3",
    "MarkDown4": "markdown4",
    "MarkDown5": "markdown5",
    "CPI": "cpi",
    "Unemployment": "unemployment",
}
# prices and indices cannot be negative; temperatures and markdowns (the source has a few) can
NON_NEGATIVE_EXOG = ("Fuel_Price", "CPI", "Unemployment")
FIX = "point [data] path (or --data) at the folder holding train.csv, features.csv and stores.csv"


def _stores(config: DataConfig) -> tuple[pl.DataFrame, pl.DataFrame, int]:
    raw = read_table(
        require_file(data_folder(config), "stores.csv", FIX),
        required=["Store", "Type", "Size"],
        null_values=NULLS,
        cache=source_cache(config),
    )
    typed, rejects = parse_columns(
        raw,
        {"Store": "id", "Size": "float"},
        file="stores.csv",
        not_null=["Store"],
        non_negative=["Size"],
        master=True,
    )
    typed = drop_rejected(typed, rejects, file="stores.csv")
    check_unique(typed, ["Store"], file="stores.csv", what="store")
    stores = typed.select(
        pl.col("Store").alias("store_id"),
        pl.lit(None, pl.Float64).alias("capacity_units"),
        pl.col("Type").alias("type"),
        pl.col("Size").alias("size"),
        ROW,
    )
    kept, more = validate_rows(stores, StoreSchema, file="stores.csv")
    return kept, concat_rejects([rejects, more]), raw.height


def _sales(config: DataConfig) -> tuple[pl.DataFrame, pl.DataFrame, int]:
    name = "train.csv"
    raw = read_table(
        require_file(data_folder(config), name, FIX),
        required=["Store", "Dept", "Date", "Weekly_Sales", "IsHoliday"],
        null_values=NULLS,
        cache=source_cache(config),
    )
    specs: dict[str, Kind] = {
        "Store": "id",
        "Dept": "id",
        "Date": "date",
        "Weekly_Sales": "float",
        "IsHoliday": "bool",
    }
    typed, rejects = parse_columns(
        raw, specs, file=name, not_null=["Weekly_Sales"], dates=(config.date_min, config.date_max)
    )
    not_friday = pl.col("Date").is_not_null() & (pl.col("Date").dt.weekday() != FRIDAY)
    weekday = reject_where(
        typed, not_friday, file=name, column="Date", reason="not a Friday (weeks end on Friday)"
    )
    rejects = concat_rejects([rejects, weekday])
    sales = drop_rejected(typed, rejects, file=name).select(
        pl.col("Date").alias("date"),
        pl.col("Store").alias("store_id"),
        pl.col("Dept").alias("article_id"),
        pl.col("Weekly_Sales").alias("units"),
        pl.lit(None, pl.Float64).alias("price"),
        pl.col("IsHoliday").alias("is_holiday"),
        ROW,
    )
    kept, more = validate_rows(sales, SalesSchema, file=name)
    more = concat_rejects([more, duplicate_rows(kept, file=name)])
    kept = drop_rejected(kept, more, file=name)
    check_unique(
        kept, ["article_id", "store_id", "date"], file=name, what="store × dept × week", label="Dept"
    )
    return kept, concat_rejects([rejects, more]), raw.height


def _exog(config: DataConfig) -> tuple[pl.DataFrame, pl.DataFrame, int]:
    name = "features.csv"
    raw = read_table(
        require_file(data_folder(config), name, FIX),
        required=["Store", "Date", *EXOG_COLUMNS],
        null_values=NULLS,
        cache=source_cache(config),
    )
    specs: dict[str, Kind] = {
        "Store": "id",
        "Date": "date",
        "IsHoliday": "bool",
        **dict.fromkeys(EXOG_COLUMNS, "float"),
    }
    typed, rejects = parse_columns(
        raw,
        specs,
        file=name,
        not_null=["Store"],
        non_negative=NON_NEGATIVE_EXOG,
        dates=(config.date_min, config.date_max),
    )
    holiday = pl.col("IsHoliday") if "IsHoliday" in typed.columns else pl.lit(None, pl.Boolean)
    exog = drop_rejected(typed, rejects, file=name).select(
        pl.col("Date").alias("week"),
        pl.col("Store").alias("store_id"),
        *(pl.col(src).alias(dst) for src, dst in EXOG_COLUMNS.items()),
        holiday.alias("is_holiday"),
        ROW,
    )
    kept, more = validate_rows(exog, ExogSchema, file=name)
    more = concat_rejects([more, duplicate_rows(kept, file=name)])
    kept = drop_rejected(kept, more, file=name)
    check_unique(kept, ["store_id", "week"], file=name, what="store × week", label="Store")
    return kept, concat_rejects([rejects, more]), raw.height


def load_walmart(config: DataConfig) -> Dataset:
    """Read the Walmart folder into a weekly, dollar-valued `Dataset`."""
    stores, store_rejects, n_stores = _stores(config)
    sales, sales_rejects, n_sales = _sales(config)
    exog, exog_rejects, n_exog = _exog(config)
    for frame, file in ((sales, "train.csv"), (exog, "features.csv")):
        check_references(frame, "store_id", stores["store_id"], file=file, master="stores.csv", label="Store")
    articles = sales.select(pl.col("article_id").unique()).with_columns(
        pl.col("article_id").alias("category"),
        pl.lit(None, pl.Date).alias("launch_date"),
        pl.lit(None, pl.Float64).alias("list_price"),
        pl.lit(None, pl.Float64).alias("unit_cost"),
        pl.lit(False).alias("is_future"),
        pl.col("article_id").alias("dept"),
    )
    articles = articles.sort(pl.col("article_id").cast(pl.Int64, strict=False), "article_id")
    return Dataset(
        name="walmart",
        sales=sales.drop(ROW),
        articles=articles,
        stores=stores.drop(ROW),
        exog=exog.drop(ROW),
        rejects=concat_rejects([sales_rejects, exog_rejects, store_rejects]),
        rows_read={"train.csv": n_sales, "features.csv": n_exog, "stores.csv": n_stores},
        grain="weekly",
        target_unit="USD",
        week_label="FRI",
        week_label_is_end=True,
        article_attributes=["dept"],
        store_attributes=["type", "size"],
    )
