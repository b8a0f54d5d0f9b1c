"""The Dask engine: the data split into parts loses nothing, a global LightGBM fitted in parts is the whole
run's model, and the job on a cluster (a `LocalCluster` of two workers, and a real `dask scheduler` with two
`dask worker` processes reached through tcp://) writes the very files the single-machine job writes."""

from __future__ import annotations

import os
import pickle
import socket
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from forecast.backtest import fold_origins, history_at
from forecast.censoring import uncensor
from forecast.config import (
    BacktestConfig,
    EngineConfig,
    ForecastConfig,
    ModelsConfig,
    PipelineConfig,
    ReplenishmentConfig,
    SimulateConfig,
    TrackingConfig,
)
from forecast.contracts import WEEKLY_KEY
from forecast.engine import tasks
from forecast.engine.parts import ARTICLE_TABLES, Part, gather_panel, load_part, write_parts
from forecast.errors import ClusterError, ConfigError
from forecast.job import run_job
from forecast.models.coldstart import ColdStartForecaster
from forecast.models.lgbm import LightGBMForecaster
from forecast.panel import build_panel, check_panel, sale_ends
from forecast.predict import cold_start_series
from forecast.prices import with_plan_price
from forecast.simulate import simulate_dataset

SIM = SimulateConfig(articles=60, stores=4, weeks=80, seed=4, cold_start_share=0.1)
PARAMS = {"num_iterations": 25, "num_leaves": 7, "min_data_in_leaf": 10, "num_threads": 1}
CONFIG = PipelineConfig(
    name="engine",
    simulate=SIM,
    forecast=ForecastConfig(horizon=3, active_weeks=6, seed=3),
    backtest=BacktestConfig(folds=2, step=3),
    # few training rows, so the seeded sample of rows is exercised
    models=ModelsConfig(
        tables={"seasonal_naive": {}, "tsb": {}, "lightgbm": {"params": PARAMS, "max_rows": 1_000}}
    ),
    replenishment=ReplenishmentConfig(weeks=3),
    tracking=TrackingConfig(register=False),
)
CSVS = [
    "leaderboard.csv",
    "forecasts.csv",
    "plan.csv",
    "plan_store_summary.csv",
    "plan_article_summary.csv",
    "dc_stock.csv",
    "stores.csv",
    "shipments.csv",
    "orders.csv",
    "replenishment_summary.csv",
]


def parts_of(folder: Path, n: int) -> list[Part]:
    ds = simulate_dataset(SIM)
    return [load_part(str(p)) for p in write_parts(ds, folder, n)]


def test_the_parts_hold_every_row_once_and_their_panels_are_the_whole_panel(tmp_path: Path) -> None:
    ds = simulate_dataset(SIM)
    paths = write_parts(ds, tmp_path / "parts", 5)
    assert len(paths) > 1
    for name in ARTICLE_TABLES:
        whole = getattr(ds, name)
        if whole is None:
            continue
        files = [p / f"{name}.parquet" for p in paths if (p / f"{name}.parquet").exists()]
        rows = pl.concat([pl.read_parquet(f) for f in files]) if files else whole.head(0)
        assert rows.height == whole.height, name  # rows in = rows written, none twice
        ids = [set(pl.read_parquet(f)["article_id"].to_list()) for f in files]
        assert sum(len(i) for i in ids) == len(set().union(*ids)), name  # an article lives in one part
    panels = [load_part(str(p)).panel for p in paths]
    assert_frame_equal(gather_panel(panels), check_panel(build_panel(ds).collect()))


@pytest.mark.parametrize(
    ("calibrate", "start"), [(False, "average"), (True, "average"), (False, "median"), (True, "mean")]
)
def test_a_lightgbm_fitted_in_parts_forecasts_as_the_one_fitted_on_the_whole_panel(
    tmp_path: Path, calibrate: bool, start: str
) -> None:
    parts = parts_of(tmp_path / "parts", 3)
    panel = gather_panel([p.panel for p in parts])
    model = LightGBMForecaster(
        seed=3,
        params=PARAMS,
        max_horizon=3,
        max_rows=1_000,
        active_weeks=6,
        calibrate=calibrate,
        quantile_start=start,
        quantile_params={"num_iterations": 5},
    )
    origin = fold_origins(panel, 2, 3, 3)[0]
    folds = [tasks.fold_part(p, 1, origin, CONFIG, True) for p in parts]
    ctx = tasks.combine(*[tasks.fold_summary(d) for d in folds])
    counted = [tasks.global_features(model, d, ctx) for d in folds]
    keep = tasks.sample_share(model, *[tasks.candidates(c) for c in counted])
    assert keep < 1.0  # the sample is drawn
    rows = [tasks.global_rows(model, c, keep, ctx) for c in counted]
    training = tasks.global_training(model, origin, ctx, *rows)
    assert not model.is_fitted
    jobs = model.sub_fits()
    assert ("calibration" in jobs) == calibrate
    # each booster is its own task, trained in any order on any worker; one that continues another's
    # trees gets that booster as a worker would, pickled
    firsts = {job: model.starts_from(job) for job in jobs}
    assert (start == "average") == all(first is None for first in firsts.values())
    boosters = {
        job: tasks.global_sub_fit(model, training, job) for job in reversed(jobs) if firsts[job] is None
    }
    for job, first in firsts.items():
        if first is not None:
            start_booster = pickle.loads(pickle.dumps(boosters[first]))
            boosters[job] = tasks.global_sub_fit(model, training, job, start_booster)
    first_week = panel["week"].min()
    trained = tasks.global_assemble(model, training, origin, first_week, jobs, *[boosters[j] for j in jobs])
    assert isinstance(trained, LightGBMForecaster)
    assert trained.is_fitted
    assert not model.is_fitted
    assert bool(trained.offsets_) == calibrate

    whole = tasks.fold_part(Part("whole", simulate_dataset(SIM), panel), 1, origin, CONFIG, True)
    single = model.clone().fit(whole.history, origin)
    assert sum(r.height for r in rows) == single.feature_frame(whole.history, origin).height
    expected = with_plan_price(single.with_prices(whole.plan).predict(3, whole.active), whole.plan)
    got = pl.concat(
        [
            tasks.global_predict(trained, c, d, 3)
            for c, d in zip(counted, folds, strict=True)
            if d.active.height
        ]
    )
    key = [*WEEKLY_KEY, "horizon"]
    assert_frame_equal(got.sort(key), expected.sort(key))


@pytest.mark.parametrize("calibrated", [False, True])
def test_the_cold_start_fitted_in_parts_forecasts_as_the_one_fitted_on_the_whole_panel(
    tmp_path: Path, calibrated: bool
) -> None:
    parts = parts_of(tmp_path / "parts", 3)
    panel = gather_panel([p.panel for p in parts])
    ds = simulate_dataset(SIM)
    origin = panel["week"].max()
    rounds = {"num_boost_round": 20, "quantile_num_boost_round": 20}
    model = ColdStartForecaster([0.1, 0.5, 0.9], 5, params={"weeks": 4, **rounds}, calibrate=calibrated)
    launches = cold_start_series(ds, panel, origin)
    assert launches.height
    # the launches are learnt from demand: stockout weeks as `forecast.censoring` imputes them
    history, _ = history_at(panel, origin, CONFIG.forecast.active_weeks, sale_ends(ds))
    demand = uncensor(history, CONFIG.demand)
    expected = model.clone().fit(demand, origin, articles=ds.articles).predict(3, launches)

    folds = [tasks.fold_part(p, 0, origin, CONFIG, False) for p in parts]
    start = min(w for w in (tasks.first_week(d) for d in folds) if w is not None)
    inputs = [tasks.launch_part(model, d, ds.articles, start) for d in folds]
    assert bool(model.launch_sub_fits()) != calibrated
    if calibrated:  # a model adding to the fit: one task
        got = tasks.cold_start(model, origin, ds.articles, None, launches, 3, *inputs)
    else:  # the design once, then each week from launch as its own task, in any order
        design = tasks.cold_design(model, origin, ds.articles, None, *inputs)
        assert not design[0].is_fitted  # fitted only once assembled
        weeks = {w: tasks.cold_sub_fit(model, design, w) for w in (4, 2, 3, 1)}
        got = tasks.cold_predict(model, design, launches, 3, *[weeks[w] for w in range(1, 5)])
    assert_frame_equal(got, expected)
    assert tasks.worker_threads() == 1  # outside a worker


def test_the_seeded_row_sample_does_not_depend_on_the_other_series() -> None:
    from forecast.features.design import row_draws

    ids = np.arange(1, 200, dtype=np.uint64) * np.uint64(7919)
    draws = row_draws(ids, 30, 2, seed=5)
    assert np.array_equal(row_draws(ids[50:], 30, 2, seed=5), draws[50:])
    assert 0.4 < (draws < 0.5).mean() < 0.6  # uniform enough to sample a share
    assert not np.array_equal(row_draws(ids, 30, 2, seed=6), draws)  # the seed decides
    assert not np.array_equal(row_draws(ids, 30, 3, seed=5), draws)  # so do origin and horizon


def _job(config: PipelineConfig, out: Path, store: Path) -> None:
    run_job(config, out, tracking_uri=f"sqlite:///{store}")


def _same_files(a: Path, b: Path) -> None:
    for name in CSVS:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


@pytest.fixture(scope="module")
def single(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("single")
    _job(CONFIG, folder / "out", folder / "mlflow.db")
    return folder / "out"


@pytest.mark.slow
def test_the_job_on_a_local_cluster_writes_the_single_machine_files(single: Path, tmp_path: Path) -> None:
    engine = EngineConfig(cluster="local:2", partitions=5, work_dir=tmp_path / "work")
    messages: list[str] = []
    run_job(
        replace(CONFIG, engine=engine),
        tmp_path / "out",
        tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
        progress=messages.append,
    )
    _same_files(single, tmp_path / "out")
    assert any("dashboard http://127.0.0.1:" in m for m in messages)
    assert any(m.startswith("backtest fold 2:") for m in messages)  # progress per stage
    assert not any((tmp_path / "work").iterdir())  # the parts go with the job


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_the_job_through_a_scheduler_and_two_workers_started_by_hand(single: Path, tmp_path: Path) -> None:
    dask = Path(sys.executable).parent / "dask"
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    scheduler = subprocess.Popen(
        [str(dask), "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"], **quiet
    )
    workers = [
        subprocess.Popen(
            [str(dask), "worker", address, "--nthreads", "1", "--no-dashboard", "--host", "127.0.0.1"],
            **quiet,
        )
        for _ in range(2)
    ]
    try:
        pipeline = tmp_path / "engine.toml"
        pipeline.write_text(
            "\n".join(
                [
                    'name = "engine"',
                    "[simulate]",
                    *(f"{k} = {v}" for k, v in [("articles", 60), ("stores", 4), ("weeks", 80), ("seed", 4)]),
                    "cold_start_share = 0.1",
                    "[forecast]\nhorizon = 3\nactive_weeks = 6\nseed = 3",
                    "[backtest]\nfolds = 2\nstep = 3",
                    "[models.seasonal_naive]",
                    "[models.tsb]",
                    "[models.lightgbm]",
                    "max_rows = 1000",
                    "params = { num_iterations = 25, num_leaves = 7, min_data_in_leaf = 10,"
                    " num_threads = 1 }",
                    "[replenishment]\nweeks = 3",
                    "[tracking]\nregister = false",
                    f'[engine]\npartitions = 4\nwork_dir = "{tmp_path / "work"}"',
                ]
            )
        )
        _wait_for_workers(address, 2)
        cmd = [sys.executable, "-m", "forecast", "run", str(pipeline), "--cluster", address]
        cmd += ["--out", str(tmp_path / "out"), "--tracking-uri", f"sqlite:///{tmp_path / 'mlflow.db'}"]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env={**os.environ})
        assert done.returncode == 0, done.stderr[-3000:]
        assert f"Dask cluster {address}: 2 worker(s)" in done.stderr
        _same_files(single, tmp_path / "out")
    finally:
        for proc in [*workers, scheduler]:
            proc.terminate()
        for proc in [*workers, scheduler]:
            proc.wait(timeout=30)


def _wait_for_workers(address: str, n: int) -> None:
    from dask.distributed import Client

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with Client(address, timeout="5s") as client:
                client.wait_for_workers(n, timeout=60)
                return
        except (OSError, TimeoutError):
            time.sleep(1)
    pytest.fail(f"the scheduler at {address} did not get {n} workers")


def test_an_unreachable_scheduler_is_one_line_and_exit_3(tmp_path: Path) -> None:
    engine = EngineConfig(cluster=f"tcp://127.0.0.1:{_free_port()}")
    with pytest.raises(ClusterError, match="cannot reach the Dask scheduler") as info:
        run_job(replace(CONFIG, engine=engine), tmp_path / "out", tracking_uri=f"sqlite:///{tmp_path}/m.db")
    assert info.value.exit_code == 3
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


@pytest.mark.parametrize("cluster", ["local:0", "spark://x:1", "tcp://host", "local:two"])
def test_a_malformed_cluster_address_is_refused(cluster: str) -> None:
    with pytest.raises(ConfigError, match="engine.cluster"):
        EngineConfig(cluster=cluster)
