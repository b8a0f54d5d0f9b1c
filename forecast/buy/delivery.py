"""The first delivery of a buy split over the stores: the allocation (`forecast.allocation.allocate`) of the
units bought, at each launch week, on the new articles' store forecasts of their first weeks.

The store forecasts come from the cold-start model (`forecast.models.coldstart`) fitted on all the sales
history: the split is made at delivery, later than the buy, so it may read everything sold by then. Units the
stores' first `first_delivery_weeks` weeks do not need stay at the DC for replenishment.
"""

from __future__ import annotations

import dataclasses
from datetime import date

import polars as pl

from forecast.allocation import allocate
from forecast.allocation.sources import stores_for
from forecast.buy.config import BuyConfig
from forecast.config import PipelineConfig
from forecast.dataset import Dataset
from forecast.models.coldstart import ColdStartForecaster


def store_forecasts(
    ds: Dataset, panel: pl.DataFrame, plan: pl.DataFrame, config: PipelineConfig, weeks: int
) -> pl.DataFrame:
    """Weeks 1..`weeks` from launch of the plan's articles in every store of the panel."""
    model = ColdStartForecaster(config.forecast.quantiles, config.forecast.seed, params={"weeks": weeks})
    last = panel["week"].max()
    assert isinstance(last, date)
    model.fit(
        panel.select("article_id", "store_id", "week", "units"), last, articles=ds.articles, trends=ds.trends
    )
    stores = panel.select("store_id").unique().sort("store_id")
    launches = plan.select("article_id", "launch_week").join(stores, how="cross")
    return model.predict(weeks, launches.select("article_id", "store_id", "launch_week"))


def first_delivery(
    ds: Dataset, panel: pl.DataFrame, plan: pl.DataFrame, config: PipelineConfig, buy: BuyConfig
) -> pl.DataFrame:
    """The allocation plan rows (``store_id, article_id, week, units, packs, ...``) of every launch week."""
    bought = plan.filter(pl.col("units") > 0)
    if bought.height == 0:
        from forecast.buy.plan import empty_delivery

        return empty_delivery()
    forecasts = store_forecasts(ds, panel, bought, config, buy.first_delivery_weeks)
    settings = dataclasses.replace(config.allocation, cover_weeks=buy.first_delivery_weeks)
    hold = config.business.holding_cost_ratio
    parts = []
    for (week,), group in bought.group_by("launch_week", maintain_order=True):
        dc = group.select(
            "article_id",
            pl.col("units").cast(pl.Float64).alias("available_units"),
            (pl.col("units") / pl.col("packs").clip(1)).round(0).alias("pack_size"),
            "unit_cost",
            "price",
            (hold * pl.col("price")).alias("holding_cost"),
        )
        rows = forecasts.filter(pl.col("article_id").is_in(group["article_id"].implode()))
        stores = stores_for(ds, rows, dc, None)
        result = allocate(rows, dc, stores, None, settings, week=week)  # type: ignore[arg-type]
        parts.append(result.plan)
    return pl.concat(parts, how="vertical_relaxed").sort("week", "article_id", "store_id")
