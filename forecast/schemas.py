"""Pandera schemas for the canonical tables (see `forecast.dataset` for the contract).

`validate_rows` runs a schema lazily, so one pass reports every failing column. Failures tied to a row (a null
id, a negative price) become rejects naming the source row; failures of the table itself (a missing column, a
wrong dtype) raise one `InputError` that lists every failing column with example values.

Examples
--------
>>> import polars as pl
>>> frame = pl.DataFrame({"store_id": ["1", None], "capacity_units": [10.0, 5.0], "_row": [1, 2]})
>>> kept, rejects = validate_rows(frame, StoreSchema, file="stores.csv")
>>> kept.height, rejects["reason"].to_list()
(1, ['missing value'])
"""

from __future__ import annotations

from typing import Optional  # noqa: UP035 - pandera reads Optional[...] annotations to mark columns optional

import pandera.polars as pa
import polars as pl

from forecast.contracts import quantile_columns
from forecast.dataset import REJECT_SCHEMA, empty_rejects
from forecast.errors import InputError

ROW = "_row"


class OpenTable(pa.DataFrameModel):
    """Base of the canonical tables: the named columns are checked, extra columns (attributes) pass."""

    class Config:
        strict = False


class SalesSchema(OpenTable):
    """One row per transaction line or weekly observation; negative units are returns."""

    date: pl.Date = pa.Field(nullable=False)
    store_id: pl.Utf8 = pa.Field(nullable=False, str_length={"min_value": 1})
    article_id: pl.Utf8 = pa.Field(nullable=False, str_length={"min_value": 1})
    units: pl.Float64 = pa.Field(nullable=False)
    price: pl.Float64 = pa.Field(nullable=True, ge=0)
    is_holiday: Optional[pl.Boolean] = pa.Field(nullable=True)  # noqa: UP045


class ArticleSchema(OpenTable):
    """The catalogue: one row per article; extra columns are attributes."""

    article_id: pl.Utf8 = pa.Field(nullable=False, str_length={"min_value": 1})
    category: pl.Utf8 = pa.Field(nullable=True)
    launch_date: pl.Date = pa.Field(nullable=True)
    list_price: pl.Float64 = pa.Field(nullable=True, ge=0)
    unit_cost: pl.Float64 = pa.Field(nullable=True, ge=0)
    is_future: pl.Boolean = pa.Field(nullable=False)


class StoreSchema(OpenTable):
    """One row per store (or sales channel); extra columns are attributes. An empty capacity is unlimited."""

    store_id: pl.Utf8 = pa.Field(nullable=False, str_length={"min_value": 1})
    capacity_units: pl.Float64 = pa.Field(nullable=True, ge=0)


class StoreStockSchema(OpenTable):
    """Units on hand per store × article."""

    store_id: pl.Utf8 = pa.Field(nullable=False)
    article_id: pl.Utf8 = pa.Field(nullable=False)
    on_hand: pl.Float64 = pa.Field(nullable=False, ge=0)


class StockSchema(StoreStockSchema):
    """Units on hand at the end of a week."""

    week: pl.Date = pa.Field(nullable=False)


class ExogSchema(OpenTable):
    """Exogenous weekly series; a null store applies to every store. Other columns are numeric series."""

    week: pl.Date = pa.Field(nullable=False)
    store_id: pl.Utf8 = pa.Field(nullable=True)


class TrendSchema(OpenTable):
    """Weekly popularity of a search term (null when the source has no value)."""

    week: pl.Date = pa.Field(nullable=False)
    term: pl.Utf8 = pa.Field(nullable=False)
    value: pl.Float64 = pa.Field(nullable=True, ge=0)


class DcStockSchema(OpenTable):
    """Stock at the distribution centre available to allocate, in whole packs of `pack_size` units; empty
    prices and costs are filled from the catalogue before allocating."""

    article_id: pl.Utf8 = pa.Field(nullable=False)
    available_units: pl.Float64 = pa.Field(nullable=False, ge=0)
    pack_size: pl.Float64 = pa.Field(nullable=False, ge=1)
    unit_cost: pl.Float64 = pa.Field(nullable=True, ge=0)
    price: pl.Float64 = pa.Field(nullable=True, gt=0)
    holding_cost: Optional[pl.Float64] = pa.Field(nullable=True, ge=0)  # noqa: UP045

    @pa.check("available_units", "pack_size", name="whole_number")
    @classmethod
    def whole_number(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return _whole(data)


class DcStockInput(DcStockSchema):
    """DC stock as the allocation reads it: every price and unit cost given."""

    unit_cost: pl.Float64 = pa.Field(nullable=False, ge=0)
    price: pl.Float64 = pa.Field(nullable=False, gt=0)


class StoresInput(StoreSchema):
    """Stores as the allocation reads them: every capacity given, in whole units; an empty ship cost is the
    configured one."""

    capacity_units: pl.Float64 = pa.Field(nullable=False, ge=0)
    ship_cost: Optional[pl.Float64] = pa.Field(nullable=True, ge=0)  # noqa: UP045

    @pa.check("capacity_units", name="whole_number")
    @classmethod
    def whole_number(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return _whole(data)


class StoreStockInput(StoreStockSchema):
    """Store stock as the allocation reads it: whole units."""

    @pa.check("on_hand", name="whole_number")
    @classmethod
    def whole_number(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return _whole(data)


class TrueDemandSchema(OpenTable):
    """Known true demand of synthetic data."""

    week: pl.Date = pa.Field(nullable=False)
    store_id: pl.Utf8 = pa.Field(nullable=False)
    article_id: pl.Utf8 = pa.Field(nullable=False)
    demand: pl.Float64 = pa.Field(nullable=False, ge=0)


class PriceSchema(OpenTable):
    """Charged (past weeks) and planned (later weeks) unit prices; ``store_id`` ``ALL`` is chain-wide."""

    article_id: pl.Utf8 = pa.Field(nullable=False, str_length={"min_value": 1})
    store_id: pl.Utf8 = pa.Field(nullable=False, str_length={"min_value": 1})
    week: pl.Date = pa.Field(nullable=False)
    price: pl.Float64 = pa.Field(nullable=False, ge=0)
    promo: Optional[pl.Float64] = pa.Field(nullable=True, isin=[0.0, 1.0])  # noqa: UP045


class PanelSchema(pa.DataFrameModel):
    """The article × store × week panel (`forecast.panel.PANEL_SCHEMA`): exactly these columns, one row per
    series and week."""

    article_id: pl.Utf8 = pa.Field(nullable=False)
    store_id: pl.Utf8 = pa.Field(nullable=False)
    week: pl.Date = pa.Field(nullable=False)
    units: pl.Float64 = pa.Field(nullable=False)
    returns_units: pl.Float64 = pa.Field(nullable=False, ge=0)
    price: pl.Float64 = pa.Field(nullable=True, ge=0)
    list_price: pl.Float64 = pa.Field(nullable=True, ge=0)
    discount: pl.Float64 = pa.Field(nullable=True, ge=0, le=1)
    on_hand: pl.Float64 = pa.Field(nullable=True)
    censored: pl.Boolean = pa.Field(nullable=False)
    is_holiday: pl.Boolean = pa.Field(nullable=False)
    category: pl.Utf8 = pa.Field(nullable=True)

    class Config:
        strict = True
        ordered = True
        unique = ["article_id", "store_id", "week"]


class RejectSchema(pa.DataFrameModel):
    """Rows left out of the canonical tables, with the reason."""

    file: pl.Utf8 = pa.Field(nullable=False)
    row: pl.Int64 = pa.Field(nullable=False, ge=1)
    column: pl.Utf8 = pa.Field(nullable=True)
    reason: pl.Utf8 = pa.Field(nullable=False)
    value: pl.Utf8 = pa.Field(nullable=True)

    class Config:
        strict = True


def _whole(data: pa.PolarsData) -> pl.LazyFrame:
    value = pl.col(data.key)
    return data.lazyframe.select(value.is_null() | (value == value.floor()))


def reason(check: str) -> str:
    """A human reason for a pandera check name."""
    if check == "whole_number":
        return "must be a whole number"
    if check == "not_nullable":
        return "missing value"
    if check.startswith("greater_than_or_equal_to("):
        return f"must be >= {check[len('greater_than_or_equal_to(') : -1]}"
    if check.startswith("greater_than("):
        return f"must be > {check[len('greater_than(') : -1]}"
    if check.startswith("str_length("):
        return "empty text"
    return check


def validate_rows(
    frame: pl.DataFrame, schema: type[pa.DataFrameModel], *, file: str
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Validate `frame` lazily against `schema`; return the valid rows and the rejects.

    `frame` carries ``_row`` (the source data row, 1-based) so rejects point at the source file; several frame
    rows may share a source row (a wide row melted into weeks), and rejecting it drops all of them.
    """
    try:
        schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
    else:
        return frame, empty_rejects()
    structural = cases.filter(pl.col("index").is_null())
    if structural.height:
        raise _structural_error(structural, schema, file)
    rows = frame[ROW].gather(cases["index"].cast(pl.Int64))
    rejects = pl.DataFrame(
        {
            "file": [file] * cases.height,
            "row": rows,
            "column": cases["column"],
            "reason": [reason(c) for c in cases["check"].to_list()],
            "value": cases["failure_case"],
        },
        schema=REJECT_SCHEMA,
    ).unique(maintain_order=True)
    kept = frame.filter(~pl.col(ROW).is_in(rows.unique().implode()))
    return kept, rejects


def describe_failures(cases: pl.DataFrame) -> str:
    """One line per failing column and check, with counts and up to three example values."""
    missing = cases.filter(pl.col("check") == "column_in_dataframe")["failure_case"].to_list()
    parts = [f"missing column(s) {missing}"] if missing else []
    rest = cases.filter(pl.col("check") != "column_in_dataframe")
    groups = rest.group_by("column", "check", maintain_order=True).agg(
        pl.col("failure_case").head(3).alias("examples"), pl.len().alias("n")
    )
    for column, check, examples, n in groups.iter_rows():
        parts.append(f"{column}: {check} x{n} e.g. {examples}")
    return "; ".join(parts)


def _structural_error(cases: pl.DataFrame, schema: type[pa.DataFrameModel], file: str) -> InputError:
    msg = f"table does not match {schema.__name__}: {describe_failures(cases)}"
    return InputError(msg, file=file, fix="give the columns the names and types of the canonical contract")


def forecast_value_problems(frame: pl.DataFrame) -> list[tuple[str, pl.Expr, str]]:
    """The value rules of a forecasts table, as (column, failing-row expression, problem).

    The rules every forecast row the tool writes satisfies (`forecast.distribution.coherent_forecasts`) and
    every forecasts file a command reads must satisfy: the mean and each quantile ``qNN`` >= 0, and the
    quantiles non-decreasing in their level (``q10 <= q50 <= q90``). An empty quantile is allowed (the row's
    demand is then Poisson around its mean) and is skipped by the order rule.
    """
    qcols = list(quantile_columns(frame.columns))
    rules = [
        (c, pl.col(c).cast(pl.Float64) < 0, "must be >= 0") for c in ("mean", *qcols) if c in frame.columns
    ]
    for low, high in zip(qcols, qcols[1:], strict=False):
        crossed = pl.col(low).cast(pl.Float64) > pl.col(high).cast(pl.Float64)
        rules.append((high, crossed, f"quantiles cross: {low} above {high}"))
    return rules


def check_forecast_values(frame: pl.DataFrame, file: str, *, shown: int = 5) -> None:
    """Raise `InputError` for the first rule of `forecast_value_problems` a row of `frame` breaks, naming
    the column, the first rows (1-based data rows) and how many rows break it."""
    if frame.height == 0:
        return
    for column, bad, problem in forecast_value_problems(frame):
        rows = frame.select(bad.fill_null(False).arg_true() + 1).to_series()
        if rows.len():
            first = int(rows[0])
            listed = ", ".join(str(r) for r in rows.head(shown).to_list())
            more = f" ({rows.len():,} rows: {listed}{', ...' if rows.len() > shown else ''})"
            row = frame.row(first - 1, named=True)
            values = {c: row[c] for c in frame.columns if c == "mean" or c.startswith("q")}
            msg = f"{problem}{more}; first row {values}"
            fix = (
                "forecast rows need mean and quantiles >= 0 and q10 <= q50 <= q90 (as forecasts.csv of "
                "`forecast run` has): correct or drop those rows"
            )
            raise InputError(msg, file=file, column=column, row=first, fix=fix)


def validate_table(frame: pl.DataFrame, schema: type[pa.DataFrameModel], *, name: str) -> None:
    """Check a finished canonical table (no ``_row``) against `schema`; any failure raises `InputError`."""
    try:
        schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as exc:
        msg = f"table fails {schema.__name__}: {describe_failures(exc.failure_cases)}"
        fix = "the table must follow the canonical contract in forecast.dataset"
        raise InputError(msg, file=name, fix=fix) from exc


__all__ = [
    "ArticleSchema",
    "check_forecast_values",
    "forecast_value_problems",
    "DcStockInput",
    "PanelSchema",
    "DcStockSchema",
    "ExogSchema",
    "RejectSchema",
    "SalesSchema",
    "StockSchema",
    "StoreSchema",
    "StoreStockInput",
    "StoreStockSchema",
    "StoresInput",
    "TrendSchema",
    "PriceSchema",
    "TrueDemandSchema",
    "describe_failures",
    "reason",
    "validate_rows",
    "validate_table",
]
