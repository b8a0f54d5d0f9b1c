"""The job's panel, backtest and forecasts on a Dask cluster (``forecast run --cluster``).

The client loads and validates the data as the single-machine job does, writes it split by article group
(`forecast.engine.parts`) and submits one task graph: each worker reads its parts and builds their panels
(kept on the worker), every backtest fold of every model is a set of tasks per part, and a model that learns
across series is trained once per fold on the rows the parts sampled, through the steps it declares
(`forecast.models.base.FitsInParts`, `forecast.engine.tasks`); one that declares none is refused. The client
only adds up the parts' scored rows into the leaderboard, fits nothing itself and gets the parts' panels
back at the end for the allocation inputs, the report and the model registry. The outputs are the
single-machine job's, to the last bit: every stage that reads across series sees the whole run's totals,
and every sum is taken in the whole run's row order (`tests/test_engine.py`).
"""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from forecast.backtest import BacktestResult, origins_of, scored_models, summarise_groups
from forecast.config import PipelineConfig
from forecast.dataset import Dataset
from forecast.engine import tasks
from forecast.engine.parts import RunContext, gather_panel, load_part, summary, write_parts
from forecast.errors import ConfigError
from forecast.models.base import FitsInParts, Forecaster, LaunchFitsInParts
from forecast.panel import sale_ends
from forecast.predict import cold_start_series, finish_forecasts, with_price

if TYPE_CHECKING:
    from dask.distributed import Client, Future

Progress = Callable[[str], None]
PARTS_PER_WORKER = 4


@dataclass
class ClusterOutcome:
    """What the cluster computed: the whole panel, the backtest and the forecasts, and the champion."""

    panel: pl.DataFrame
    backtest: BacktestResult
    forecasts: pl.DataFrame
    champion_model: Forecaster | None
    seconds: dict[str, float]


def _submitter(client: Client) -> Callable[..., Future]:
    """`client.submit` without hashing the arguments (frames and configs): every task is run once."""

    def submit(fn: Callable[..., Any], *args: Any) -> Future:
        return client.submit(fn, *args, pure=False)

    return submit


def work_folder(config: PipelineConfig) -> Path:
    """The folder this job's parts are written to (removed when the job ends)."""
    from forecast.adapters.scan import default_cache_dir

    base = config.engine.work_dir or (config.data.cache_dir or default_cache_dir()) / "parts"
    return Path(base) / f"{config.name}-{uuid.uuid4().hex[:12]}"


class Tracker:
    """Futures by stage; `wait` reports each stage as its last task ends, then lets its futures go (so the
    workers free their results once nothing else needs them)."""

    def __init__(self, say: Progress) -> None:
        self.say = say
        self.stages: dict[str, list[Future]] = {}
        self.tasks: dict[str, int] = {}
        self.started = time.perf_counter()
        self.seconds: dict[str, float] = {}

    def add(self, stage: str, futures: Sequence[Future], tasks: int | None = None) -> list[Future]:
        """Track `futures` under `stage`; `tasks` counts the tasks they stand for (default one each)."""
        self.stages.setdefault(stage, []).extend(futures)
        self.tasks[stage] = self.tasks.get(stage, 0) + (len(futures) if tasks is None else tasks)
        return list(futures)

    def wait(self, stages: Sequence[str], collect: Sequence[Future] = ()) -> dict[Any, Any]:
        """Wait for every task of `stages`; the results of those in `collect`, by key, fetched as each ends
        (while the others still run)."""
        from dask.distributed import as_completed

        left = {stage: len(self.stages[stage]) for stage in stages}
        owner = {f.key: stage for stage in stages for f in self.stages[stage]}
        wanted = {f.key for f in collect}
        results: dict[Any, Any] = {}
        for future in as_completed([f for stage in stages for f in self.stages[stage]]):
            if future.status == "error":
                future.result()  # raises the task's error here, on the client
            if future.key in wanted:
                results[future.key] = future.result()
            stage = owner[future.key]
            left[stage] -= 1
            if left[stage] == 0:
                self.seconds[stage] = time.perf_counter() - self.started
                self.say(f"{stage}: {self.tasks[stage]} task(s) done at {self.seconds[stage]:.1f} s")
        for stage in stages:
            self.stages[stage] = []
        return results


def run_on_cluster(
    client: Client,
    ds: Dataset,
    models: Sequence[Forecaster],
    config: PipelineConfig,
    say: Progress,
) -> ClusterOutcome:
    """Panel, backtest and forecasts of `ds` on the cluster (module docstring)."""
    check_part_fittable(models)
    folder = work_folder(config)
    workers = max(len(client.scheduler_info().get("workers", {})), 1)
    n = config.engine.partitions or PARTS_PER_WORKER * workers
    say(f"splitting {ds.sales.height:,} sales rows into {n} article groups under {folder}")
    try:
        paths = write_parts(ds, folder, n)
        return _run(client, ds, models, config, say, paths)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def check_part_fittable(models: Sequence[Forecaster]) -> None:
    """Refuse, in one line, a model that learns across series but cannot be fitted in parts."""
    for model in models:
        if model.learns_across_series and not isinstance(model, FitsInParts):
            msg = (
                f"--cluster: model {model.name!r} learns across series but does not implement "
                "forecast.models.base.FitsInParts, so it cannot be fitted in parts; fix: implement it, or "
                "leave the model out of [models], or run without --cluster"
            )
            raise ConfigError(msg)


def _run(
    client: Client,
    ds: Dataset,
    models: Sequence[Forecaster],
    config: PipelineConfig,
    say: Progress,
    paths: list[Path],
) -> ClusterOutcome:
    submit = _submitter(client)
    track = Tracker(say)
    parts = track.add("panel", [submit(load_part, str(p)) for p in paths])
    summaries = client.gather([submit(summary, p) for p in parts])
    panels = [submit(_panel_of, p) for p in parts]  # ahead of the backtest's tasks: fetched while they run
    track.wait(["panel"])
    run = RunContext.combine(summaries)
    horizon = config.backtest_horizon
    origins = origins_of(list(run.weeks), config.backtest.folds, config.backtest.step, horizon)
    start: date = run.weeks[0]
    order = [m.name for m in scored_models(models, ds, config)]
    local = [m for m in models if not m.learns_across_series]
    global_models = [m for m in models if isinstance(m, FitsInParts) and m.learns_across_series]
    say(
        f"backtesting {len(order)} models on {sum(s.rows for s in summaries):,} panel rows in {len(parts)} "
        f"parts: {len(origins)} folds"
    )
    series = pl.concat([s.series for s in summaries]).unique()
    cold = _submit_cold_start(client, ds, config, parts, run, series, track)
    groups: list[Future] = []
    for fold, origin in enumerate(origins, start=1):
        folds = [submit(tasks.fold_part, p, fold, origin, config, True) for p in parts]
        stage = f"backtest fold {fold}"
        pairs = list(zip(parts, folds, strict=True))
        scores = [submit(tasks.local_scores, p, d, local, config) for p, d in pairs]
        for model in global_models:
            trained, counted = _submit_global(client, model, origin, start, folds)
            scores += [
                submit(tasks.global_scores, trained, c, d, p, config)
                for p, d, c in zip(parts, folds, counted, strict=True)
            ]
        # the fold's metrics, on a worker; its scoring tasks' results go once it has them
        groups += track.add(stage, [submit(tasks.fold_groups, *scores)], tasks=len(scores) + 1)
    panel = gather_panel(client.gather(panels))
    del panels
    stages = [f"backtest fold {fold}" for fold in range(1, len(origins) + 1)]
    done = track.wait(stages, collect=groups)
    scored = [group for future in groups for group in done.pop(future.key)]
    del groups
    backtest = summarise_groups(scored, config.backtest.objective, order)
    say(f"champion: {backtest.champion}; forecasting {config.forecast.horizon} weeks")
    champion = next(m for m in models if m.name == backtest.champion)
    forecasts, fitted = _forecast(client, champion, config, parts, run, start, track)
    raw = client.gather(forecasts)
    if cold is not None:
        track.wait(["cold start"])
        raw.append(cold.result())
    if fitted is None:
        # a per-series champion refits on whatever history the registered model is given (its
        # `forecast_from`), so what it was fitted on does not matter: a small slice, not the whole panel
        from forecast.pyfunc import example_slice

        fitted = champion.clone().fit(example_slice(panel), run.weeks[-1])
    out = with_price(finish_forecasts(raw, sale_ends(ds), say), ds)
    return ClusterOutcome(panel, backtest, out, fitted, track.seconds)


def _panel_of(part: Any) -> pl.DataFrame:
    return part.panel


def _submit_global(
    client: Client, model: tasks.PartModel, origin: date, start: date, folds: list[Future]
) -> tuple[Future, list[Future]]:
    """`model` trained at `origin` on every part's rows (the steps of `FitsInParts`); each part's counted
    features."""
    submit = _submitter(client)
    summaries = [submit(tasks.fold_summary, d) for d in folds]
    ctx = submit(tasks.combine, *summaries)
    counted = [submit(tasks.global_features, model, d, ctx) for d in folds]
    counts = [submit(tasks.candidates, c) for c in counted]
    share = submit(tasks.sample_share, model, *counts)
    rows = [submit(tasks.global_rows, model, c, share, ctx) for c in counted]
    training = submit(tasks.global_training, model, origin, ctx, *rows)
    jobs = model.sub_fits()
    results: dict[str, Future] = {}
    for job in jobs:  # a sub-fit that continues another's (listed before it) waits for it
        first = model.starts_from(job)
        begin = () if first is None else (results[first],)
        results[job] = submit(tasks.global_sub_fit, model, training, job, *begin)
    trained = submit(tasks.global_assemble, model, training, origin, start, jobs, *[results[j] for j in jobs])
    return trained, counted


def _forecast(
    client: Client,
    champion: Forecaster,
    config: PipelineConfig,
    parts: list[Future],
    run: RunContext,
    start: date,
    track: Tracker,
) -> tuple[list[Future], Forecaster | None]:
    """The champion fitted on all history and its forecasts, per part."""
    submit = _submitter(client)
    origin: date = run.weeks[-1]
    horizon = config.forecast.horizon
    folds = [submit(tasks.fold_part, p, 0, origin, config, False) for p in parts]
    if not (champion.learns_across_series and isinstance(champion, FitsInParts)):
        pairs = zip(parts, folds, strict=True)
        futures = [submit(tasks.local_predict, p, d, champion, horizon) for p, d in pairs]
        track.add("forecasts", futures)
        track.wait(["forecasts"])
        return futures, None
    trained, counted = _submit_global(client, champion, origin, start, folds)
    futures = [
        submit(tasks.global_predict, trained, c, d, horizon) for d, c in zip(folds, counted, strict=True)
    ]
    track.add("forecasts", futures)
    track.wait(["forecasts"])
    model = trained.result()
    assert isinstance(model, Forecaster)
    return futures, model


def _submit_cold_start(
    client: Client,
    ds: Dataset,
    config: PipelineConfig,
    parts: list[Future],
    run: RunContext,
    series: pl.DataFrame,
    track: Tracker,
) -> Future | None:
    """The cold-start model, fitted from every part's launches in one task meanwhile the backtest runs."""
    from forecast.models import build_cold_start

    submit = _submitter(client)
    origin: date = run.weeks[-1]
    cold = cold_start_series(ds, series, origin)
    model = build_cold_start(config, ds.article_attributes) if cold.height else None
    if model is None:
        return None
    if not isinstance(model, LaunchFitsInParts):
        msg = (
            f"--cluster: the cold-start model {model.name!r} does not implement "
            "forecast.models.base.LaunchFitsInParts; fix: implement it, or set [models] cold_start = false"
        )
        raise ConfigError(msg)
    articles = client.scatter(ds.articles)
    folds = [submit(tasks.fold_part, p, 0, origin, config, False) for p in parts]
    start = submit(_first_week, *[submit(tasks.first_week, d) for d in folds])
    inputs = [submit(tasks.launch_part, model, d, articles, start) for d in folds]
    horizon = config.forecast.horizon
    jobs = model.launch_sub_fits()
    if jobs:  # each sub-fit a task
        design = submit(tasks.cold_design, model, origin, articles, ds.trends, *inputs)
        results = [submit(tasks.cold_sub_fit, model, design, job) for job in jobs]
        future = submit(tasks.cold_predict, model, design, cold, horizon, *results)
    else:
        future = submit(tasks.cold_start, model, origin, articles, ds.trends, cold, horizon, *inputs)
    track.add("cold start", [future])
    return future


def _first_week(*weeks: date | None) -> date | None:
    known = [w for w in weeks if w is not None]
    return min(known) if known else None
