"""The run's demand and prices at the recommended markdowns (``[markdown] apply_to_plans``).

**Demand.** Each forecast row (article × store × week) that a markdown row covers (the article, the store's
cluster or ``ALL``, the week) is scaled by the markdown package's own response,
``lift(recommended discount) / lift(discount the row assumed)`` with the unit's fitted elasticity
(`forecast.markdown.response.lift`): the demand model the plan was chosen under, so the allocation and
replenishment see the demand behind ``markdowns.csv``. The mean and every quantile are scaled by the same
factor, which keeps the distribution coherent (quantiles stay ordered, around the scaled mean). The row
assumed its own ``price``, else the unit's current price; the discount is taken from the list price.
**Price.** Covered rows carry the recommended price in ``price`` (the replenishment reads it per week);
the allocation, one price per article, takes the recommended price averaged over its cover weeks, weighted
by the re-priced mean demand (`allocation_prices`), through `forecast.costs.planned_prices`.
Rows no markdown row covers are left as they are.
"""

from __future__ import annotations

import polars as pl

from forecast.allocation.inputs import select_weeks
from forecast.contracts import quantile_columns
from forecast.markdown.config import MarkdownConfig
from forecast.markdown.plan import MarkdownResult, _clusters, _with_cluster
from forecast.markdown.response import lift

__all__ = ["allocation_prices", "repriced_demand"]


def _recommended(result: MarkdownResult) -> pl.DataFrame:
    """Per unit × week: recommended ``_price``, its ``_discount`` (share), ``_list``, the unit's
    ``_current`` price and ``_beta``."""
    rows = result.markdowns.filter(pl.col("price").is_not_null())
    list_price = pl.col("price") / (1.0 - pl.col("discount") / 100.0)
    return rows.join(
        result.summary.select("article_id", "cluster", "elasticity"), on=["article_id", "cluster"]
    ).select(
        "article_id",
        "cluster",
        pl.col("week").cast(pl.Date),
        pl.col("price").alias("_price"),
        (pl.col("discount") / 100.0).alias("_discount"),
        list_price.alias("_list"),
        pl.col("current_price").alias("_current"),
        pl.col("elasticity").alias("_beta"),
    )


def repriced_demand(
    demand: pl.DataFrame,
    result: MarkdownResult,
    stores: pl.DataFrame | None,
    config: MarkdownConfig,
    fallback: pl.DataFrame,
    default_price: float,
) -> pl.DataFrame:
    """`demand` (one row per article × store × week) at the recommended prices (module docstring), in
    its row order, with a ``price`` column: the plan's, else the row's own, else the article's price in
    `fallback` (``article_id``, ``price``: the DC stock's), else `default_price`."""
    plan = _recommended(result)
    qcols = list(quantile_columns(demand.columns))
    rows = (
        demand if "price" in demand.columns else demand.with_columns(pl.lit(None, pl.Float64).alias("price"))
    )
    if not plan.height:
        return _filled(rows, fallback, default_price)
    clusters = _clusters(stores, config)
    keyed = _with_cluster(rows.with_columns(pl.col("week").cast(pl.Date).alias("_week")), clusters)
    joined = keyed.join(
        plan.rename({"week": "_week"}),
        on=["article_id", "cluster", "_week"],
        how="left",
        maintain_order="left",
    )
    assumed = pl.coalesce(pl.col("price").cast(pl.Float64), pl.col("_current"))
    assumed_discount = (1.0 - assumed / pl.col("_list")).clip(0.0, 0.95)
    joined = joined.with_columns(assumed_discount.alias("_assumed"))
    ratio = _ratio(joined)
    scaled = [(pl.col(c) * ratio).alias(c) for c in ["mean", *qcols]]
    out = joined.with_columns(*scaled, pl.coalesce("_price", pl.col("price").cast(pl.Float64)).alias("price"))
    return _filled(out.select(rows.columns), fallback, default_price)


def _filled(rows: pl.DataFrame, fallback: pl.DataFrame, default_price: float) -> pl.DataFrame:
    """Empty prices filled from `fallback`'s article price, else `default_price` (the replenishment reads
    a price on every row once the column is there)."""
    known = fallback.select("article_id", pl.col("price").cast(pl.Float64).alias("_fallback"))
    out = rows.join(known, on="article_id", how="left", maintain_order="left")
    price = pl.coalesce(pl.col("price").cast(pl.Float64), "_fallback", pl.lit(default_price))
    return out.with_columns(price.alias("price")).drop("_fallback")


def _ratio(joined: pl.DataFrame) -> pl.Series:
    """Per row: lift(recommended) / lift(assumed) where a markdown row covers it, else 1."""
    covered = joined["_price"].is_not_null().to_numpy()
    beta = joined["_beta"].fill_null(0.0).to_numpy()
    new = joined["_discount"].fill_null(0.0).to_numpy()
    old = joined["_assumed"].fill_null(0.0).to_numpy()
    factor = lift(new, beta) / lift(old, beta)
    factor[~covered] = 1.0
    return pl.Series("_ratio", factor)


def allocation_prices(repriced: pl.DataFrame, result: MarkdownResult, cover_weeks: int) -> pl.DataFrame:
    """``article_id, price`` per planned article: the recommended price over the allocation's cover weeks,
    weighted by the re-priced mean demand (the plain mean where that demand is zero)."""
    planned = result.markdowns.filter(pl.col("price").is_not_null())
    if not planned.height or not repriced.height:
        return pl.DataFrame(schema={"article_id": pl.Utf8, "price": pl.Float64})
    dated = repriced.with_columns(pl.col("week").cast(pl.Date))
    weeks = select_weeks(dated, None, cover_weeks, "forecasts")
    keys = planned.select("article_id", pl.col("week").cast(pl.Date)).unique()
    rows = dated.filter(pl.col("week").is_in(weeks))
    rows = rows.join(keys, on=["article_id", "week"], how="semi")
    weight = pl.col("mean").clip(lower_bound=0.0)
    mean_price = (weight * pl.col("price")).sum() / weight.sum()
    price = pl.when(weight.sum() > 0).then(mean_price).otherwise(pl.col("price").mean())
    return rows.group_by("article_id").agg(price.round(2).alias("price")).sort("article_id")
