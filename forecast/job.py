"""The main job: load -> panel -> backtest -> champion -> forecasts -> allocation -> report -> MLflow.

Outputs (``leaderboard.csv``, ``forecasts.csv``, ``plan.csv`` with ``plan_store_summary.csv`` and
``plan_article_summary.csv``, the allocation inputs the plan was made from (``dc_stock.csv``, ``stores.csv``
and, when stores hold stock, ``store_stock.csv``: `forecast allocate` on them gives the same plan),
``report.html``, ``rejects.csv`` when rows were rejected, and the multi-week plan's ``shipments.csv``,
``orders.csv`` and ``replenishment_summary.csv`` when ``[replenishment] enabled``) are all or nothing: they
are written into a staging folder beside the output folder and moved in only after every stage and the
MLflow logging succeeded, so a failed or interrupted job never leaves a half-written plan or report. The
MLflow run of a failed job ends FAILED with the error.

The allocation inputs when the data has none are derived by `forecast.allocation.sources` (documented in
docs/allocation.md); the panel is checked against its schema once, right after it is built.
"""

from __future__ import annotations

import contextlib
import math
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict

import polars as pl

from forecast import interrupts, tracking, tracking_store
from forecast.allocation.sources import run_inputs
from forecast.config import PipelineConfig
from forecast.dataset import Dataset
from forecast.io import check_output, publish_set, staging_dir, write_csv, write_text
from forecast.models.base import Forecaster
from forecast.outputs import csv_precision
from forecast.panel import check_panel
from forecast.report import ReportData, figures, render_report

if TYPE_CHECKING:
    from dask.distributed import Client

    from forecast.allocation import AllocationResult
    from forecast.backtest import BacktestResult
    from forecast.buy.plan import BuyResult
    from forecast.markdown.plan import MarkdownResult
    from forecast.replenish import ReplenishResult

Progress = Callable[[str], None]
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
MARKDOWN_OUTPUTS = ("markdowns.csv", "markdown_summary.csv", "markdown_response.csv")
BUY_OUTPUTS = ("buy_plan.csv", "buy_allocation.csv")  # when the pipeline has [buy] (forecast.buy)


def _default_stages() -> dict[str, Callable[..., object]]:
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

    load_dataset: Callable[[PipelineConfig], Dataset] | None = None
    validate: Callable[[Dataset], None] | None = None
    build_panel: Callable[[Dataset], pl.LazyFrame | pl.DataFrame] | None = None
    build_models: Callable[[PipelineConfig], Sequence[Forecaster]] | None = None
    run_backtest: Callable[..., BacktestResult] | None = None
    predict_all: Callable[..., pl.DataFrame] | None = None
    allocate: Callable[..., AllocationResult] | None = None
    replenish: Callable[..., ReplenishResult] | None = None

    def resolved(self) -> Stages:
        defaults = _default_stages() if any(v is None for v in vars(self).values()) else {}
        return Stages(**{k: v if v is not None else defaults[k] for k, v in vars(self).items()})  # type: ignore[arg-type]


class PlanSummary(TypedDict):
    """The plan's figures for the summary, the report and MLflow (`_allocation_summary`)."""

    expected_profit: float
    gap: float
    status: str
    solve_seconds: float
    method: str
    rule_profits: dict[str, float]
    units: float
    stores: int


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
    allocation: PlanSummary
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
    backtest: BacktestResult
    forecasts: pl.DataFrame
    allocation: AllocationResult
    models: list[Forecaster]
    fingerprint: dict[str, object]
    champion_model: Forecaster | None = None  # fitted on all history by predict_all
    inputs: dict[str, pl.DataFrame] = field(default_factory=dict)  # the allocation's dc stock, stores, stock
    warnings: list[str] = field(default_factory=list)  # every warning a stage reported
    replenishment: ReplenishResult | None = None  # when [replenishment] is enabled
    buy: BuyResult | None = None  # when the pipeline has [buy]
    markdown: MarkdownResult | None = None  # when the pipeline has [markdown]


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
    out = check_output(out_dir, folder=True, names=(*OUTPUTS, *REPLENISH_OUTPUTS))
    uri = tracking.resolve_tracking_uri(tracking_uri, config.tracking.tracking_uri)
    tracking_store.check_uri(uri)  # before any work: a bad store fails in seconds
    say(f"tracking to {uri}")
    if config.engine.cluster:  # a model the cluster cannot fit is refused before any work
        from forecast.engine.run import check_part_fittable

        assert steps.build_models
        check_part_fittable(steps.build_models(config))
    with (
        _cluster(config, say) as client,
        tracking.job_run(config, uri) as run_id,
        staging_dir(out) as staging,
    ):
        done = _compute(config, steps, say, client)
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


@contextlib.contextmanager
def _cluster(config: PipelineConfig, say: Progress) -> Iterator[Client | None]:
    """The Dask client of ``[engine] cluster`` for the job (connected before any work), else None."""
    if not config.engine.cluster:
        yield None
        return
    from forecast.engine import connect

    with connect(config.engine.cluster, say) as client:
        yield client


def _compute(
    config: PipelineConfig, steps: Stages, progress: Progress, client: Client | None = None
) -> _Computed:
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
    models = list(steps.build_models(config))
    if client is not None:
        from forecast.engine import run_on_cluster

        outcome = run_on_cluster(client, ds, models, config, say)
        panel, backtest, forecasts = outcome.panel, outcome.backtest, outcome.forecasts
        champion_model = outcome.champion_model
    else:
        say(f"building the panel from {ds.sales.height:,} sales rows")
        lazy = steps.build_panel(ds)
        panel = check_panel(lazy.collect() if isinstance(lazy, pl.LazyFrame) else lazy)
        say(f"backtesting {len(models)} models on {panel.height:,} panel rows")
        backtest = steps.run_backtest(panel, models, config, ds, progress=say)
        say(f"champion: {backtest.champion}; forecasting {config.forecast.horizon} weeks")
        champion_model = _fresh_champion(models, backtest.champion)
        forecasts = steps.predict_all(
            ds, panel, config, backtest.champion, progress=say, model=champion_model
        )
    say("allocating DC stock to stores")
    inputs = run_inputs(ds, panel, forecasts, config)
    # one demand row per article × store × week: the champion's, and the cold-start model's for new articles
    demand = forecasts.drop("model") if "model" in forecasts.columns else forecasts
    stock_inputs, markdown = inputs, None
    if config.markdown is not None and config.markdown.apply_to_plans:
        from forecast.markdown.job import markdown_first

        say("planning markdowns to the season's end; allocating at the recommended prices")
        markdown, demand, inputs = markdown_first(demand, panel, ds, inputs, config)
    allocation = steps.allocate(demand, inputs.dc_stock, inputs.stores, inputs.store_stock, config.allocation)
    warnings += [w for w in allocation.warnings if w not in warnings]
    fitted = champion_model if champion_model is not None and champion_model.is_fitted else None
    plan = None
    if config.replenishment.enabled and steps.replenish is not None:
        say(f"planning {config.replenishment.weeks} weeks of shipments and supplier orders")
        plan = steps.replenish(  # the list-price DC stock: the rows carry the recommended prices
            demand, stock_inputs.dc_stock, inputs.stores, inputs.store_stock, config.replenishment
        )
    buy = None
    if config.buy is not None:
        from forecast.buy.plan import buy_plan

        say(f"buying the new articles {config.buy.lead_weeks} weeks before their launch")
        buy = buy_plan(ds, panel, config)
    done = _Computed(
        ds,
        panel,
        backtest,
        forecasts,
        allocation,
        models,
        fingerprint,
        fitted,
        inputs.files(),
        warnings,
        plan,
        buy,
    )
    done.markdown = markdown
    if config.markdown is not None and markdown is None:
        from forecast.markdown.job import markdown_step

        say("planning markdowns to the season's end")
        done.markdown = markdown_step(demand, panel, ds, inputs, config)
    return done


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
        planned_markdowns=_planned_markdowns(done) if not config.engine.cluster else None,
        allocation=_allocation_summary(done.allocation),
        run_id=run_id,
        target_unit=done.ds.target_unit,
        store_summary=done.allocation.store_summary,
        article_summary=done.allocation.article_summary,
        warnings=list(done.warnings),
        replenishment=done.replenishment.summary if done.replenishment is not None else None,
        replenishment_stock=done.replenishment.article_weeks if done.replenishment is not None else None,
        markdown=done.markdown,
        sections=_buy_sections(done),
    )


def _buy_sections(done: _Computed) -> list[str]:
    from forecast.buy.report import buy_section

    buy = done.buy
    return [] if buy is None else [buy_section(buy.plan, buy.lead_weeks, buy.status)]


def _allocation_summary(allocation: AllocationResult) -> PlanSummary:
    """The plan's figures for the summary, the report and MLflow: its total (``expected_profit``), the
    optimality gap and the rules' totals; the solver's objective and bound stay inside the gap."""
    plan = allocation.plan
    return PlanSummary(
        expected_profit=allocation.expected_profit,
        gap=allocation.gap,
        status=allocation.status,
        solve_seconds=allocation.solve_seconds,
        method=allocation.method,
        rule_profits=allocation.rule_profits,
        units=float(plan["units"].sum()) if plan.height else 0.0,
        stores=int(plan.filter(pl.col("units") > 0)["store_id"].n_unique()) if plan.height else 0,
    )


def _write_outputs(staging: Path, done: _Computed, report_html: str) -> dict[str, Path]:
    tables = {
        "leaderboard": done.backtest.leaderboard,
        "forecasts": done.forecasts,
        "plan": done.allocation.plan,
    }
    tables["plan_store_summary"] = done.allocation.store_summary
    tables["plan_article_summary"] = done.allocation.article_summary
    tables.update(done.inputs)
    files = {key: write_csv(csv_precision(frame), staging / f"{key}.csv") for key, frame in tables.items()}
    files["report"] = write_text(report_html, staging / "report.html")
    if done.ds.rejects.height:
        files["rejects"] = write_csv(done.ds.rejects, staging / "rejects.csv")
    if done.replenishment is not None:
        frames = (done.replenishment.shipments, done.replenishment.orders, done.replenishment.summary)
        for name, frame in zip(REPLENISH_OUTPUTS, frames, strict=True):
            files[name.removesuffix(".csv")] = write_csv(csv_precision(frame), staging / name)
    if done.markdown is not None:
        from forecast.markdown.output import stage_files

        files.update(stage_files(done.markdown, staging))
    if done.buy is not None:
        for name, frame in zip(BUY_OUTPUTS, (done.buy.plan, done.buy.allocation), strict=True):
            files[name.removesuffix(".csv")] = write_csv(csv_precision(frame), staging / name)
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
    if done.markdown is not None:
        numbers.update({f"markdown_{k}": v for k, v in done.markdown.totals.items()})
    if done.buy is not None:
        from forecast.buy.report import buy_totals

        numbers |= {f"buy_{k}": v for k, v in buy_totals(done.buy.plan).items()}
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


def _planned_markdowns(done: _Computed) -> pl.DataFrame | None:
    """The report's planned markdowns against list price (`forecast.whatif`), from the champion fitted in
    this process (a cluster run's champion reads its features on the workers: no comparison there)."""
    if done.champion_model is None or "price" not in done.forecasts.columns:
        return None
    from forecast.whatif import planned_markdowns

    return planned_markdowns(done.champion_model, done.forecasts, done.ds)


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
    optional = ["rejects.csv", "store_stock.csv", *REPLENISH_OUTPUTS, *MARKDOWN_OUTPUTS, *BUY_OUTPUTS]
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
