"""Money per unit: price, unit cost, holding cost and salvage value, resolved in one place.

Every job that needs money per unit reads it from here: the backtest's newsvendor evaluation
(`forecast.business`), the allocation's DC stock (`forecast.allocation.sources`), the business replay
(`forecast.replay`) and the replenishment replay (`forecast.replenish.replay`). The data's values come
first; the pipeline's ``[business]`` settings (`forecast.config.BusinessConfig`) fill what the data lacks.

Price (a price that is not positive counts as missing):

- at an article × store × week the data covers (`attach_costs`, the backtest and the business replay): the
  panel's price of that row, else the article's list price, else ``default_price``;
- of an article for the coming weeks (`article_costs`, the allocation): the catalogue's ``list_price``, else
  the article's last panel price, else ``default_price``;
- of an article whose price a markdown plan sets for the coming weeks (`planned_prices`, the allocation of
  a run with ``[markdown] apply_to_plans``): the plan's price replaces the one above; the unit cost and
  holding cost stay those of the price above, as a markdown does not change what the article cost;
- per article × week over a span of weeks (`weekly_costs`, the replenishment replay, whose policies plan
  chain-wide): the panel's mean price over the stores that week, carried forward (then back) over the span,
  else the article's list price, else ``default_price``.

The article's list price is the catalogue's ``list_price``, else the panel's latest ``list_price`` (which the
panel takes from the catalogue, else the highest price sold so far).

Costs, from the price:

- unit cost c: the catalogue's ``unit_cost`` (when >= 0), else ``unit_cost_ratio`` × price;
- holding cost h per unit left over: ``holding_cost_ratio`` × price;
- salvage value v per unit left at the season's end: ``salvage_ratio`` × unit cost.

Costs derived from a ratio are rounded to cents (`forecast.business.cents`), so the rows a job writes (the
plan, the DC stock file) carry the figures it computed with; ``rounded=False`` keeps full precision for a
replay's arrays, which are never written.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import numpy as np
import polars as pl

from forecast.business import cents
from forecast.config import BusinessConfig

__all__ = ["COST_COLUMNS", "article_costs", "attach_costs", "planned_prices", "unit_costs", "weekly_costs"]

COST_COLUMNS = ("price", "unit_cost", "holding_cost")
_NO_MONEY = pl.lit(None, dtype=pl.Float64)


def _positive(value: pl.Expr) -> pl.Expr:
    return pl.when(value > 0).then(value)


def unit_costs(
    frame: pl.DataFrame, config: BusinessConfig, *, rounded: bool = True, salvage: bool = False
) -> pl.DataFrame:
    """Add ``unit_cost``, ``holding_cost`` (and ``salvage_value`` when `salvage`) to rows with ``price`` and
    the catalogue's unit cost in ``_unit_cost`` (null where unknown), which is dropped.

    Examples
    --------
    >>> rows = pl.DataFrame({"price": [10.0, 9.99], "_unit_cost": [4.0, None]})
    >>> unit_costs(rows, BusinessConfig(), salvage=True).rows()
    [(10.0, 4.0, 1.0, 1.2), (9.99, 5.0, 1.0, 1.5)]
    """
    money = cents if rounded else (lambda value: value)
    price = pl.col("price")
    catalogue = pl.col("_unit_cost")
    cost = pl.coalesce(pl.when(catalogue >= 0).then(catalogue), money(config.unit_cost_ratio * price))
    out = frame.with_columns(
        cost.cast(pl.Float64).alias("unit_cost"),
        money(config.holding_cost_ratio * price).alias("holding_cost"),
    )
    if salvage:
        out = out.with_columns(money(config.salvage_ratio * pl.col("unit_cost")).alias("salvage_value"))
    return out.drop("_unit_cost")


def attach_costs(
    df: pl.DataFrame,
    panel: pl.DataFrame | None,
    articles: pl.DataFrame | None,
    config: BusinessConfig,
    *,
    salvage: bool = False,
) -> pl.DataFrame:
    """Add ``price``, ``unit_cost`` and ``holding_cost`` (and ``salvage_value`` when `salvage`) per unit to
    rows keyed by article_id, store_id, week (module docstring). Existing columns of those names are replaced.
    """
    out = df.drop([c for c in (*COST_COLUMNS, "salvage_value") if c in df.columns])
    week_price = _NO_MONEY
    if panel is not None and "price" in panel.columns:
        prices = panel.select("article_id", "store_id", "week", pl.col("price").alias("_week_price"))
        out = out.join(prices, on=["article_id", "store_id", "week"], how="left")
        week_price = pl.col("_week_price")
    catalogue = _list_prices(panel, articles)
    if catalogue is None:
        out = out.with_columns(_list_price=_NO_MONEY, _unit_cost=_NO_MONEY)
    else:
        out = out.join(catalogue, on="article_id", how="left")
    price = pl.coalesce(_positive(week_price), _positive(pl.col("_list_price")), pl.lit(config.default_price))
    out = out.with_columns(price.cast(pl.Float64).alias("price"))
    out = unit_costs(out, config, salvage=salvage)
    return out.drop([c for c in ("_week_price", "_list_price") if c in out.columns])


def _list_prices(panel: pl.DataFrame | None, articles: pl.DataFrame | None) -> pl.DataFrame | None:
    """Per article: ``_list_price`` (the catalogue's, else the panel's latest) and ``_unit_cost`` (the
    catalogue's); None when neither table knows any."""
    catalogue = _catalogue(articles) if articles is not None and articles.height else None
    latest = None
    if panel is not None and "list_price" in panel.columns:
        latest = (
            panel.sort("week")
            .group_by("article_id")
            .agg(pl.col("list_price").drop_nulls().last().alias("_panel_list_price"))
        )
    if catalogue is None and latest is None:
        return None
    if catalogue is None:
        assert latest is not None
        return latest.select(
            "article_id", pl.col("_panel_list_price").alias("_list_price"), _NO_MONEY.alias("_unit_cost")
        )
    if latest is None:
        return catalogue
    return (
        catalogue.join(latest, on="article_id", how="full", coalesce=True)
        .with_columns(pl.coalesce("_list_price", "_panel_list_price").alias("_list_price"))
        .drop("_panel_list_price")
    )


def _catalogue(articles: pl.DataFrame) -> pl.DataFrame:
    """article_id, ``_list_price``, ``_unit_cost`` of the catalogue (null where it has no such column)."""
    cols = [pl.col("article_id")]
    for name in ("list_price", "unit_cost"):
        value = pl.col(name).cast(pl.Float64) if name in articles.columns else _NO_MONEY
        cols.append(value.alias(f"_{name}"))
    return articles.select(cols).unique("article_id", keep="first")


def article_costs(
    articles: pl.DataFrame,
    panel: pl.DataFrame,
    config: BusinessConfig,
    *,
    salvage: bool = False,
    also: pl.Series | None = None,
) -> pl.DataFrame:
    """``article_id, price, unit_cost, holding_cost`` (``salvage_value`` when `salvage`) per catalogue or
    panel article (and per article of `also`), for the coming weeks (module docstring), sorted by article."""
    frames = [articles.select("article_id"), panel.select("article_id")]
    if also is not None:
        frames.append(also.alias("article_id").to_frame())
    ids = pl.concat(frames).unique()
    last_price = (
        panel.filter(pl.col("price").is_not_null())
        .sort("week")
        .group_by("article_id")
        .agg(pl.col("price").last().alias("_last_price"))
    )
    price = pl.coalesce("_list_price", "_last_price", pl.lit(config.default_price))
    frame = (
        ids.join(_catalogue(articles), on="article_id", how="left")
        .join(last_price, on="article_id", how="left")
        .with_columns(pl.when(price > 0).then(price).otherwise(config.default_price).alias("price"))
    )
    frame = unit_costs(frame, config, salvage=salvage)
    return frame.select("article_id", *COST_COLUMNS, *(["salvage_value"] if salvage else [])).sort(
        "article_id"
    )


def planned_prices(frame: pl.DataFrame, planned: pl.DataFrame | None) -> pl.DataFrame:
    """`frame` (rows with ``article_id`` and ``price``) with the price of each article of `planned`
    (``article_id``, ``price``) in place of its own; its other columns, the costs among them, are kept.

    Examples
    --------
    >>> rows = pl.DataFrame({"article_id": ["a", "b"], "price": [10.0, 8.0], "unit_cost": [4.0, 3.0]})
    >>> planned_prices(rows, pl.DataFrame({"article_id": ["a"], "price": [7.0]})).rows()
    [('a', 7.0, 4.0), ('b', 8.0, 3.0)]
    """
    if planned is None or not planned.height:
        return frame
    plan = planned.select("article_id", pl.col("price").cast(pl.Float64).alias("_planned_price"))
    out = frame.join(plan, on="article_id", how="left", maintain_order="left")
    return out.with_columns(pl.coalesce("_planned_price", "price").alias("price")).drop("_planned_price")


def weekly_costs(
    panel: pl.DataFrame,
    articles: pl.DataFrame,
    article_ids: np.ndarray | Sequence[str],
    weeks: Sequence[date],
    config: BusinessConfig,
    *,
    rounded: bool = True,
) -> pl.DataFrame:
    """``article_id, week, price, unit_cost, holding_cost, salvage_value`` per article × week of `weeks`
    (module docstring), sorted by article then week."""
    grid = pl.DataFrame({"article_id": article_ids}).join(pl.DataFrame({"week": list(weeks)}), how="cross")
    mean = (
        panel.filter(pl.col("price").is_not_null()).group_by("article_id", "week").agg(pl.col("price").mean())
    )
    listed = _list_prices(panel, articles)
    if listed is None:
        listed = pl.DataFrame(
            {"article_id": [], "_list_price": [], "_unit_cost": []},
            schema={"article_id": pl.Utf8, "_list_price": pl.Float64, "_unit_cost": pl.Float64},
        )
    carried = pl.col("price").forward_fill().backward_fill().over("article_id")
    price = pl.coalesce(
        _positive(pl.col("price")), _positive(pl.col("_list_price")), pl.lit(config.default_price)
    )
    full = (
        grid.join(mean, on=["article_id", "week"], how="left")
        .sort("article_id", "week")
        .with_columns(carried)
        .join(listed, on="article_id", how="left")
        .with_columns(price.cast(pl.Float64).alias("price"))
    )
    full = unit_costs(full, config, rounded=rounded, salvage=True)
    return full.select("article_id", "week", *COST_COLUMNS, "salvage_value")
