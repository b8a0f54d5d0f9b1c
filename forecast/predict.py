"""Production forecasts: fit one model on all history and forecast every active series and new article.

`predict_all` fits the named model (from the registry, `forecast.models`) on the panel as known at its
last week (`forecast.backtest.history_at`) and forecasts ``config.forecast.horizon`` weeks for every active
series; the cold-start model (`forecast.models.build_cold_start`) forecasts the catalogue articles that have
not sold yet (`cold_start_series`). Output rows pass through `forecast.distribution.coherent_forecasts` and
are rounded to 2 decimals, as the forecasts file is written.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

import polars as pl

from forecast.backtest import history_at, panel_weeks
from forecast.calendar import week_of
from forecast.censoring import uncensor
from forecast.config import PipelineConfig
from forecast.contracts import FORECAST_COLUMNS, SERIES
from forecast.dataset import Dataset
from forecast.distribution import coherent_forecasts
from forecast.errors import ForecastError
from forecast.ids import natural_order
from forecast.metrics import quantile_columns
from forecast.models.base import Forecaster
from forecast.panel import cut_at_sale_end, sale_ends
from forecast.prices import carried_message, price_plan, resolve_prices, with_plan_price

UNIT_DECIMALS = 2  # forecasts as written: units to 2 decimals
Progress = Callable[[str], None]


def predict_all(
    ds: Dataset,
    panel: pl.DataFrame | pl.LazyFrame,
    config: PipelineConfig,
    model_name: str,
    progress: Progress | None = None,
    model: Forecaster | None = None,
) -> pl.DataFrame:
    """Fit `model_name` on all history; forecast every active series and the cold-start articles.

    Pass `model` (an unfitted instance named `model_name`) to keep the fitted model: it is fitted in place.

    Returns the forecasts contract columns (plus any extra ``qNN``), coherent and rounded to 2 decimals
    (module docstring), sorted by article_id, store_id (natural id order), week.
    Cold-start rows (model ``cold_start``) cover catalogue articles marked ``is_future`` or absent from the
    panel, in every store, for `horizon` weeks from their launch week (`cold_start_series`: the week of the
    ``launch_date``, before or after the end of the history; the first week after it without a date); their
    ``horizon`` is the week from launch (1 = the launch week). Every row after an article's planned end of
    sale (catalogue ``end_date``) forecasts 0.
    """
    from forecast.models import build_cold_start, create

    frame = panel.collect() if isinstance(panel, pl.LazyFrame) else panel
    say = progress or (lambda _message: None)
    weeks = panel_weeks(frame)
    if not weeks:
        msg = "the panel is empty; there is no history to forecast from"
        raise ForecastError(msg)
    origin, horizon = weeks[-1], config.forecast.horizon
    ends = sale_ends(ds)
    hist, active = history_at(frame, origin, config.forecast.active_weeks, ends)
    model = model if model is not None else create(model_name, config)
    say(f"fitting {model_name} on {hist.height} rows up to {origin}; forecasting {active.height} series")
    plan = price_plan(hist, ds.prices, origin, horizon, active, ends)
    carried = carried_message(plan)
    if carried is not None:
        say(f"note: {carried}")
    demand = uncensor(hist, config.demand)
    fitted = model.fit(demand, origin, articles=ds.articles, exog=ds.exog).with_prices(plan)
    parts = [with_plan_price(fitted.predict(horizon, active), plan)]
    cold = cold_start_series(ds, frame, origin)
    cold_model = build_cold_start(config, ds.article_attributes) if cold.height else None
    if cold_model is not None:
        say(f"cold start: fitting, then forecasting {cold.height} new article x store pairs")
        cold_model.fit(demand, origin, articles=ds.articles, trends=ds.trends)
        parts.append(cold_model.predict(horizon, cold))
    return with_price(finish_forecasts(parts, ends, say), ds)


def with_price(forecasts: pl.DataFrame, ds: Dataset) -> pl.DataFrame:
    """`forecasts` with ``price``, the price each row assumed: the plan's (a ``price`` column the rows
    carry, `forecast.prices.with_plan_price`), else (a new article) the prices table's, else the list
    price."""
    if "price" not in forecasts.columns:
        forecasts = forecasts.with_columns(pl.lit(None, pl.Float64).alias("price"))
    out = resolve_prices(ds.prices, forecasts.rename({"price": "_plan"}))
    listed = (
        ds.articles.select(pl.col("article_id").cast(pl.Utf8), pl.col("list_price").cast(pl.Float64))
        if "list_price" in ds.articles.columns
        else pl.DataFrame(schema={"article_id": pl.Utf8, "list_price": pl.Float64})
    )
    out = out.join(listed.unique("article_id"), on="article_id", how="left")
    price = pl.coalesce("_plan", "_table_price", "list_price").round(2).alias("price")
    return out.with_columns(price).drop("_plan", "_table_price", "_table_promo", "list_price")


def finish_forecasts(parts: list[pl.DataFrame], ends: pl.DataFrame, say: Progress) -> pl.DataFrame:
    """The models' raw forecasts as the forecasts file has them: cut at sale ends, coherent, rounded and in
    natural id order (the same from any split of the rows into `parts`)."""
    frames = [p for p in parts if p.height] or parts[:1]
    out = cut_at_sale_end(pl.concat(frames, how="diagonal_relaxed"), ends)
    extra = [c for c in quantile_columns(out.columns) if c not in FORECAST_COLUMNS]
    extra += [c for c in ("price",) if c in out.columns]
    out, coherence = coherent_forecasts(out.select(*FORECAST_COLUMNS, *extra), decimals=UNIT_DECIMALS)
    for warning in coherence.warnings():
        say(f"warning: {warning}")
    return natural_order(out, SERIES, then=["week", "model"])


def cold_start_series(ds: Dataset, panel: pl.DataFrame, origin: date) -> pl.DataFrame:
    """article_id, store_id, launch_week of catalogue articles with no sales (future, or not in `panel`).

    The launch week is the week holding the article's ``launch_date``, labelled as the panel labels weeks,
    whether it comes after the history (a coming launch) or lies inside it (what would it have sold: the
    published VISUELLE protocol); without a launch date, the first week after `origin`.
    """
    articles = ds.articles
    if articles.height == 0:
        return pl.DataFrame(schema={"article_id": pl.Utf8, "store_id": pl.Utf8, "launch_week": pl.Date})
    sold = panel.select("article_id").unique()
    future = pl.col("is_future").fill_null(False) if "is_future" in articles.columns else pl.lit(False)
    new = articles.with_columns(pl.col("article_id").cast(pl.Utf8)).filter(
        future | ~pl.col("article_id").is_in(sold.get_column("article_id").implode())
    )
    launch = pl.col("launch_date").cast(pl.Date) if "launch_date" in new.columns else pl.lit(None, pl.Date)
    week = week_of(launch, ds.week_label, ds.week_label_is_end)
    new = new.select(
        "article_id", week.fill_null(pl.lit(origin + timedelta(weeks=1))).cast(pl.Date).alias("launch_week")
    )
    return new.join(_stores(ds, panel), how="cross").select("article_id", "store_id", "launch_week")


def _stores(ds: Dataset, panel: pl.DataFrame) -> pl.DataFrame:
    """Stores a new article can launch in: "ALL" for chain-level data, else every store of the dataset."""
    in_panel = panel.select(pl.col("store_id").cast(pl.Utf8)).unique().sort("store_id")
    if in_panel.height and in_panel.get_column("store_id").to_list() == ["ALL"]:
        return in_panel
    if ds.stores.height:
        return ds.stores.select(pl.col("store_id").cast(pl.Utf8)).unique().sort("store_id")
    return in_panel
