"""Allocation inputs: validate the four input frames and turn them into one `AllocationProblem`.

Decisions (documented in the README):
- demand for the allocation is the forecast of `week` (default: the first forecast week) summed over
  `config.cover_weeks` forecast weeks; quantiles are summed too (comonotone weeks, a conservative spread);
  the summed row's distribution is `forecast.distribution.DemandDistribution` (a forecast row with a
  negative value or crossing quantiles is refused, `forecast.schemas.check_forecast_values`; quantiles
  that cannot hold the mean are scaled as `coherent_forecasts` does, with a warning);
- forecasts for articles absent from the DC stock are dropped with a warning (the DC has nothing to send);
- forecasts for stores absent from the stores file are an error (their capacity is unknown);
- store stock of articles without a forecast still takes shelf space in the capacity constraint.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import numpy as np
import polars as pl

from forecast.checks import check_rows, check_schema, numeric, require, text_ids, unique_keys
from forecast.config import AllocationConfig
from forecast.contracts import SERIES, WEEKLY_KEY, quantile_columns
from forecast.distribution import coherent_forecasts
from forecast.errors import InfeasibleError, InputError
from forecast.schemas import DcStockInput, StoresInput, StoreStockInput, check_forecast_values

FORECAST_REQUIRED = ("article_id", "store_id", "week", "mean")
DC_REQUIRED = ("article_id", "available_units", "pack_size", "unit_cost", "price")
STORES_REQUIRED = ("store_id", "capacity_units")
STOCK_REQUIRED = ("store_id", "article_id", "on_hand")


@dataclass
class AllocationProblem:
    """One allocation instance, arrays aligned by store, article and store × article pair.

    Money is per unit: `price` (selling price), `unit_cost`, `holding_cost` (per unit left at the end of the
    period) per article; `ship_cost` per store. `pair_*` arrays describe every store × article with a
    forecast.
    `quantile_values` holds the demand quantiles per pair, valid and able to hold `pair_mean` (NaN rows use
    Poisson(`pair_mean`)).
    """

    week: date
    weeks: list[date]
    store_ids: np.ndarray
    capacity_units: np.ndarray
    store_on_hand_units: np.ndarray
    ship_cost: np.ndarray
    article_ids: np.ndarray
    available_units: np.ndarray
    pack_size: np.ndarray
    price: np.ndarray
    unit_cost: np.ndarray
    holding_cost: np.ndarray
    pair_store: np.ndarray
    pair_article: np.ndarray
    pair_on_hand: np.ndarray
    pair_mean: np.ndarray
    quantile_levels: np.ndarray
    quantile_values: np.ndarray
    presentation_min: int = 0
    warnings: list[str] = field(default_factory=list)

    @property
    def n_pairs(self) -> int:
        return int(self.pair_store.size)

    @property
    def residual_capacity(self) -> np.ndarray:
        """Units each store can still take: capacity minus everything already on hand."""
        return self.capacity_units - self.store_on_hand_units

    @property
    def usable_units(self) -> np.ndarray:
        """DC units per article that can leave in whole packs."""
        return (self.available_units // self.pack_size) * self.pack_size


def check_dc_stock(dc_stock: pl.DataFrame, config: AllocationConfig, file: str = "dc stock") -> pl.DataFrame:
    """Validate the DC stock frame (`DcStockInput`); fill `holding_cost` from the config (else 0)."""
    require(dc_stock, DC_REQUIRED, file)
    frame = check_schema(dc_stock, DcStockInput, file)
    unique_keys(frame, ["article_id"], file)
    default_hold = config.holding_cost if config.holding_cost is not None else 0.0
    if "holding_cost" not in frame.columns:
        frame = frame.with_columns(holding_cost=pl.lit(default_hold, pl.Float64))
    return frame.with_columns(pl.col("holding_cost").fill_null(default_hold)).sort("article_id")


def check_stores(stores: pl.DataFrame, config: AllocationConfig, file: str = "stores") -> pl.DataFrame:
    """Validate the stores frame (`StoresInput`); fill `ship_cost` from the config."""
    require(stores, STORES_REQUIRED, file)
    frame = check_schema(stores, StoresInput, file)
    unique_keys(frame, ["store_id"], file)
    if "ship_cost" not in frame.columns:
        frame = frame.with_columns(ship_cost=pl.lit(config.ship_cost, pl.Float64))
    return frame.with_columns(pl.col("ship_cost").fill_null(config.ship_cost)).sort("store_id")


def check_store_stock(store_stock: pl.DataFrame | None, stores: pl.DataFrame, file: str) -> pl.DataFrame:
    """Validate store stock (`StoreStockInput`) and check that no store already holds more than its
    capacity."""
    schema = {"store_id": pl.Utf8, "article_id": pl.Utf8, "on_hand": pl.Float64}
    if store_stock is None:
        return pl.DataFrame(schema=schema)
    require(store_stock, STOCK_REQUIRED, file)
    frame = check_schema(store_stock, StoreStockInput, file)
    unique_keys(frame, ["store_id", "article_id"], file)
    check_rows(
        frame,
        ~pl.col("store_id").is_in(stores["store_id"].implode()),
        file,
        "store_id",
        "store is not in the stores file",
        "add the store to the stores file or drop its stock rows",
    )
    used = frame.group_by("store_id").agg(on_hand=pl.col("on_hand").sum())
    over = (
        used.join(stores, on="store_id").filter(pl.col("on_hand") > pl.col("capacity_units")).sort("store_id")
    )
    if not over.is_empty():
        shown = ", ".join(
            f"{r['store_id']!r} ({r['on_hand']:g} on hand > {r['capacity_units']:g})"
            for r in over.head(5).iter_rows(named=True)
        )
        msg = (
            f"store capacity: on-hand stock already exceeds capacity_units in {over.height} store(s): {shown}"
        )
        raise InfeasibleError(msg)
    return frame.select(list(schema))


def forecast_frame(forecasts: pl.DataFrame, file: str) -> pl.DataFrame:
    """The forecasts frame checked: text ids, ISO weeks, numeric mean and quantiles by the forecasts' value
    rules (`forecast.schemas.check_forecast_values`), one model's row per article × store × week."""
    require(forecasts, FORECAST_REQUIRED, file)
    frame = text_ids(forecasts, tuple(SERIES))
    if frame["week"].dtype == pl.Utf8:
        try:
            frame = frame.with_columns(pl.col("week").str.to_date("%Y-%m-%d"))
        except pl.exceptions.PolarsError as exc:
            msg = "week must be an ISO date"
            raise InputError(msg, file=file, column="week", fix="write weeks as YYYY-MM-DD") from exc
    elif frame["week"].dtype != pl.Date:
        frame = frame.with_columns(pl.col("week").cast(pl.Date))
    qcols = tuple(quantile_columns(frame.columns))
    frame = numeric(frame, ("mean", *qcols), file)
    # rows of different models may sit side by side (the champion's plus the cold-start model's for new
    # articles); two models' forecasts for the same article × store × week cannot both be the demand
    keys = frame.select(WEEKLY_KEY)
    if "model" in frame.columns and frame["model"].n_unique() > 1 and keys.is_duplicated().any():
        models = sorted(frame["model"].cast(pl.Utf8).unique().drop_nulls().to_list())
        msg = f"forecasts hold several models {models[:5]} for the same article, store and week"
        raise InputError(msg, file=file, column="model", fix="keep one model's rows (the champion)")
    unique_keys(frame, WEEKLY_KEY, file)
    check_forecast_values(frame, file)
    return frame


def select_weeks(forecasts: pl.DataFrame, week: date | None, cover_weeks: int, file: str) -> list[date]:
    """The forecast weeks whose demand the allocation covers, starting at `week` (default: the first)."""
    weeks = sorted(forecasts["week"].unique().drop_nulls().to_list())
    if not weeks:
        msg = "no forecast rows"
        raise InputError(msg, file=file, fix="pass a non-empty forecasts file")
    start = weeks[0] if week is None else week
    if start not in weeks:
        msg = f"week {start.isoformat()!r} is not a forecast week (weeks {weeks[0]}..{weeks[-1]})"
        raise InputError(msg, file=file, column="week", fix="pick a week present in the forecasts")
    return [w for w in weeks if w >= start][:cover_weeks]


def known_rows(
    frame: pl.DataFrame, weeks: list[date], dc: pl.DataFrame, stores: pl.DataFrame, file: str
) -> tuple[pl.DataFrame, list[str]]:
    """Forecast rows of `weeks` (with their file row number in ``_row``) for articles the DC stocks; a store
    missing from the stores file is an error, an article missing from the DC stock a warning."""
    rows = frame.with_row_index("_row").filter(pl.col("week").is_in(weeks))
    unknown = rows.filter(~pl.col("store_id").is_in(stores["store_id"].implode()))
    if not unknown.is_empty():
        first = unknown.row(0, named=True)
        msg = f"store {first['store_id']!r} is not in the stores file ({unknown.height} row(s))"
        fix = "add the store to the stores file or drop its forecasts"
        raise InputError(msg, file=file, column="store_id", row=int(first["_row"]) + 1, fix=fix)
    warnings = []
    absent = rows.filter(~pl.col("article_id").is_in(dc["article_id"].implode()))
    if not absent.is_empty():
        ids = sorted(absent["article_id"].unique().to_list())
        warnings.append(
            f"{len(ids)} forecast article(s) are not in the DC stock and get nothing, e.g. {ids[:3]}"
        )
    return rows.filter(pl.col("article_id").is_in(dc["article_id"].implode())), warnings


def _pairs(
    frame: pl.DataFrame,
    weeks: list[date],
    qcols: list[str],
    dc: pl.DataFrame,
    stores: pl.DataFrame,
    file: str,
) -> tuple[pl.DataFrame, list[str]]:
    """Forecast rows of the allocation weeks summed per store × article, checked against stores and DC."""
    rows, warnings = known_rows(frame, weeks, dc, stores, file)
    aggs = [pl.col("mean").sum()]
    # a quantile summed over weeks is null when any week lacks it (that pair falls back to Poisson)
    aggs += [pl.when(pl.col(q).is_null().any()).then(None).otherwise(pl.col(q).sum()).alias(q) for q in qcols]
    return rows.group_by("store_id", "article_id").agg(aggs).sort("store_id", "article_id"), warnings


def _quantile_matrix(pairs: pl.DataFrame, qcols: list[str], demand: str) -> np.ndarray:
    if demand == "poisson" or len(qcols) < 2:
        if demand == "quantiles":
            msg = f"`allocation.demand = 'quantiles'` needs at least two qNN columns, got {qcols}"
            raise InputError(msg, file="forecasts", fix="add quantile columns or use demand = 'auto'")
        return np.full((pairs.height, 0), np.nan)
    return pairs.select(pl.col(qcols).cast(pl.Float64)).to_numpy().astype(float)


def _check_presentation(stores: pl.DataFrame, pairs: pl.DataFrame, presentation_min: int) -> None:
    small = stores.filter(
        pl.col("store_id").is_in(pairs["store_id"].implode()) & (pl.col("capacity_units") < presentation_min)
    )
    if not small.is_empty():
        ids = small["store_id"].head(5).to_list()
        msg = (
            f"presentation minimum: {presentation_min} units exceeds capacity_units of {small.height} "
            f"store(s) with forecasts, e.g. {ids}; lower allocation.presentation_min or raise capacities"
        )
        raise InfeasibleError(msg)


def build_problem(
    forecasts: pl.DataFrame,
    dc_stock: pl.DataFrame,
    stores: pl.DataFrame,
    store_stock: pl.DataFrame | None,
    config: AllocationConfig,
    *,
    week: date | None = None,
) -> AllocationProblem:
    """Validate the inputs and align them into arrays; raise `InputError`/`InfeasibleError` on bad input."""
    dc = check_dc_stock(dc_stock, config)
    store_frame = check_stores(stores, config)
    stock = check_store_stock(store_stock, store_frame, "store stock")
    frame = forecast_frame(forecasts, "forecasts")
    weeks = select_weeks(frame, week, config.cover_weeks, "forecasts")
    levels = quantile_columns(frame.columns)
    qcols = list(levels)
    pairs, warnings = _pairs(frame, weeks, qcols, dc, store_frame, "forecasts")
    _check_presentation(store_frame, pairs, config.presentation_min)
    pairs = pairs.join(stock, on=["store_id", "article_id"], how="left").with_columns(
        pl.col("on_hand").fill_null(0.0)
    )
    store_idx = {s: i for i, s in enumerate(store_frame["store_id"].to_list())}
    article_idx = {a: i for i, a in enumerate(dc["article_id"].to_list())}
    on_hand = stock.group_by("store_id").agg(pl.col("on_hand").sum())
    store_on_hand = store_frame.join(on_hand, on="store_id", how="left")["on_hand"].fill_null(0.0)
    pairs, coherence = coherent_forecasts(pairs)
    warnings += coherence.warnings("store × article demand rows")
    qvalues = _quantile_matrix(pairs, qcols, config.demand)
    return AllocationProblem(
        week=weeks[0],
        weeks=weeks,
        store_ids=store_frame["store_id"].to_numpy(),
        capacity_units=store_frame["capacity_units"].to_numpy().astype(np.int64),
        store_on_hand_units=store_on_hand.to_numpy().astype(np.int64),
        ship_cost=store_frame["ship_cost"].to_numpy().astype(float),
        article_ids=dc["article_id"].to_numpy(),
        available_units=dc["available_units"].to_numpy().astype(np.int64),
        pack_size=dc["pack_size"].to_numpy().astype(np.int64),
        price=dc["price"].to_numpy().astype(float),
        unit_cost=dc["unit_cost"].to_numpy().astype(float),
        holding_cost=dc["holding_cost"].to_numpy().astype(float),
        pair_store=pairs["store_id"].replace_strict(store_idx, return_dtype=pl.Int64).to_numpy(),
        pair_article=pairs["article_id"].replace_strict(article_idx, return_dtype=pl.Int64).to_numpy(),
        pair_on_hand=pairs["on_hand"].to_numpy().astype(np.int64),
        pair_mean=pairs["mean"].to_numpy().astype(float),
        quantile_levels=np.array(list(levels.values())[: qvalues.shape[1]], dtype=float),
        quantile_values=qvalues,
        presentation_min=config.presentation_min,
        warnings=warnings,
    )
