"""Allocation inputs from a dataset: the DC stock, stores and store stock that `forecast run` and the
business replay allocate from (`forecast allocate` reads the same frames from files).

Rules when the data has none (documented in the README):

- the weeks covered are `forecast.allocation.inputs.select_weeks`' (the allocation week and the next
  ``cover_weeks - 1`` forecast weeks), the same the allocation sums demand over;
- DC stock: per article, 1.1 × the forecast mean summed over stores and those weeks, rounded up, in packs of 1
  (for a target counted in money, such as Walmart's dollars, in round blocks of money sized by `value_block`);
  price, unit cost and holding cost per unit from `forecast.costs.article_costs` (the article's price for
  the coming weeks). A DC stock the data gives keeps its values; its empty prices and costs are filled the
  same way.
- holding cost per leftover unit: the DC stock's, else ``allocation.holding_cost``, else the one
  `forecast.costs` derives from the price. `planned_holding_cost` fills the one the allocation uses.
- store capacity: ``stores.capacity_units`` in whole units; a store without one is unlimited (capacity =
  every unit that could be sent plus what it holds).
- store stock: whole units on hand at the latest ``stock`` week up to a given week.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

import polars as pl

from forecast.allocation.inputs import select_weeks
from forecast.config import AllocationConfig, PipelineConfig
from forecast.contracts import SERIES
from forecast.costs import article_costs, planned_prices
from forecast.dataset import Dataset
from forecast.errors import ConfigError
from forecast.ids import natural_order
from forecast.outputs import csv_precision

DC_STOCK_MARGIN = 1.1
DC_COLUMNS = ["article_id", "available_units", "pack_size", "unit_cost", "price"]
DC_BASES = ("need", "demand")
STOCK_SCHEMA = {"store_id": pl.Utf8, "article_id": pl.Utf8, "on_hand": pl.Float64}


@dataclass
class AllocationInputs:
    """The frames an allocation reads besides the forecasts, as `forecast allocate` reads them from files."""

    dc_stock: pl.DataFrame
    stores: pl.DataFrame
    store_stock: pl.DataFrame | None

    def files(self) -> dict[str, pl.DataFrame]:
        """The frames by output name (``dc_stock``, ``stores``, ``store_stock`` when stores hold stock)."""
        files = {
            "dc_stock": natural_order(self.dc_stock, ["article_id"]),
            "stores": natural_order(self.stores, ["store_id"]),
        }
        if self.store_stock is not None:
            files["store_stock"] = natural_order(self.store_stock, ["store_id", "article_id"])
        return files


def run_inputs(
    ds: Dataset,
    panel: pl.DataFrame,
    forecasts: pl.DataFrame,
    config: PipelineConfig,
    planned: pl.DataFrame | None = None,
) -> AllocationInputs:
    """The inputs of `forecast run`'s allocation, rounded as their files are written, so that `forecast
    allocate` on the files gives the same plan; `planned` (``article_id``, ``price``: a markdown plan's)
    sets the DC stock's price of its articles (`forecast.costs.planned_prices`)."""
    dc_stock = planned_prices(dc_stock_for(ds, panel, forecasts, config), planned)
    stock = store_stock_at(ds, panel["week"].max() if panel.height else None)  # type: ignore[arg-type]
    stores = stores_for(ds, forecasts, dc_stock, stock)
    return AllocationInputs(
        dc_stock=csv_precision(planned_holding_cost(dc_stock, config.allocation)),
        stores=csv_precision(stores),
        store_stock=csv_precision(stock) if stock is not None else None,
    )


def planned_holding_cost(dc_stock: pl.DataFrame, config: AllocationConfig) -> pl.DataFrame:
    """The DC stock with the holding cost the allocation uses for each article filled in (the file's own,
    else ``allocation.holding_cost``, else 0), so a written dc_stock.csv reproduces the plan."""
    default = config.holding_cost if config.holding_cost is not None else 0.0
    hold = pl.lit(default, pl.Float64)
    if "holding_cost" in dc_stock.columns:
        hold = pl.col("holding_cost").cast(pl.Float64).fill_null(default)
    return dc_stock.with_columns(hold.alias("holding_cost"))


def dc_stock_for(
    ds: Dataset,
    panel: pl.DataFrame,
    forecasts: pl.DataFrame,
    config: PipelineConfig,
    week: date | None = None,
) -> pl.DataFrame:
    """The DC stock to allocate in `week` (default: the first forecast week): the data's, else derived from
    the forecast (module docstring)."""
    prices = article_costs(ds.articles, panel, config.business, also=forecasts["article_id"])
    if ds.dc_stock is not None and ds.dc_stock.height:
        return _given_dc_stock(ds.dc_stock, prices, config)
    cover = config.allocation.cover_weeks
    weeks = select_weeks(forecasts, week, cover, "forecasts") if forecasts.height else []
    rows = forecasts.filter(pl.col("week").is_in(weeks))
    need = rows.group_by("article_id").agg(pl.col("mean").sum().alias("demand_units"))
    pack = 1 if ds.target_unit == "units" else value_block(rows)
    available = (pl.col("demand_units") * DC_STOCK_MARGIN / pack).ceil().cast(pl.Int64) * pack
    dc = need.join(prices, on="article_id", how="left").with_columns(
        available.alias("available_units"), pl.lit(pack, pl.Int64).alias("pack_size")
    )
    if config.allocation.holding_cost is not None:
        dc = dc.drop("holding_cost")
    return dc.select(*DC_COLUMNS, *[c for c in dc.columns if c == "holding_cost"]).sort("article_id")


def _given_dc_stock(dc: pl.DataFrame, prices: pl.DataFrame, config: PipelineConfig) -> pl.DataFrame:
    """The dataset's DC stock with empty prices and unit costs filled from `prices` and, unless the DC stock
    or the config gives one, the derived holding cost."""
    known = prices.rename({c: f"_{c}" for c in ("price", "unit_cost", "holding_cost")})
    dc = dc.join(known, on="article_id", how="left")
    fill = [pl.coalesce(c, f"_{c}").alias(c) for c in ("price", "unit_cost") if c in dc.columns]
    dc = dc.with_columns(fill)
    if "holding_cost" not in dc.columns and config.allocation.holding_cost is None:
        dc = dc.rename({"_holding_cost": "holding_cost"})
    return dc.drop([c for c in dc.columns if c.startswith("_")])


def value_block(forecasts: pl.DataFrame, packs_per_store: int = 25) -> int:
    """Shipping block for a target counted in money (Walmart's dollars): a 1-2-5 round amount such that a
    typical store × article needs about `packs_per_store` blocks, which keeps the allocation model small.

    Examples
    --------
    >>> value_block(pl.DataFrame({"mean": [20_000.0, 30_000.0]}))
    2000
    """
    typical = float(forecasts["mean"].quantile(0.9) or 0.0) if forecasts.height else 0.0
    target = max(typical / packs_per_store, 1.0)
    magnitude = 10 ** math.floor(math.log10(target))
    return int(next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= target))


def store_stock_at(ds: Dataset, week: date | None) -> pl.DataFrame | None:
    """Whole units on hand per store × article at the latest stock week up to `week` (None: no stock known).

    Every article counted takes shelf space, with or without a forecast; negative counts are 0.
    """
    if ds.stock is None or ds.stock.height == 0 or week is None:
        return None
    stock = ds.stock.filter(pl.col("week") <= week)
    if stock.height == 0:
        return None
    latest = stock.filter(pl.col("week") == pl.col("week").max())
    return (
        latest.select(
            "store_id", "article_id", pl.col("on_hand").fill_null(0.0).clip(lower_bound=0.0).floor()
        )
        .group_by(SERIES)
        .agg(pl.col("on_hand").sum())
        .select(list(STOCK_SCHEMA))
        .sort("store_id", "article_id")
    )


def stores_for(
    ds: Dataset, forecasts: pl.DataFrame, dc_stock: pl.DataFrame, stock: pl.DataFrame | None
) -> pl.DataFrame:
    """Stores with whole capacities; missing capacities (and stores only the forecast names) are unlimited."""
    unlimited = float(dc_stock["available_units"].sum()) + (
        float(stock["on_hand"].sum()) if stock is not None else 0
    )
    unlimited = float(math.ceil(unlimited) + 1)
    known = ds.stores
    if "capacity_units" not in known.columns:
        known = known.with_columns(pl.lit(None, pl.Float64).alias("capacity_units"))
    extra = [c for c in ("ship_cost",) if c in known.columns]
    named = forecasts.select("store_id").unique()
    frame = named.join(known.select("store_id", "capacity_units", *extra), on="store_id", how="left")
    frame = pl.concat([frame, known.select(frame.columns).join(named, on="store_id", how="anti")])
    return frame.with_columns(pl.col("capacity_units").floor().fill_null(unlimited).fill_nan(unlimited)).sort(
        "store_id"
    )


def pack_sizes(ds: Dataset, article_ids: pl.Series) -> pl.DataFrame:
    """article_id, pack_size of `article_ids`: the dataset's DC stock's, else 1."""
    frame = pl.DataFrame({"article_id": article_ids.unique().sort()})
    if ds.dc_stock is None:
        return frame.with_columns(pack_size=pl.lit(1.0))
    packs = ds.dc_stock.select("article_id", "pack_size")
    return frame.join(packs, on="article_id", how="left").with_columns(pl.col("pack_size").fill_null(1.0))


def dc_stock_for_week(
    ds: Dataset, week_rows: pl.DataFrame, *, dc_share: float = 0.75, dc_basis: str = "need"
) -> pl.DataFrame:
    """The DC stock frame (allocation contract) of one replay week of the business replay
    (`forecast.replay`, whose docstring gives the rule).

    `week_rows` holds one row per forecast store × article of the week with ``true_demand``, ``on_hand``,
    ``price``, ``unit_cost`` and ``holding_cost``.
    """
    if dc_basis not in DC_BASES:
        msg = f"`dc_basis` must be one of {DC_BASES}, got {dc_basis!r}"
        raise ConfigError(msg)
    if not 0 <= dc_share:
        msg = f"`dc_share` must be >= 0, got {dc_share!r}"
        raise ConfigError(msg)
    need = pl.col("true_demand")
    if dc_basis == "need":
        need = (pl.col("true_demand") - pl.col("on_hand")).clip(lower_bound=0.0)
    per_article = week_rows.group_by("article_id").agg(
        need.sum().alias("_need_units"),
        pl.col("price").mean(),
        pl.col("unit_cost").mean(),
        pl.col("holding_cost").mean(),
    )
    packs = pack_sizes(ds, per_article["article_id"])
    units = ((dc_share * pl.col("_need_units") / pl.col("pack_size")) + 0.5).floor() * pl.col("pack_size")
    return (
        per_article.join(packs, on="article_id", how="left")
        .with_columns(units.alias("available_units"))
        .select("article_id", "available_units", "pack_size", "unit_cost", "price", "holding_cost")
        .sort("article_id")
    )
