"""Price and cost resolution per unit: the data's values first, then the pipeline's defaults."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from forecast.config import BusinessConfig
from forecast.costs import article_costs, attach_costs, weekly_costs
from forecast.errors import ConfigError

WEEK = date(2024, 1, 8)
CONFIG = BusinessConfig(default_price=2.0, unit_cost_ratio=0.5, holding_cost_ratio=0.1, salvage_ratio=0.4)


def _panel() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "article_id": ["a", "a"],
            "store_id": ["s", "t"],
            "week": [WEEK, WEEK],
            "price": [8.0, 6.0],
            "list_price": [10.0, 10.0],
        }
    )


def _articles() -> pl.DataFrame:
    return pl.DataFrame(
        {"article_id": ["a", "b", "c"], "list_price": [10.0, 20.0, None], "unit_cost": [3.0, None, None]}
    )


def test_attach_costs_precedence() -> None:
    rows = pl.DataFrame({"article_id": ["a", "b", "c"], "store_id": ["s"] * 3, "week": [WEEK] * 3})
    out = attach_costs(rows, _panel(), _articles(), CONFIG, salvage=True).sort("article_id")
    # a: panel week price 8, unit cost from articles 3, h = 0.8, v = 0.4 * 3
    # b: no panel row -> list price 20, c = 0.5 * 20, h = 2, v = 4
    # c: nothing known -> default price 2, c = 1, h = 0.2, v = 0.4
    assert out["price"].to_list() == [8.0, 20.0, 2.0]
    assert out["unit_cost"].to_list() == [3.0, 10.0, 1.0]
    assert out["holding_cost"].to_list() == pytest.approx([0.8, 2.0, 0.2])
    assert out["salvage_value"].to_list() == pytest.approx([1.2, 4.0, 0.4])


def test_attach_costs_without_any_data_uses_defaults() -> None:
    rows = pl.DataFrame({"article_id": ["a"], "store_id": ["s"], "week": [WEEK]})
    out = attach_costs(rows, None, None, BusinessConfig()).row(0, named=True)
    assert "salvage_value" not in out
    assert (out["price"], out["unit_cost"], out["holding_cost"]) == pytest.approx((1.0, 0.5, 0.1))


def test_article_costs_take_the_list_price_then_the_last_panel_price() -> None:
    articles = _articles().with_columns(
        pl.when(pl.col("article_id") == "a").then(None).otherwise(pl.col("list_price")).alias("list_price")
    )
    out = article_costs(articles, _panel(), CONFIG).rows()
    # a: no list price -> its last panel price (the later row of the week, 6); b: list 20; c: default 2
    assert out == [("a", 6.0, 3.0, 0.6), ("b", 20.0, 10.0, 2.0), ("c", 2.0, 1.0, 0.2)]


def test_weekly_costs_carry_the_mean_price_and_keep_full_precision() -> None:
    weeks = [WEEK, date(2024, 1, 15)]
    out = weekly_costs(
        _panel(), _articles(), ["a", "b"], weeks, BusinessConfig(holding_cost_ratio=0.01), rounded=False
    )
    assert out["price"].to_list() == [7.0, 7.0, 20.0, 20.0]  # a: mean of 8 and 6, carried; b: list price
    assert out["holding_cost"].to_list() == pytest.approx([0.07, 0.07, 0.2, 0.2])
    assert out["salvage_value"].to_list() == pytest.approx([0.9, 0.9, 3.0, 3.0])


def test_salvage_ratio_is_checked() -> None:
    with pytest.raises(ConfigError, match="salvage_ratio"):
        BusinessConfig(salvage_ratio=1.5)
