"""Pandera schemas: row-level failures become rejects, table-level failures one error naming every column."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from forecast.errors import InputError
from forecast.schemas import ArticleSchema, SalesSchema, StoreSchema, validate_rows, validate_table


def _sales(**overrides: list[object]) -> pl.DataFrame:
    base: dict[str, list[object]] = {
        "date": [dt.date(2024, 1, 1)] * 4,
        "store_id": ["s1", "s1", None, "s2"],
        "article_id": ["a", "b", "c", ""],
        "units": [1.0, -2.0, 3.0, 4.0],
        "price": [10.0, -1.0, None, 5.0],
        "_row": [1, 2, 3, 4],
    }
    base |= overrides
    schema = {
        "date": pl.Date,
        "store_id": pl.Utf8,
        "article_id": pl.Utf8,
        "units": pl.Float64,
        "price": pl.Float64,
        "_row": pl.Int64,
    }
    return pl.DataFrame(base, schema=schema)


def test_row_failures_become_rejects_lazily() -> None:
    kept, rejects = validate_rows(_sales(), SalesSchema, file="sales.csv")
    assert kept["_row"].to_list() == [1]  # negative units are returns: kept; negative price is not
    got = sorted(rejects.select("row", "column", "reason").rows())
    assert got == [
        (2, "price", "must be >= 0"),
        (3, "store_id", "missing value"),
        (4, "article_id", "empty text"),
    ]
    assert kept.height + rejects["row"].n_unique() == 4


def test_rejects_point_at_source_rows_shared_by_several_frame_rows() -> None:
    frame = _sales(_row=[7, 7, 9, 9], price=[1.0, -1.0, 1.0, 1.0], store_id=["s"] * 4, article_id=["a"] * 4)
    kept, rejects = validate_rows(frame, SalesSchema, file="wide.csv")
    assert rejects["row"].to_list() == [7]
    assert kept["_row"].to_list() == [9, 9]


def test_structural_failures_name_every_column() -> None:
    frame = _sales().drop("date").with_columns(pl.col("units").cast(pl.Int64))
    with pytest.raises(
        InputError,
        match=r"sales\.csv: table does not match SalesSchema: "
        r"missing column\(s\) \[.date.\]; units: dtype\('Float64'\)",
    ):
        validate_rows(frame, SalesSchema, file="sales.csv")


def test_validate_table_reports_examples() -> None:
    stores = pl.DataFrame({"store_id": ["1", None, None], "capacity_units": [-5.0, 1.0, 2.0]})
    with pytest.raises(
        InputError,
        match=r"store_id: not_nullable x2 e.g. \[None, None\]; "
        r"capacity_units: greater_than_or_equal_to\(0\) x1",
    ):
        validate_table(stores, StoreSchema, name="stores")


def test_article_schema_needs_is_future() -> None:
    articles = pl.DataFrame({"article_id": ["a"], "category": ["x"]})
    with pytest.raises(
        InputError, match=r"missing column\(s\) \[.launch_date., .list_price., .unit_cost., .is_future.\]"
    ):
        validate_table(articles, ArticleSchema, name="articles")


@given(st.lists(st.one_of(st.none(), st.floats(-1e6, 1e6)), max_size=30))
def test_rows_reconcile_for_any_prices(prices: list[float | None]) -> None:
    n = len(prices)
    frame = pl.DataFrame(
        {
            "date": [dt.date(2024, 1, 1)] * n,
            "store_id": ["s"] * n,
            "article_id": ["a"] * n,
            "units": [1.0] * n,
            "price": prices,
            "_row": list(range(1, n + 1)),
        },
        schema={
            "date": pl.Date,
            "store_id": pl.Utf8,
            "article_id": pl.Utf8,
            "units": pl.Float64,
            "price": pl.Float64,
            "_row": pl.Int64,
        },
    )
    kept, rejects = validate_rows(frame, SalesSchema, file="s.csv")
    assert kept.height + rejects["row"].n_unique() == n
    assert rejects.height == sum(1 for p in prices if p is not None and p < 0)


def test_dc_stock_rows_breaking_the_allocation_rules_are_rejects() -> None:
    from forecast.schemas import DcStockSchema

    frame = pl.DataFrame(
        {
            "article_id": ["A1", "A2", "A3", "A4"],
            "available_units": [10.0, 4.5, 3.0, 2.0],
            "pack_size": [2.0, 1.0, 0.0, 1.0],
            "unit_cost": [1.0, 1.0, 1.0, None],
            "price": [2.0, 2.0, 2.0, 0.0],
            "_row": [1, 2, 3, 4],
        }
    )
    kept, rejects = validate_rows(frame, DcStockSchema, file="dc_stock.csv")
    assert kept["article_id"].to_list() == ["A1"]
    assert dict(rejects.select("row", "reason").iter_rows()) == {
        2: "must be a whole number",
        3: "must be >= 1",
        4: "must be > 0",
    }


def test_allocation_inputs_fail_on_their_schema_with_one_line() -> None:
    from forecast.checks import check_schema
    from forecast.errors import InputError
    from forecast.schemas import DcStockInput

    frame = pl.DataFrame(
        {"article_id": ["A1", "A2"], "available_units": [3, 3], "pack_size": [1, 2], "unit_cost": [1.0, None]}
    ).with_columns(price=pl.lit(5.0))
    with pytest.raises(InputError, match=r"dc_stock.csv: column 'unit_cost', row 2: missing value, got None"):
        check_schema(frame, DcStockInput, "dc_stock.csv")
    with pytest.raises(InputError, match=r"column 'available_units', row 1: must be a whole number, got 2.5"):
        check_schema(frame.with_columns(available_units=pl.lit(2.5)), DcStockInput, "dc_stock.csv")
