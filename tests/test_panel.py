"""The article × store × week panel (forecast.panel.build_panel)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import polars as pl
import pytest

from forecast.dataset import Dataset
from forecast.panel import PANEL_SCHEMA, build_panel

MON = date(2024, 1, 1)


def _week(i: int, day: int = 0) -> date:
    return MON + timedelta(weeks=i, days=day)


def _dataset(rows: list[tuple[Any, ...]], **kwargs: Any) -> Dataset:
    """Sales rows (date, store_id, article_id, units, price) -> Dataset."""
    sales = pl.DataFrame(
        rows,
        schema={"date": pl.Date, "store_id": pl.Utf8, "article_id": pl.Utf8, "units": pl.Float64,
                "price": pl.Float64},
        orient="row",
    )  # fmt: skip
    articles = kwargs.pop("articles", None)
    if articles is None:
        ids = sorted({r[2] for r in rows})
        articles = pl.DataFrame({"article_id": ids, "category": ["tops"] * len(ids)}, schema_overrides={
            "article_id": pl.Utf8, "category": pl.Utf8})  # fmt: skip
    stores = pl.DataFrame({"store_id": sorted({r[1] for r in rows})}, schema={"store_id": pl.Utf8})
    return Dataset("test", sales, articles, stores, **kwargs)


def _rows(ds: Dataset) -> list[dict[str, Any]]:
    return build_panel(ds).collect().to_dicts()


def test_schema_order_and_sorting() -> None:
    ds = _dataset(
        [(_week(2), "s2", "b", 1.0, 5.0), (_week(0), "s1", "b", 1.0, 5.0), (_week(0), "s1", "a", 2.0, 5.0)]
    )
    panel = build_panel(ds).collect()
    assert panel.schema == pl.Schema(PANEL_SCHEMA)
    keys = panel.select("article_id", "store_id", "week")
    assert keys.equals(keys.sort("article_id", "store_id", "week"))


def test_empty_sales_give_an_empty_panel_with_the_contract_columns() -> None:
    panel = build_panel(_dataset([])).collect()
    assert panel.height == 0
    assert panel.schema == pl.Schema(PANEL_SCHEMA)


def test_zero_fill_only_inside_each_series_life() -> None:
    ds = _dataset([
        (_week(1), "s1", "a", 3.0, 10.0),
        (_week(4, day=3), "s1", "a", 1.0, 10.0),
        (_week(3), "s2", "a", 2.0, 10.0),
        (_week(0), "s1", "b", 1.0, 4.0),
        (_week(6), "s1", "b", 1.0, 4.0),
    ])  # fmt: skip
    panel = build_panel(ds).collect()
    got: dict[tuple[str, str], list[tuple[date, float]]] = {}
    for row in panel.iter_rows(named=True):
        got.setdefault((row["article_id"], row["store_id"]), []).append((row["week"], row["units"]))
    assert got[("a", "s1")] == [(_week(1), 3.0), (_week(2), 0.0), (_week(3), 0.0), (_week(4), 1.0)]
    assert got[("a", "s2")] == [(_week(3), 2.0)]
    assert [w for w, _ in got[("b", "s1")]] == [_week(i) for i in range(7)]
    assert panel.height == 4 + 1 + 7


def test_transactions_net_returns_and_average_the_selling_price() -> None:
    ds = _dataset(
        [
            (_week(0, 1), "s1", "a", 1.0, 10.0),
            (_week(0, 2), "s1", "a", 1.0, 10.0),
            (_week(0, 3), "s1", "a", 1.0, 7.0),
            (_week(0, 4), "s1", "a", -1.0, 10.0),  # a return
            (_week(1, 0), "s1", "a", -2.0, 10.0),  # returns only
        ],
        grain="transactions",
    )
    first, second = _rows(ds)
    assert first["units"] == 2.0
    assert first["returns_units"] == 1.0
    assert first["price"] == pytest.approx(9.0)  # (10 + 10 + 7) / 3 over units sold
    assert second["units"] == -2.0
    assert second["returns_units"] == 2.0
    assert second["price"] == pytest.approx(9.0)  # carried forward: nothing sold


def test_price_carried_forward_and_list_price_fallback() -> None:
    articles = pl.DataFrame({"article_id": ["a", "b"], "category": ["x", None], "list_price": [20.0, None]})
    ds = _dataset(
        [
            (_week(0), "s1", "a", 1.0, None),
            (_week(1), "s1", "a", 1.0, 15.0),
            (_week(3), "s1", "a", 1.0, 10.0),
            (_week(0), "s1", "b", 1.0, 8.0),
            (_week(1), "s1", "b", 1.0, 10.0),
            (_week(2), "s1", "b", 1.0, 5.0),
        ],
        articles=articles,
    )
    rows = _rows(ds)
    a = [r for r in rows if r["article_id"] == "a"]
    assert [r["price"] for r in a] == [20.0, 15.0, 15.0, 10.0]  # list price before any price, then carried
    assert [r["discount"] for r in a] == pytest.approx([0.0, 0.25, 0.25, 0.5])
    assert {r["category"] for r in a} == {"x"}
    b = [r for r in rows if r["article_id"] == "b"]
    # no catalogue list price: the highest price so far, never a later one
    assert [r["list_price"] for r in b] == [8.0, 10.0, 10.0]
    assert [r["discount"] for r in b] == pytest.approx([0.0, 0.0, 0.5])
    assert b[0]["category"] is None


def test_censored_flags_from_stock() -> None:
    sales = [(_week(i), "s1", "a", u, 5.0) for i, u in enumerate([3.0, 4.0, 0.0, 2.0, 5.0, 1.0])]
    stock = pl.DataFrame({
        "week": [_week(0), _week(1), _week(2), _week(3, day=2), _week(3, day=5), _week(5)],
        "store_id": ["s1"] * 6,
        "article_id": ["a"] * 6,
        "on_hand": [5.0, 0.0, 0.0, 1.0, 4.0, 2.0],
    })  # fmt: skip
    rows = _rows(_dataset(sales, stock=stock))
    assert [r["on_hand"] for r in rows] == [5.0, 0.0, 0.0, 4.0, None, 2.0]  # the last count of a week
    # wk1 sold out; wk2 nothing to sell; wk4 count missing and sales (5) >= stock left (4); wk5 stock left
    assert [r["censored"] for r in rows] == [False, True, True, False, True, False]


def test_stock_counts_after_the_last_sale_extend_the_life() -> None:
    sales = [(_week(0), "s1", "a", 2.0, 5.0), (_week(1), "s1", "a", 3.0, 5.0)]
    stock = pl.DataFrame({
        "week": [_week(0), _week(1), _week(2), _week(3)],
        "store_id": ["s1"] * 4,
        "article_id": ["a"] * 4,
        "on_hand": [3.0, 0.0, 0.0, 0.0],
    })  # fmt: skip
    rows = _rows(_dataset(sales, stock=stock))
    # the shelf stayed empty after the last sale: those weeks are censored, not zero demand
    assert [r["week"] for r in rows] == [_week(i) for i in range(4)]
    assert [r["units"] for r in rows] == [2.0, 3.0, 0.0, 0.0]
    assert [r["censored"] for r in rows] == [False, True, True, True]


def test_sale_ends_label_the_week_of_the_last_day_on_sale() -> None:
    from forecast.panel import cut_at_sale_end, sale_ends

    articles = pl.DataFrame(
        {"article_id": ["a", "b"], "end_date": [_week(2, day=6), None]},
        schema_overrides={"end_date": pl.Date},
    )
    ds = _dataset([(_week(0), "s1", "a", 1.0, 1.0)], articles=articles)
    ends = sale_ends(ds)
    assert ends.rows() == [("a", _week(2))]
    forecasts = pl.DataFrame(
        {"article_id": ["a", "a", "b"], "week": [_week(2), _week(3), _week(3)], "mean": [1.0, 1.0, 1.0],
         "q90": [2.0, 2.0, 2.0]}
    )  # fmt: skip
    cut = cut_at_sale_end(forecasts, ends)
    assert cut["mean"].to_list() == [1.0, 0.0, 1.0]
    assert cut["q90"].to_list() == [2.0, 0.0, 2.0]


def test_without_stock_nothing_is_censored() -> None:
    rows = _rows(_dataset([(_week(0), "s1", "a", 1.0, 1.0), (_week(2), "s1", "a", 1.0, 1.0)]))
    assert [r["censored"] for r in rows] == [False, False, False]
    assert all(r["on_hand"] is None for r in rows)


def test_walmart_friday_labelled_weeks() -> None:
    # Friday-labelled weeks ending Friday: any day Saturday..Friday goes to that Friday
    fri = date(2010, 11, 19)
    ds = _dataset(
        [(fri, "1", "7", 100.0, None), (fri + timedelta(days=1), "1", "7", 5.0, None),
         (fri + timedelta(days=14), "1", "7", -20.0, None)],
        week_label="FRI",
        week_label_is_end=True,
    )  # fmt: skip
    rows = _rows(ds)
    assert [r["week"] for r in rows] == [fri, fri + timedelta(days=7), fri + timedelta(days=14)]
    assert [r["units"] for r in rows] == [100.0, 5.0, -20.0]
    assert [r["is_holiday"] for r in rows] == [False, True, False]  # 2010-11-26 holds Thanksgiving
    assert rows[2]["returns_units"] == 20.0
    assert all(r["price"] is None and r["discount"] is None for r in rows)


def test_source_holiday_flag_is_kept() -> None:
    ds = _dataset([(_week(0), "s1", "a", 1.0, 1.0), (_week(1), "s1", "a", 1.0, 1.0)])
    ds.sales = ds.sales.with_columns(pl.Series("is_holiday", [True, False]))
    assert [r["is_holiday"] for r in _rows(ds)] == [True, False]
    # the calendar flags Christmas week without a source flag
    christmas = _dataset([(date(2024, 12, 23), "s1", "a", 1.0, 1.0)])
    assert _rows(christmas)[0]["is_holiday"]


def test_chain_level_store_all() -> None:
    ds = _dataset([(_week(0), "ALL", "p1", 12.0, None), (_week(3), "ALL", "p1", 3.0, None),
                   (_week(1), "ALL", "p2", 0.0, None)])  # fmt: skip
    panel = build_panel(ds).collect()
    assert panel["store_id"].unique().to_list() == ["ALL"]
    assert panel.group_by("article_id").len().sort("article_id")["len"].to_list() == [4, 1]


def test_future_articles_are_not_history() -> None:
    articles = pl.DataFrame({"article_id": ["a", "new"], "category": ["x", "x"], "is_future": [False, True]})
    ds = _dataset([(_week(0), "s1", "a", 1.0, 1.0), (_week(0), "s1", "new", 9.0, 1.0)], articles=articles)
    assert [r["article_id"] for r in _rows(ds)] == ["a"]


@pytest.mark.realdata
@pytest.mark.slow
def test_walmart_panel_has_one_row_per_series_week_inside_life(walmart_dir) -> None:  # type: ignore[no-untyped-def]
    from forecast.adapters.walmart import load_walmart
    from forecast.config import DataConfig

    ds = load_walmart(DataConfig(adapter="walmart", path=walmart_dir))
    panel = build_panel(ds).collect()
    keys = ["article_id", "store_id", "week"]
    assert panel.select(keys).is_unique().all()
    life = ds.sales.group_by("article_id", "store_id").agg(pl.col("date").min().alias("lo"),
                                                           pl.col("date").max().alias("hi"))  # fmt: skip
    expected_rows = life.select(((pl.col("hi") - pl.col("lo")).dt.total_days() // 7 + 1).sum()).item()
    assert panel.height == expected_rows
    assert panel.height > ds.sales.height  # missing weeks were filled
    bounds = panel.group_by("article_id", "store_id").agg(pl.col("week").min().alias("lo"),
                                                          pl.col("week").max().alias("hi"))  # fmt: skip
    assert bounds.sort("article_id", "store_id").equals(life.sort("article_id", "store_id"))
    joined = panel.join(ds.sales.rename({"date": "week", "units": "source"}), on=keys, how="left")
    assert joined.filter(pl.col("source").is_not_null() & (pl.col("source") != pl.col("units"))).height == 0
    assert (joined.filter(pl.col("source").is_null())["units"] == 0).all()
    assert panel["week"].dt.weekday().unique().to_list() == [5]
    flagged = joined.filter(pl.col("is_holiday_right").is_not_null())
    assert (flagged["is_holiday"] == flagged["is_holiday_right"]).all()
    assert panel["returns_units"].sum() > 0
