"""The buy plan: for every catalogue article not yet launched, the units to order `lead_weeks` before its
launch (`forecast.buy.season` for the season distribution, `forecast.buy.optimise` for the order), and how
the first delivery splits over the stores (`forecast.allocation` on the new articles' store forecasts).

An article is new when its launch date is after the last week of sales (or the catalogue marks it
``is_future``). Its order week is its launch less the lead time; its season model reads only the sales that
ended by then and the articles whose season had ended by then.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import polars as pl

from forecast.buy.config import BuyConfig
from forecast.buy.optimise import budget_orders, expected_outcome, expected_profit
from forecast.buy.season import SeasonForecast, SeasonModel, forecast_seasons
from forecast.config import PipelineConfig
from forecast.dataset import Dataset
from forecast.errors import InputError

PLAN_COLUMNS = [
    "article_id",
    "launch_week",
    "order_week",
    "units",
    "packs",
    "season_q10",
    "season_q50",
    "season_q90",
    "season_mean",
    "expected_sales",
    "expected_leftover",
    "expected_profit",
    "price",
    "unit_cost",
    "salvage",
]
FIX_LAUNCH = "give every article to be launched a launch_date in the articles file"


@dataclass
class BuyResult:
    """The plan (`PLAN_COLUMNS`, one row per new article), the first delivery's store split (the allocation
    plan's rows), the budget solver's status and whether the budget bound the plan."""

    plan: pl.DataFrame
    allocation: pl.DataFrame
    status: str
    budget_binding: bool
    lead_weeks: int


def empty_plan() -> pl.DataFrame:
    """A plan with no article, with the plan's columns and types."""
    text = {"article_id": pl.Utf8, "launch_week": pl.Date, "order_week": pl.Date}
    whole = {"units": pl.Int64, "packs": pl.Int64}
    return pl.DataFrame(schema={c: text.get(c, whole.get(c, pl.Float64)) for c in PLAN_COLUMNS})


def empty_delivery() -> pl.DataFrame:
    """A first delivery with no row."""
    schema = {
        "store_id": pl.Utf8,
        "article_id": pl.Utf8,
        "week": pl.Date,
        "units": pl.Int64,
        "packs": pl.Int64,
    }
    return pl.DataFrame(schema=schema)


def new_articles(articles: pl.DataFrame, last_week: date, lead_weeks: int) -> pl.DataFrame:
    """``article_id, launch_week, order_week`` of the articles launched after `last_week` (or marked
    ``is_future``); one without a launch date is an error."""
    if "launch_date" not in articles.columns:
        articles = articles.with_columns(pl.lit(None, pl.Date).alias("launch_date"))
    future = pl.col("launch_date") > last_week
    if "is_future" in articles.columns:
        future = future | pl.col("is_future").fill_null(False)
    new = articles.filter(future.fill_null(False))
    undated = new.filter(pl.col("launch_date").is_null())
    if undated.height:
        msg = f"article {undated['article_id'][0]!r} is to be launched but has no launch date"
        raise InputError(msg, file="articles", column="launch_date", fix=FIX_LAUNCH)
    return new.select(
        "article_id",
        pl.col("launch_date").alias("launch_week"),
        (pl.col("launch_date") - timedelta(days=7 * lead_weeks)).alias("order_week"),
    ).sort("launch_week", "article_id")


def _money(articles: pl.DataFrame, new: pl.DataFrame, buy: BuyConfig) -> pl.DataFrame:
    """price, unit_cost, salvage, case_pack and min_order_units per new article: the catalogue's, else
    `buy`'s defaults; a missing price or cost with no default is an error."""

    def column(name: str) -> pl.Expr:
        exists = name in articles.columns
        return (pl.col(name).cast(pl.Float64) if exists else pl.lit(None, pl.Float64)).alias(name)

    names = ["list_price", "unit_cost", "salvage_value", "case_pack", "min_order_units"]
    given = articles.select("article_id", *[column(n) for n in names])
    frame = new.join(given, on="article_id", how="left", maintain_order="left")
    price = pl.coalesce(
        pl.when(pl.col("list_price") > 0).then(pl.col("list_price")), pl.lit(buy.default_price)
    )
    frame = frame.with_columns(price.cast(pl.Float64).alias("price"))
    ratio = pl.lit(buy.unit_cost_ratio, pl.Float64)
    cost = pl.coalesce(pl.when(pl.col("unit_cost") >= 0).then(pl.col("unit_cost")), ratio * pl.col("price"))
    salvage = pl.coalesce(pl.col("salvage_value"), buy.salvage_ratio * pl.col("price"))
    frame = frame.with_columns(cost.alias("unit_cost")).with_columns(salvage.alias("salvage"))
    for name, default in (("price", "default_price"), ("unit_cost", "unit_cost_ratio")):
        missing = frame.filter(pl.col(name).is_null())
        if missing.height:
            msg = f"article {missing['article_id'][0]!r} has no {name} and [buy] has no {default}"
            fix = f"add {'list_price' if name == 'price' else name} to the articles or set [buy] {default}"
            raise InputError(msg, file="articles", column=name, fix=fix)
    return frame.with_columns(
        pl.col("case_pack").fill_null(float(buy.case_pack)).clip(1.0),
        pl.col("min_order_units").fill_null(float(buy.min_order_units)).clip(0.0),
    )


def season_model(buy: BuyConfig) -> SeasonModel:
    """The season model `buy` asks for."""
    return SeasonModel(levels=buy.levels, analogues=buy.analogues, seed=buy.seed)


def order_plan(new: pl.DataFrame, dist: SeasonForecast, buy: BuyConfig) -> tuple[pl.DataFrame, str, bool]:
    """The plan rows of `new` (with money columns, `_money`) from their season distributions."""
    arr = {c: new[c].to_numpy().astype(np.float64) for c in ("price", "unit_cost", "salvage")}
    pack, minimum = new["case_pack"].to_numpy(), new["min_order_units"].to_numpy()
    solution = budget_orders(
        dist.atoms,
        arr["price"],
        arr["unit_cost"],
        arr["salvage"],
        pack,
        minimum,
        buy.budget,
        buy.time_limit_s,
    )
    units = solution.units
    sales, leftover = expected_outcome(dist.atoms, units)
    money = expected_profit(dist.atoms, units, arr["price"], arr["unit_cost"], arr["salvage"])
    plan = new.join(dist.frame(), on="article_id", how="left", maintain_order="left").with_columns(
        pl.Series("units", units.astype(np.int64)),
        pl.Series("packs", np.round(units / np.maximum(pack, 1.0)).astype(np.int64)),
        pl.Series("expected_sales", sales),
        pl.Series("expected_leftover", leftover),
        pl.Series("expected_profit", money),
    )
    return plan.select(PLAN_COLUMNS), solution.status, solution.binding


def buy_plan(
    ds: Dataset, panel: pl.DataFrame, config: PipelineConfig, lead_weeks: int | None = None
) -> BuyResult:
    """The buy of every new article of `ds` (see the module docstring); `lead_weeks` overrides
    ``[buy] lead_weeks``."""
    buy = config.buy or BuyConfig()
    if lead_weeks is not None:
        buy = dataclasses.replace(buy, lead_weeks=lead_weeks)
    last = panel["week"].max()
    if not isinstance(last, date):
        msg = "the sales panel is empty: nothing to learn a buy from"
        raise InputError(msg, file="sales", fix="give sales history")
    new = new_articles(ds.articles, last, buy.lead_weeks)
    if new.height == 0:
        return BuyResult(empty_plan(), empty_delivery(), "no new article", False, buy.lead_weeks)
    new = _money(ds.articles, new, buy)
    targets = new.select("article_id", pl.col("order_week").alias("decision_date"))
    dist = forecast_seasons(
        panel.select("article_id", "store_id", "week", "units"),
        ds.articles,
        targets,
        lead_weeks=buy.lead_weeks,
        horizon=buy.horizon or config.forecast.horizon,
        refit_weeks=buy.refit_weeks,
        model=season_model(buy),
        trends=ds.trends,
    )
    plan, status, binding = order_plan(new, dist, buy)
    from forecast.buy.delivery import first_delivery

    allocation = first_delivery(ds, panel, plan, config, buy)
    return BuyResult(plan, allocation, status, binding, buy.lead_weeks)
