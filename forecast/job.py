"""The main job: load -> panel -> backtest -> champion -> forecasts -> allocation -> report -> MLflow.

Outputs (``leaderboard.csv``, ``forecasts.csv``, ``plan.csv`` with ``plan_store_summary.csv`` and
``plan_article_summary.csv``, the allocation inputs the plan was made from (``dc_stock.csv``, ``stores.csv``
and, when stores hold stock, ``store_stock.csv``: `forecast allocate` on them gives the same plan),
``report.html``, ``rejects.csv`` when rows were rejected, and the multi-week plan's ``shipments.csv``,
``orders.csv`` and ``replenishment_summary.csv`` when ``[replenishment] enabled``) are all or nothing: they
are written into a staging folder beside the output folder and moved in only after every stage and the
MLflow logging succeeded, so a failed or interrupted job never leaves a half-written plan or report. The
MLflow run of a failed job ends FAILED with the error.

Allocation inputs when the data has none (documented in the README):

- DC stock: per article, 1.1 × the forecast mean summed over stores and the allocation's cover weeks, rounded
  up, in packs of 1 (for a target counted in money, such as Walmart's dollars, in round blocks of money sized
  by `value_block`); price from the catalogue's ``list_price``, else the article's last panel price, else
  ``business.default_price``; unit cost from the catalogue, else ``business.unit_cost_ratio`` × price.
- holding cost per leftover unit (when neither the DC stock nor ``allocation.holding_cost`` gives one):
  ``business.holding_cost_ratio`` × price, as in the backtest's business evaluation; costs derived from a
  ratio are rounded to cents. ``dc_stock.csv`` carries the holding cost each article was planned with.
- store capacity: ``stores.capacity_units``; a store without one is unlimited (capacity = every unit that
  could be sent plus what it holds).
- store stock: the latest ``stock`` week of the data, if any.
"""

from __future__ import annotations

import math
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from forecast import interrupts, tracking, tracking_store
from forecast.business import cents
from forecast.config import PipelineConfig
from forecast.dataset import Dataset
from forecast.ids import natural_order
from forecast.io import check_output, publish_set, staging_dir, write_csv, write_text
from forecast.models.base import Forecaster
from forecast.outputs import csv_precision
from forecast.report import ReportData, figures, render_report

Progress = Callable[[str], None]
SERIES = ["article_id", "store_id"]
DC_STOCK_MARGIN = 1.1
OUTPUTS = (
    "leaderboard.csv",
    "forecasts.csv",
    "plan.csv",
    "plan_store_summary.csv",
    "plan_article_summary.csv",
    "dc_stock.csv",
    "stores.csv",
    "store_stock.csv",
    "report.html",
    "rejects.csv",
)
REPLENISH_OUTPUTS = ("shipments.csv", "orders.csv", "replenishment_summary.csv")


def _default_stages() -> dict[str, Callable[..., Any]]:
    from forecast.adapters import load_dataset
    from forecast.allocation import allocate
    from forecast.backtest import run_backtest
    from forecast.models import build_models
    from forecast.panel import build_panel
    from forecast.predict import predict_all
    from forecast.replenish import replenish
    from forecast.validation import check_dataset

    return {
        "load_dataset": load_dataset,
        "validate": check_dataset,
        "build_panel": build_panel,
        "build_models": build_models,
        "run_backtest": run_backtest,
        "predict_all": predict_all,
        "allocate": allocate,
        "replenish": replenish,
    }


@dataclass
class Stages:
    """The stage functions the job calls (tests swap in their own; None = the package's)."""

    load_dataset: Callable[..., Any] | None = None
    validate: Callable[..., Any] | None = None
    build_panel: Callable[..., Any] | None = None
    build_models: Callable[..., Any] | None = None
    run_backtest: Callable[..., Any] | None = None
    predict_all: Callable[..., Any] | None = None
    allocate: Callable[..., Any] | None = None
    replenish: Callable[..., Any] | None = None

    def resolved(self) -> Stages:
        defaults = _default_stages() if any(v is None for v in vars(self).values()) else {}
        return Stages(**{k: v if v is not None else defaults[k] for k, v in vars(self).items()})


@dataclass
class JobResult:
    """What a job produced and where it went."""

    out_dir: Path
    outputs: dict[str, Path]
    champion: str
    objective: str
    champion_metrics: dict[str, float]
    leaderboard: pl.DataFrame
    plan: pl.DataFrame
    allocation: dict[str, Any]
    run_id: str
    tracking_uri: str
    registration: tracking.Registration | None = None
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)
    target_unit: str = "units"


@dataclass
class _Computed:
    ds: Dataset
    panel: pl.DataFrame
    backtest: Any
    forecasts: pl.DataFrame
    allocation: Any
    models: list[Any]
    fingerprint: dict[str, Any]
    champion_model: Any = None  # fitted on all history by predict_all, when the stage returned it
    inputs: dict[str, pl.DataFrame] = field(default_factory=dict)  # the allocation's dc stock, stores, stock
    warnings: list[str] = field(default_factory=list)  # every warning a stage reported
    replenishment: Any = None  # `forecast.replenish.ReplenishResult` when [replenishment] is enabled


def run_job(
    config: PipelineConfig,
    out_dir: str | Path,
    tracking_uri: str | None = None,
    progress: Progress | None = None,
    *,
    stages: Stages | None = None,
) -> JobResult:
    """Run the whole pipeline and log it to MLflow; see the module docstring."""
    started = time.perf_counter()
    say = progress or (lambda _message: None)
    steps = (stages or Stages()).resolved()
    interrupts.settle(False)
    out = check_output(out_dir, folder=True)
    uri = tracking.resolve_tracking_uri(tracking_uri, config.tracking.tracking_uri)
    tracking_store.check_uri(uri)  # before any work: a bad store fails in seconds
    say(f"tracking to {uri}")
    with tracking.job_run(config, uri) as run_id, staging_dir(out) as staging:
        done = _compute(config, steps, say)
        say("writing outputs and the report")
        data = _report_data(config, done, run_id)
        plots = figures(data)
        files = _write_outputs(staging, done, render_report(data, plots))
        say("logging to MLflow")
        metrics = _log_run(config, done, files, plots, staging)
        model_uri = _log_model(config, done, metrics, say) if config.tracking.register else None
        outputs, registration = _commit(config, out, files, model_uri, metrics, run_id, say)
    return JobResult(
        out_dir=out,
        outputs=outputs,
        champion=done.backtest.champion,
        objective=config.backtest.objective,
        champion_metrics=metrics,
        leaderboard=done.backtest.leaderboard,
        plan=done.allocation.plan,
        allocation=_allocation_summary(done.allocation),
        run_id=run_id,
        tracking_uri=uri,
        registration=registration,
        seconds=time.perf_counter() - started,
        warnings=list(done.warnings),
        target_unit=done.ds.target_unit,
    )


def _compute(config: PipelineConfig, steps: Stages, progress: Progress) -> _Computed:
    assert steps.load_dataset
    assert steps.validate
    assert steps.build_panel
    assert steps.build_models
    assert steps.run_backtest
    assert steps.predict_all
    assert steps.allocate
    warnings: list[str] = []

    def say(message: str) -> None:  # the stages' warnings are kept for the summary and the report
        if message.startswith("warning: "):
            warnings.append(message.removeprefix("warning: "))
        progress(message)

    say(f"loading data ({config.data.adapter})")
    ds: Dataset = steps.load_dataset(config)
    steps.validate(ds)
    from forecast.backtest import check_history

    check_history(ds, config)
    fingerprint = tracking.data_fingerprint(ds)
    tracking.log_fingerprint(fingerprint)
    say(f"building the panel from {ds.sales.height:,} sales rows")
    lazy = steps.build_panel(ds)
    panel: pl.DataFrame = lazy.collect() if isinstance(lazy, pl.LazyFrame) else lazy
    models = steps.build_models(config)
    say(f"backtesting {len(models)} models on {panel.height:,} panel rows")
    backtest = steps.run_backtest(panel, models, config, ds, progress=say)
    say(f"champion: {backtest.champion}; forecasting {config.forecast.horizon} weeks")
    champion_model = _fresh_champion(models, backtest.champion)
    forecasts = steps.predict_all(ds, panel, config, backtest.champion, progress=say, model=champion_model)
    say("allocating DC stock to stores")
    week = _allocation_week(forecasts)
    dc_stock = dc_stock_for(ds, panel, forecasts, config, week)
    stock = store_stock_for(ds, panel)
    stores = stores_for(ds, forecasts, dc_stock, stock)
    # one demand row per article × store × week: the champion's, and the cold-start model's for new articles
    demand = forecasts.drop("model") if "model" in forecasts.columns else forecasts
    # allocated exactly as written (money to cents), so `forecast allocate` on the files gives the same plan
    dc_stock = csv_precision(planned_holding_cost(dc_stock, config))
    stores = csv_precision(stores)
    stock = csv_precision(stock) if stock is not None else None
    allocation = steps.allocate(demand, dc_stock, stores, stock, config.allocation, week=week)
    warnings += [w for w in getattr(allocation, "warnings", []) if w not in warnings]
    fitted = champion_model if champion_model is not None and champion_model.is_fitted else None
    inputs = {
        "dc_stock": natural_order(dc_stock, ["article_id"]),
        "stores": natural_order(stores, ["store_id"]),
    }
    if stock is not None:
        inputs["store_stock"] = natural_order(stock, ["store_id", "article_id"])
    plan = None
    if config.replenishment.enabled and steps.replenish is not None:
        say(f"planning {config.replenishment.weeks} weeks of shipments and supplier orders")
        plan = steps.replenish(demand, dc_stock, stores, stock, config.replenishment)
    return _Computed(
        ds, panel, backtest, forecasts, allocation, models, fingerprint, fitted, inputs, warnings, plan
    )


def planned_holding_cost(dc_stock: pl.DataFrame, config: PipelineConfig) -> pl.DataFrame:
    """The DC stock with the holding cost the allocation uses for each article filled in (the file's own,
    else ``allocation.holding_cost``, else 0), so the written dc_stock.csv reproduces the plan."""
    default = config.allocation.holding_cost if config.allocation.holding_cost is not None else 0.0
    hold = pl.lit(default, pl.Float64)
    if "holding_cost" in dc_stock.columns:
        hold = pl.col("holding_cost").cast(pl.Float64).fill_null(default)
    return dc_stock.with_columns(hold.alias("holding_cost"))


def _allocation_week(forecasts: pl.DataFrame) -> date | None:
    first = forecasts["week"].min() if forecasts.height else None
    return first if isinstance(first, date) else None


def article_prices(ds: Dataset, panel: pl.DataFrame, config: PipelineConfig) -> pl.DataFrame:
    """article_id, price, unit_cost, holding_cost per catalogue or panel article (module docstring)."""
    ids = pl.concat(
        [ds.articles.select(pl.col("article_id").cast(pl.Utf8)), panel.select("article_id")]
    ).unique()
    catalogue = ds.articles.select(
        pl.col("article_id").cast(pl.Utf8),
        *[
            pl.col(c).cast(pl.Float64) if c in ds.articles.columns else pl.lit(None, pl.Float64).alias(c)
            for c in ("list_price", "unit_cost")
        ],
    ).unique("article_id", keep="first")
    last_price = (
        panel.filter(pl.col("price").is_not_null())
        .sort("week")
        .group_by("article_id")
        .agg(pl.col("price").last().alias("panel_price"))
        if "price" in panel.columns
        else pl.DataFrame(schema={"article_id": pl.Utf8, "panel_price": pl.Float64})
    )
    business = config.business
    price = pl.coalesce("list_price", "panel_price", pl.lit(business.default_price))
    price = pl.when(price > 0).then(price).otherwise(business.default_price)
    return (
        ids.join(catalogue, on="article_id", how="left")
        .join(last_price, on="article_id", how="left")
        .with_columns(price.alias("price"))
        .with_columns(
            pl.coalesce("unit_cost", cents(pl.col("price") * business.unit_cost_ratio)).alias("unit_cost"),
            cents(pl.col("price") * business.holding_cost_ratio).alias("holding_cost"),
        )
        .select("article_id", "price", "unit_cost", "holding_cost")
        .sort("article_id")
    )


def dc_stock_for(
    ds: Dataset, panel: pl.DataFrame, forecasts: pl.DataFrame, config: PipelineConfig, week: date | None
) -> pl.DataFrame:
    """The DC stock to allocate: the data's, else derived from the forecast (module docstring)."""
    prices = article_prices(ds, panel, config)
    if ds.dc_stock is not None and ds.dc_stock.height:
        dc = ds.dc_stock.with_columns(pl.col("article_id").cast(pl.Utf8))
        if "holding_cost" not in dc.columns and config.allocation.holding_cost is None:
            dc = dc.join(prices.select("article_id", "holding_cost"), on="article_id", how="left")
        return dc
    cover = config.allocation.cover_weeks
    rows = forecasts
    if week is not None:
        rows = forecasts.filter(pl.col("week").is_between(week, week + timedelta(weeks=cover - 1)))
    need = rows.group_by("article_id").agg(pl.col("mean").sum().alias("demand_units"))
    pack = 1 if ds.target_unit == "units" else value_block(rows)
    available = (pl.col("demand_units") * DC_STOCK_MARGIN / pack).ceil().cast(pl.Int64) * pack
    dc = need.join(prices, on="article_id", how="left").with_columns(
        available.alias("available_units"),
        pl.lit(pack, pl.Int64).alias("pack_size"),
        pl.col("price").fill_null(config.business.default_price),
    )
    dc = dc.with_columns(
        pl.col("unit_cost").fill_null(cents(pl.col("price") * config.business.unit_cost_ratio)),
        pl.col("holding_cost").fill_null(cents(pl.col("price") * config.business.holding_cost_ratio)),
    )
    if config.allocation.holding_cost is not None:
        dc = dc.drop("holding_cost")
    keep = ["article_id", "available_units", "pack_size", "unit_cost", "price"]
    return dc.select(*keep, *[c for c in dc.columns if c == "holding_cost"]).sort("article_id")


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


def store_stock_for(ds: Dataset, panel: pl.DataFrame) -> pl.DataFrame | None:
    """Whole units on hand per store × article at the latest stock week up to the panel's end, if known."""
    if ds.stock is None or ds.stock.height == 0 or panel.height == 0:
        return None
    last = panel["week"].max()
    stock = ds.stock.filter(pl.col("week") <= last)
    if stock.height == 0:
        return None
    latest = stock.filter(pl.col("week") == pl.col("week").max())
    return (
        latest.select(
            pl.col("store_id").cast(pl.Utf8),
            pl.col("article_id").cast(pl.Utf8),
            pl.col("on_hand").cast(pl.Float64).fill_null(0.0).clip(lower_bound=0.0).floor(),
        )
        .group_by(SERIES)
        .agg(pl.col("on_hand").sum())
        .select("store_id", "article_id", "on_hand")
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
    known = ds.stores.with_columns(pl.col("store_id").cast(pl.Utf8))
    if "capacity_units" not in known.columns:
        known = known.with_columns(pl.lit(None, pl.Float64).alias("capacity_units"))
    extra = [c for c in ("ship_cost",) if c in known.columns]
    named = forecasts.select("store_id").unique()
    frame = named.join(known.select("store_id", "capacity_units", *extra), on="store_id", how="left")
    frame = pl.concat([frame, known.select(frame.columns).join(named, on="store_id", how="anti")])
    return frame.with_columns(
        pl.col("capacity_units").cast(pl.Float64).floor().fill_null(unlimited).fill_nan(unlimited)
    ).sort("store_id")


def _report_data(config: PipelineConfig, done: _Computed, run_id: str) -> ReportData:
    return ReportData(
        pipeline=config.name,
        objective=config.backtest.objective,
        champion=done.backtest.champion,
        leaderboard=done.backtest.leaderboard,
        backtest_forecasts=done.backtest.forecasts,
        forecasts=done.forecasts,
        plan=done.allocation.plan,
        fingerprint=done.fingerprint,
        rejects=done.ds.rejects,
        history=done.panel.select("article_id", "store_id", "week", "units"),
        true_demand=done.ds.true_demand,
        allocation=_allocation_summary(done.allocation),
        run_id=run_id,
        target_unit=done.ds.target_unit,
        store_summary=getattr(done.allocation, "store_summary", None),
        article_summary=getattr(done.allocation, "article_summary", None),
        warnings=list(done.warnings),
        replenishment=done.replenishment.summary if done.replenishment is not None else None,
        replenishment_stock=done.replenishment.article_weeks if done.replenishment is not None else None,
    )


def _allocation_summary(allocation: Any) -> dict[str, Any]:
    """The plan's figures for the summary, the report and MLflow: its total (``expected_profit``), the
    optimality gap and the rules' totals; the solver's objective and bound stay inside the gap."""
    keys = ("expected_profit", "gap", "status", "solve_seconds", "method", "rule_profits")
    summary = {k: getattr(allocation, k) for k in keys if hasattr(allocation, k)}
    plan = allocation.plan
    summary["units"] = float(plan["units"].sum()) if plan.height else 0.0
    summary["stores"] = int(plan.filter(pl.col("units") > 0)["store_id"].n_unique()) if plan.height else 0
    return summary


def _write_outputs(staging: Path, done: _Computed, report_html: str) -> dict[str, Path]:
    tables = {
        "leaderboard": done.backtest.leaderboard,
        "forecasts": done.forecasts,
        "plan": done.allocation.plan,
    }
    for name in ("store_summary", "article_summary"):
        if hasattr(done.allocation, name):
            tables[f"plan_{name}"] = getattr(done.allocation, name)
    tables.update(done.inputs)
    files = {key: write_csv(csv_precision(frame), staging / f"{key}.csv") for key, frame in tables.items()}
    files["report"] = write_text(report_html, staging / "report.html")
    if done.ds.rejects.height:
        files["rejects"] = write_csv(done.ds.rejects, staging / "rejects.csv")
    if done.replenishment is not None:
        frames = (done.replenishment.shipments, done.replenishment.orders, done.replenishment.summary)
        for name, frame in zip(REPLENISH_OUTPUTS, frames, strict=True):
            files[name.removesuffix(".csv")] = write_csv(frame, staging / name)
    return files


def _log_run(
    config: PipelineConfig, done: _Computed, files: dict[str, Path], plots: dict[str, bytes], staging: Path
) -> dict[str, float]:
    import mlflow

    bt = done.backtest
    tracking.log_model_runs(bt.leaderboard, bt.per_fold, bt.champion)
    metrics = tracking.log_champion_metrics(bt.leaderboard, bt.champion)
    summary = _allocation_summary(done.allocation)
    numbers = {
        f"plan_{k}": float(summary[k])
        for k in ("expected_profit", "gap", "solve_seconds", "units")
        if isinstance(summary.get(k), int | float)
    }
    for rule, value in summary.get("rule_profits", {}).items():
        numbers[f"plan_rule_{rule}_expected_profit"] = float(value)
    if done.replenishment is not None:
        plan = done.replenishment
        for key in ("objective", "bound", "gap", "solve_seconds"):
            numbers[f"replenish_{key}"] = float(getattr(plan, key))
        numbers["replenish_shipped_units"] = float(plan.shipments["units"].sum())
        numbers["replenish_ordered_units"] = float(plan.orders["units"].sum())
    mlflow.log_metrics({k: v for k, v in numbers.items() if math.isfinite(v)})
    mlflow.set_tags({"champion": bt.champion, "objective": config.backtest.objective})
    tracking.log_files(files)
    plot_dir = staging / ".plots"
    plot_dir.mkdir(exist_ok=True)
    for name, data in plots.items():
        (plot_dir / name).write_bytes(data)
    tracking.log_files({name: plot_dir / name for name in plots}, artifact_path="plots")
    shutil.rmtree(plot_dir)
    return metrics


def _fresh_champion(models: list[Forecaster], champion: str) -> Forecaster | None:
    """An unfitted clone of the champion, for `predict_all` to fit once on all history."""
    model = next((m for m in models if m.name == champion), None)
    return model.clone() if model is not None else None


def fit_champion(config: PipelineConfig, done: _Computed) -> Forecaster:
    """The champion fitted on all history (what the registered model forecasts with); reuses the fit of
    the forecasting step when there was one."""
    from forecast.backtest import history_at

    if done.champion_model is not None:
        return done.champion_model
    model = _fresh_champion(done.models, done.backtest.champion)
    if model is None:
        msg = f"champion {done.backtest.champion!r} is not among the backtested models"
        raise ValueError(msg)
    origin: date = done.panel["week"].max()  # type: ignore[assignment]
    hist, _ = history_at(done.panel, origin, config.forecast.active_weeks)
    return model.fit(hist, origin, articles=done.ds.articles, exog=done.ds.exog)


def _log_model(
    config: PipelineConfig, done: _Computed, metrics: dict[str, float], say: Progress
) -> str | None:
    """Log the champion fitted on all history as a pyfunc model of the run; its URI (registered later)."""
    from forecast.pyfunc import example_slice, log_pyfunc

    objective = config.backtest.objective
    if objective not in metrics:
        say(f"not registering: the champion has no {objective!r} figure")
        return None
    if done.champion_model is None:
        say(f"fitting {done.backtest.champion} on all history for the model registry")
    fitted = fit_champion(config, done)
    info = log_pyfunc(fitted, example_slice(done.panel), config.forecast.horizon)
    return str(info.model_uri)


def _commit(
    config: PipelineConfig,
    out: Path,
    files: dict[str, Path],
    model_uri: str | None,
    metrics: dict[str, float],
    run_id: str,
    say: Progress,
) -> tuple[dict[str, Path], tracking.Registration | None]:
    """Publish the outputs as one set, then register the model, then end the run FINISHED: the last steps.

    Signals are held meanwhile and checked before the run is marked finished; a failure or an interrupt
    at any point takes the registration back out and puts the previous outputs back (a rejects.csv,
    store_stock.csv or multi-week plan file of an earlier run goes when this run has none).
    """
    optional = ["rejects.csv", "store_stock.csv", *REPLENISH_OUTPUTS]
    remove = [name for name in optional if name.removesuffix(".csv") not in files]
    with interrupts.held(), publish_set(out, files, remove=remove) as outputs:
        registration = None
        if model_uri is not None:
            objective = config.backtest.objective
            name = f"{config.name}-demand"
            registration = tracking.register_champion(model_uri, name, objective, metrics[objective])
        try:
            interrupts.check()
            tracking.finish_run(run_id)
            interrupts.settle()  # committed: a signal from here on cannot undo it, so it is ignored
        except BaseException:
            if registration is not None:
                tracking.unregister(registration)
            raise
    if registration is not None:
        say(f"registered {registration.name} version {registration.version} as {registration.alias}")
    return outputs, registration
