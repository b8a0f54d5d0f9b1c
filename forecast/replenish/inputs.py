"""Replenishment inputs: validate the frames and align them into one `ReplenishProblem`.

Files (README "Replenishment"): the allocation contract's forecasts (optional ``price`` per row: the planned
price of that week), DC stock (optional ``salvage_value`` and ``season_end``: the article's last selling
week), stores (optional ``ship_cost`` and ``lead_weeks``) and store stock; optional in-transit stock
(``article_id, store_id, arrive_week, units``; ``store_id`` empty or ``DC`` = inbound to the DC) and
suppliers (``article_id, supplier_id`` and optional ``lead_weeks, moq_units, case_pack``). Without a
suppliers file every article can be ordered with the pipeline's defaults; with one, only the articles it
lists.

Known stock (on hand and in transit) is projected forward with its expected leftover
``round(E[(K − D)+])`` each week; it is what the stores hold before any new shipment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import polars as pl

from forecast.allocation.demand import DemandModel
from forecast.allocation.inputs import (
    check_dc_stock,
    check_store_stock,
    check_stores,
    forecast_frame,
    known_rows,
    select_weeks,
)
from forecast.checks import check_rows, numeric, require, text_ids, unique_keys, whole
from forecast.config import AllocationConfig, ReplenishmentConfig
from forecast.contracts import SERIES, quantile_columns
from forecast.errors import InfeasibleError, InputError

TRANSIT_REQUIRED = ("article_id", "store_id", "arrive_week", "units")
SUPPLIER_REQUIRED = ("article_id", "supplier_id")
DC_KEY = "DC"


@dataclass
class ReplenishProblem:
    """One multi-week instance; arrays by store, article, week and forecast row (store × article × week).

    Weeks are indexes 0..T-1 into `weeks`. `row_*` arrays describe every forecast row inside its article's
    season; `row_known` is the projected known stock of the row's store × article at the start of that week.
    """

    weeks: list[date]
    store_ids: np.ndarray
    capacity_units: np.ndarray
    ship_cost: np.ndarray
    store_lead: np.ndarray
    store_known: np.ndarray  # (stores, T): known units of every article in the store each week
    article_ids: np.ndarray
    pack_size: np.ndarray
    unit_cost: np.ndarray
    holding_cost: np.ndarray
    salvage_value: np.ndarray
    season_last: np.ndarray  # index of the last selling week inside the horizon (T-1 if later)
    season_ends: np.ndarray  # bool: the season ends inside the horizon
    dc_on_hand: np.ndarray
    dc_inbound: np.ndarray  # (articles, T): in-transit units reaching the DC
    orderable: np.ndarray
    supplier_ids: np.ndarray
    supplier_lead: np.ndarray
    moq_units: np.ndarray
    case_pack: np.ndarray
    row_store: np.ndarray
    row_article: np.ndarray
    row_week: np.ndarray
    row_price: np.ndarray
    row_mean: np.ndarray
    row_known: np.ndarray
    row_known_left: np.ndarray  # expected leftover of the known stock at the week's end
    row_carry: np.ndarray  # value of a delivered unit left at the week's end (module docstring)
    row_shortage: np.ndarray  # goodwill cost per expected lost sale
    quantile_levels: np.ndarray
    quantile_values: np.ndarray
    dc_capacity: float | None = None
    budget: float | None = None
    warnings: list[str] = field(default_factory=list)
    _demand: DemandModel | None = field(default=None, repr=False)

    @property
    def n_weeks(self) -> int:
        return len(self.weeks)

    @property
    def n_rows(self) -> int:
        return int(self.row_store.size)

    @property
    def demand(self) -> DemandModel:
        """One demand distribution per forecast row (`forecast.allocation.demand`)."""
        if self._demand is None:
            self._demand = DemandModel(self.row_mean, self.quantile_levels, self.quantile_values)
        return self._demand


def _date_column(frame: pl.DataFrame, col: str, file: str) -> pl.DataFrame:
    if col not in frame.columns or frame[col].dtype == pl.Date:
        return frame
    try:
        return frame.with_columns(pl.col(col).cast(pl.Utf8).str.to_date("%Y-%m-%d"))
    except pl.exceptions.PolarsError as exc:
        msg = f"{col} must be an ISO date"
        raise InputError(msg, file=file, column=col, fix="write weeks as YYYY-MM-DD") from exc


def _horizon(frame: pl.DataFrame, weeks: int) -> list[date]:
    chosen = select_weeks(frame, None, weeks, "forecasts")
    for prev, nxt in zip(chosen, chosen[1:], strict=False):
        if nxt - prev != timedelta(weeks=1):
            msg = f"forecast weeks must be consecutive, {prev} is followed by {nxt}"
            raise InputError(msg, file="forecasts", column="week", fix="forecast every week of the horizon")
    return chosen


def _week_index(day: pl.Expr, first: date) -> pl.Expr:
    return ((day - pl.lit(first)).dt.total_days() // 7).cast(pl.Int64)


def _dc_frame(dc_stock: pl.DataFrame, config: ReplenishmentConfig) -> pl.DataFrame:
    alloc = AllocationConfig(holding_cost=config.holding_cost, ship_cost=config.ship_cost)
    frame = check_dc_stock(numeric(dc_stock, ("salvage_value",), "dc stock"), alloc)
    if "salvage_value" not in frame.columns:
        frame = frame.with_columns(salvage_value=pl.lit(None, pl.Float64))
    frame = frame.with_columns(
        pl.col("salvage_value").cast(pl.Float64).fill_null(config.salvage_ratio * pl.col("unit_cost"))
    )
    check_rows(
        frame, pl.col("salvage_value") < 0, "dc stock", "salvage_value", "salvage must be >= 0", "fix it"
    )
    if "season_end" not in frame.columns:
        frame = frame.with_columns(season_end=pl.lit(None, pl.Date))
    return _date_column(frame, "season_end", "dc stock")


def _store_frame(stores: pl.DataFrame, config: ReplenishmentConfig) -> pl.DataFrame:
    frame = check_stores(
        numeric(stores, ("lead_weeks",), "stores"), AllocationConfig(ship_cost=config.ship_cost)
    )
    if "lead_weeks" not in frame.columns:
        frame = frame.with_columns(lead_weeks=pl.lit(config.store_lead_weeks, pl.Float64))
    frame = frame.with_columns(pl.col("lead_weeks").cast(pl.Float64).fill_null(config.store_lead_weeks))
    whole(frame, "lead_weeks", "stores", 0)
    return frame


def _suppliers(suppliers: pl.DataFrame | None, dc: pl.DataFrame, config: ReplenishmentConfig) -> pl.DataFrame:
    """One supplier row per DC article (orderable = False where a suppliers file leaves it out)."""
    defaults = {"lead_weeks": config.supplier_lead_weeks, "moq_units": config.moq_units}
    defaults["case_pack"] = config.case_pack
    base = dc.select("article_id")
    if suppliers is None:
        return base.with_columns(
            supplier_id=pl.lit("default"),
            orderable=pl.lit(True),
            **{k: pl.lit(float(v)) for k, v in defaults.items()},
        )
    file = "suppliers"
    require(suppliers, SUPPLIER_REQUIRED, file)
    frame = numeric(text_ids(suppliers, ("article_id", "supplier_id")), tuple(defaults), file)
    unique_keys(frame, ["article_id"], file)
    for col, value in defaults.items():
        if col not in frame.columns:
            frame = frame.with_columns(pl.lit(float(value)).alias(col))
        frame = frame.with_columns(pl.col(col).cast(pl.Float64).fill_null(float(value)))
        whole(frame, col, file, 1 if col == "case_pack" else 0)
    check_rows(
        frame,
        ~pl.col("article_id").is_in(dc["article_id"].implode()),
        file,
        "article_id",
        "article is not in the DC stock",
        "add the article to the DC stock (available_units 0) or drop its supplier row",
    )
    cols = ["article_id", "supplier_id", *defaults]
    return base.join(frame.select(cols), on="article_id", how="left").with_columns(
        orderable=pl.col("supplier_id").is_not_null(),
        **{k: pl.col(k).fill_null(float(v)) for k, v in defaults.items()},
    )


def _in_transit(
    transit: pl.DataFrame | None, weeks: list[date], stores: pl.DataFrame, dc: pl.DataFrame
) -> pl.DataFrame:
    """In-transit rows inside the horizon with store index (-1 = DC), article index and week index."""
    schema = {"store": pl.Int64, "article": pl.Int64, "t": pl.Int64, "units": pl.Float64}
    if transit is None or transit.height == 0:
        return pl.DataFrame(schema=schema)
    file = "in transit"
    require(transit, TRANSIT_REQUIRED, file)
    frame = numeric(text_ids(transit, tuple(SERIES)), ("units",), file)
    frame = _date_column(frame, "arrive_week", file)
    whole(frame, "units", file, 0)
    store = pl.col("store_id").fill_null(DC_KEY)
    frame = frame.with_columns(pl.when(store == "").then(pl.lit(DC_KEY)).otherwise(store).alias("store_id"))
    known = [*stores["store_id"].to_list(), DC_KEY]
    check_rows(
        frame,
        ~pl.col("store_id").is_in(known),
        file,
        "store_id",
        "store is not in the stores file",
        "use a store of the stores file, or DC (or empty) for stock inbound to the DC",
    )
    check_rows(
        frame,
        ~pl.col("article_id").is_in(dc["article_id"].implode()),
        file,
        "article_id",
        "article is not in the DC stock",
        "add the article to the DC stock",
    )
    check_rows(
        frame,
        pl.col("arrive_week") < weeks[0],
        file,
        "arrive_week",
        f"arrives before the plan's first week {weeks[0]}",
        "count it as on hand instead",
    )
    check_rows(
        frame,
        (pl.col("arrive_week") - pl.lit(weeks[0])).dt.total_days() % 7 != 0,
        file,
        "arrive_week",
        "is not a plan week (weeks start on the forecast's week days)",
        "use a forecast week date",
    )
    store_idx = {s: i for i, s in enumerate(stores["store_id"].to_list())} | {DC_KEY: -1}
    art_idx = {a: i for i, a in enumerate(dc["article_id"].to_list())}
    frame = frame.with_columns(_week_index(pl.col("arrive_week"), weeks[0]).alias("t"))
    return frame.filter(pl.col("t") < len(weeks)).select(
        pl.col("store_id").replace_strict(store_idx, return_dtype=pl.Int64).alias("store"),
        pl.col("article_id").replace_strict(art_idx, return_dtype=pl.Int64).alias("article"),
        "t",
        pl.col("units").cast(pl.Float64),
    )


def _forecast_rows(
    frame: pl.DataFrame, weeks: list[date], dc: pl.DataFrame, stores: pl.DataFrame
) -> tuple[pl.DataFrame, list[str], list[str]]:
    qcols = list(quantile_columns(frame.columns))
    if "price" in frame.columns:
        frame = numeric(frame, ("price",), "forecasts")
        check_rows(
            frame, pl.col("price") <= 0, "forecasts", "price", "price must be > 0 or empty", "fix the price"
        )
    rows, warnings = known_rows(frame, weeks, dc, stores, "forecasts")
    return rows, qcols, warnings


def _quantiles(rows: pl.DataFrame, qcols: list[str], demand: str) -> np.ndarray:
    if demand == "poisson" or len(qcols) < 2:
        if demand == "quantiles":
            msg = f"`replenishment.demand = 'quantiles'` needs at least two qNN columns, got {qcols}"
            raise InputError(msg, file="forecasts", fix="add quantile columns or use demand = 'auto'")
        return np.full((rows.height, 0), np.nan)
    raw = rows.select(qcols).to_numpy().astype(float)
    values = np.maximum.accumulate(np.nan_to_num(raw, nan=-1.0), axis=1)  # non-decreasing in level
    values[np.isnan(raw).any(axis=1)] = np.nan
    return values


@dataclass
class _Known:
    row_known: np.ndarray
    row_left: np.ndarray
    store_known: np.ndarray


def _project_known(
    rows: pl.DataFrame,
    stock: pl.DataFrame,
    transit: pl.DataFrame,
    demand: DemandModel,
    season_last: np.ndarray,
    n_stores: int,
    n_weeks: int,
) -> _Known:
    """Known stock of every store × article week by week: carry round(E[(K − D)+]), plus in-transit units."""
    keys = (
        pl.concat(
            [
                rows.select("store", "article"),
                stock.select("store", "article"),
                transit.filter(pl.col("store") >= 0).select("store", "article"),
            ]
        )
        .unique()
        .sort("store", "article")
    )
    pair_idx = keys.with_row_index("pair")
    n_pairs = keys.height
    inbound = np.zeros((n_pairs, n_weeks))
    t_in = transit.filter(pl.col("store") >= 0).join(pair_idx, on=["store", "article"])
    np.add.at(inbound, (t_in["pair"].to_numpy(), t_in["t"].to_numpy()), t_in["units"].to_numpy())
    on_hand = keys.join(stock, on=["store", "article"], how="left")["on_hand"].fill_null(0.0).to_numpy()
    row_pair = rows.join(pair_idx, on=["store", "article"], how="left")["pair"].to_numpy()
    row_at = np.full((n_pairs, n_weeks), -1, dtype=np.int64)
    row_at[row_pair, rows["t"].to_numpy()] = np.arange(rows.height)
    last = season_last[keys["article"].to_numpy()]
    row_known = np.zeros(rows.height)
    row_left = np.zeros(rows.height)
    store_known = np.zeros((n_stores, n_weeks))
    pair_store = keys["store"].to_numpy()
    carry = on_hand.astype(float)
    for t in range(n_weeks):
        level = np.where(t <= last, carry + inbound[:, t], 0.0)
        np.add.at(store_known[:, t], pair_store, level)
        has = row_at[:, t] >= 0
        idx = row_at[has, t]
        left = level.copy()
        if idx.size:
            left[has] = level[has] - demand.expected_sales(idx, level[has])
            row_known[idx], row_left[idx] = level[has], left[has]
        carry = np.where(has, np.round(left), level)
    return _Known(row_known, row_left, store_known)


def _carry_value(
    rows: pl.DataFrame,
    known: _Known,
    demand: DemandModel,
    price: np.ndarray,
    dc: pl.DataFrame,
    season_last: np.ndarray,
    share: float,
) -> np.ndarray:
    """Per row: what a delivered unit left at the week's end is worth: the salvage value, or, before the
    season's (and the horizon's) last week, `share` × (the next week's price times the chance that one more
    unit sells then on top of the known stock, less holding) when that is more."""
    art = rows["article"].to_numpy()
    salvage = dc["salvage_value"].to_numpy().astype(float)[art]
    hold = dc["holding_cost"].to_numpy().astype(float)[art]
    store, week = rows["store"].to_numpy(), rows["t"].to_numpy()
    n = rows.height
    nxt = np.arange(1, n + 1)
    has = np.zeros(n, dtype=bool)
    if n > 1:
        has[:-1] = (store[1:] == store[:-1]) & (art[1:] == art[:-1]) & (week[1:] == week[:-1] + 1)
    has &= week < season_last[art]
    carry = salvage.copy()
    idx = nxt[has]
    if idx.size:
        level = known.row_known[idx]
        marginal = demand.expected_sales(idx, level + 1) - demand.expected_sales(idx, level)
        carry[has] = np.maximum(salvage[has], share * (price[idx] * marginal - hold[has]))
    return carry


def _check_store_room(
    store_known: np.ndarray, capacity: np.ndarray, ids: np.ndarray, weeks: list[date]
) -> None:
    over = store_known > capacity[:, None] + 1e-9
    if over.any():
        s, t = np.argwhere(over)[0]
        msg = (
            f"store capacity: on-hand and in-transit stock of store {ids[s]!r} reaches "
            f"{store_known[s, t]:g} units "
            f"in week {weeks[t]} > capacity_units {capacity[s]:g} ({int(over.any(axis=1).sum())} store(s))"
        )
        raise InfeasibleError(msg)


def build_problem(
    forecasts: pl.DataFrame,
    dc_stock: pl.DataFrame,
    stores: pl.DataFrame,
    store_stock: pl.DataFrame | None,
    config: ReplenishmentConfig,
    *,
    in_transit: pl.DataFrame | None = None,
    suppliers: pl.DataFrame | None = None,
) -> ReplenishProblem:
    """Validate the inputs and align them into arrays; raise `InputError`/`InfeasibleError` on bad input."""
    dc = _dc_frame(dc_stock, config)
    store_frame = _store_frame(stores, config)
    stock = check_store_stock(store_stock, store_frame, "store stock")
    frame = forecast_frame(forecasts, "forecasts")
    weeks = _horizon(frame, config.weeks)
    rows, qcols, warnings = _forecast_rows(frame, weeks, dc, store_frame)
    supply = _suppliers(suppliers, dc, config)
    transit = _in_transit(in_transit, weeks, store_frame, dc)
    store_idx = {s: i for i, s in enumerate(store_frame["store_id"].to_list())}
    art_idx = {a: i for i, a in enumerate(dc["article_id"].to_list())}
    n_weeks = len(weeks)
    end_t = dc.select(_week_index(pl.col("season_end"), weeks[0]).fill_null(n_weeks))["season_end"].to_numpy()
    season_last = np.minimum(end_t, n_weeks - 1).astype(np.int64)
    over = int((end_t < 0).sum())
    if over:
        warnings.append(f"{over} article(s) are past their season end: their store stock is salvaged")
    price_expr = pl.col("price").cast(pl.Float64) if "price" in rows.columns else pl.lit(None, pl.Float64)
    rows = rows.with_columns(
        pl.col("store_id").replace_strict(store_idx, return_dtype=pl.Int64).alias("store"),
        pl.col("article_id").replace_strict(art_idx, return_dtype=pl.Int64).alias("article"),
        _week_index(pl.col("week"), weeks[0]).alias("t"),
        price_expr.alias("_price"),
    )
    in_season = rows["t"].to_numpy() <= season_last[rows["article"].to_numpy()]
    rows = rows.filter(pl.Series(in_season, dtype=pl.Boolean)).sort("store", "article", "t")
    dc_price = dc["price"].to_numpy().astype(float)
    row_price = rows["_price"].fill_null(pl.Series(dc_price[rows["article"].to_numpy()])).to_numpy()
    stock_idx = stock.filter(pl.col("article_id").is_in(dc["article_id"].implode())).select(
        pl.col("store_id").replace_strict(store_idx, return_dtype=pl.Int64).alias("store"),
        pl.col("article_id").replace_strict(art_idx, return_dtype=pl.Int64).alias("article"),
        "on_hand",
    )
    qvalues = _quantiles(rows, qcols, config.demand)
    levels = np.array(list(quantile_columns(rows.columns).values())[: qvalues.shape[1]], dtype=float)
    demand = DemandModel(rows["mean"].to_numpy().astype(float), levels, qvalues)
    known = _project_known(rows, stock_idx, transit, demand, season_last, len(store_idx), n_weeks)
    # store stock of articles the DC does not carry still takes shelf space, unchanged over the horizon
    other = stock.filter(~pl.col("article_id").is_in(dc["article_id"].implode()))
    other_units = np.zeros(len(store_idx))
    if other.height:
        o = other.group_by("store_id").agg(pl.col("on_hand").sum())
        np.add.at(
            other_units,
            o["store_id"].replace_strict(store_idx, return_dtype=pl.Int64).to_numpy(),
            o["on_hand"].to_numpy(),
        )
    store_known = known.store_known + other_units[:, None]
    capacity = store_frame["capacity_units"].to_numpy().astype(float)
    _check_store_room(store_known, capacity, store_frame["store_id"].to_numpy(), weeks)
    dc_inbound = np.zeros((dc.height, n_weeks))
    t_dc = transit.filter(pl.col("store") < 0)
    np.add.at(dc_inbound, (t_dc["article"].to_numpy(), t_dc["t"].to_numpy()), t_dc["units"].to_numpy())
    return ReplenishProblem(
        weeks=weeks,
        store_ids=store_frame["store_id"].to_numpy(),
        capacity_units=capacity,
        ship_cost=store_frame["ship_cost"].to_numpy().astype(float),
        store_lead=store_frame["lead_weeks"].to_numpy().astype(np.int64),
        store_known=store_known,
        article_ids=dc["article_id"].to_numpy(),
        pack_size=dc["pack_size"].to_numpy().astype(np.int64),
        unit_cost=dc["unit_cost"].to_numpy().astype(float),
        holding_cost=dc["holding_cost"].to_numpy().astype(float),
        salvage_value=dc["salvage_value"].to_numpy().astype(float),
        season_last=season_last,
        season_ends=end_t < n_weeks,
        dc_on_hand=dc["available_units"].to_numpy().astype(float),
        dc_inbound=dc_inbound,
        orderable=supply["orderable"].to_numpy(),
        supplier_ids=supply["supplier_id"].fill_null("").to_numpy(),
        supplier_lead=supply["lead_weeks"].to_numpy().astype(np.int64),
        moq_units=supply["moq_units"].to_numpy().astype(np.int64),
        case_pack=supply["case_pack"].to_numpy().astype(np.int64),
        row_store=rows["store"].to_numpy(),
        row_article=rows["article"].to_numpy(),
        row_week=rows["t"].to_numpy(),
        row_price=row_price.astype(float),
        row_mean=rows["mean"].to_numpy().astype(float),
        row_known=known.row_known,
        row_known_left=known.row_left,
        row_carry=_carry_value(rows, known, demand, row_price, dc, season_last, config.carry_share),
        row_shortage=config.shortage_ratio * row_price,
        quantile_levels=levels,
        quantile_values=qvalues,
        dc_capacity=config.dc_capacity_units,
        budget=config.budget,
        warnings=warnings,
        _demand=demand,
    )
