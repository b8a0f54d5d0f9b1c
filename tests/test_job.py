"""The main job: outputs all or nothing, MLflow parent/child runs and registry, allocation inputs, the CLI."""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import polars as pl
import pytest
from mlflow import MlflowClient
from test_tracking import LastMeanModel, last_week, make_dataset, make_panel

from forecast import job
from forecast.allocation.sources import dc_stock_for, store_stock_at, stores_for
from forecast.config import PipelineConfig, load_pipeline
from forecast.dataset import Dataset
from forecast.distribution import lowest_mean
from forecast.errors import InfeasibleError
from forecast.job import Stages, run_job

SERIES = ["article_id", "store_id"]
OUTPUTS = {
    "leaderboard.csv",
    "forecasts.csv",
    "plan.csv",
    "plan_store_summary.csv",
    "plan_article_summary.csv",
    "dc_stock.csv",
    "stores.csv",
    "report.html",
}
OUTPUTS |= {"shipments.csv", "orders.csv", "replenishment_summary.csv"}  # the replenishment step


def fake_backtest(
    panel: pl.DataFrame, models: list[Any], _config: PipelineConfig, _ds: Dataset, **_: Any
) -> Any:
    """One fold at week 15 of the tiny panel, scored by hand: profit = 100 - 10 × MAE."""
    origin = panel["week"].sort()[15]
    actual = panel.select(*SERIES, "week", "units")
    frames, rows = [], []
    for model in models:
        forecast = model.fit(panel.filter(pl.col("week") <= origin), origin).predict(4)
        scored = forecast.join(actual, on=[*SERIES, "week"], how="left")
        scored = scored.with_columns(pl.lit(1).alias("fold"), pl.lit(origin).alias("origin"))
        frames.append(scored)
        mae = float((scored["mean"] - scored["units"]).abs().mean())  # type: ignore[arg-type]
        rows.append({"model": model.name, "fold": 1, "mae": mae, "profit": 100.0 - 10.0 * mae})
    per_fold = pl.DataFrame(rows)
    board = per_fold.drop("fold").sort("profit", descending=True)
    return SimpleNamespace(
        leaderboard=board, forecasts=pl.concat(frames), per_fold=per_fold, champion=str(board["model"][0])
    )


def fake_predict_all(_ds: Dataset, panel: pl.DataFrame, config: PipelineConfig, name: str, **_: Any) -> Any:
    model = LastMeanModel(name=name, window=2 if name == "last_2" else 4).fit(panel, last_week(panel))
    return model.predict(config.forecast.horizon)


def fake_stages(**overrides: Any) -> Stages:
    stages: dict[str, Any] = {
        "load_dataset": lambda _config: make_dataset(),
        "validate": lambda _ds: None,
        "build_panel": lambda _ds: make_panel().lazy(),
        "build_models": lambda _config: [LastMeanModel(), LastMeanModel(window=2, name="last_2")],
        "run_backtest": fake_backtest,
        "predict_all": fake_predict_all,
    }
    stages.update(overrides)
    return Stages(**stages)  # allocate: the package's


def tiny_config(name: str = "tiny") -> PipelineConfig:
    config = PipelineConfig(name=name)
    config.forecast.horizon = 3
    return config


def sqlite_uri(folder: Path) -> str:
    return f"sqlite:///{(folder / 'mlruns' / 'mlflow.db').as_posix()}"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    return sqlite_uri(tmp_path_factory.mktemp("jobstore"))


def test_job_writes_outputs_and_logs_runs(store: str, tmp_path: Path) -> None:
    messages: list[str] = []
    result = run_job(tiny_config("tiny-ok"), tmp_path / "out", store, messages.append, stages=fake_stages())
    assert {p.name for p in (tmp_path / "out").iterdir()} == OUTPUTS
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.staging")]
    plan = pl.read_csv(result.outputs["plan"])
    assert plan.columns[:4] == ["store_id", "article_id", "week", "units"]
    assert plan.height > 0
    assert any("allocating" in m for m in messages)
    client = MlflowClient(tracking_uri=store, registry_uri=store)
    parent = client.get_run(result.run_id)
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["champion"] == result.champion
    assert parent.data.params["fingerprint.sales_rows"] == "120"
    assert math.isclose(parent.data.metrics["champion_profit"], result.champion_metrics["profit"])
    children = client.search_runs(
        [parent.info.experiment_id], filter_string=f"tags.`mlflow.parentRunId` = '{result.run_id}'"
    )
    assert {c.data.tags["model"] for c in children} == {"last_mean", "last_2"}
    names = {f.path for f in client.list_artifacts(result.run_id)}
    assert {"leaderboard.csv", "forecasts.csv", "plan.csv", "report.html", "plots", "data"} <= names
    plots = {f.path for f in client.list_artifacts(result.run_id, "plots")}
    assert "plots/leaderboard.png" in plots
    assert result.registration is not None
    assert result.registration.alias == "champion"
    version = client.get_model_version_by_alias("tiny-ok-demand", "champion")
    assert str(version.version) == result.registration.version


def test_rerun_gives_same_plan_and_worse_model_is_challenger(store: str, tmp_path: Path) -> None:
    first = run_job(tiny_config("tiny-rerun"), tmp_path / "a", store, stages=fake_stages())
    second = run_job(tiny_config("tiny-rerun"), tmp_path / "b", store, stages=fake_stages())
    for name in ("plan.csv", "forecasts.csv", "leaderboard.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert first.registration is not None
    assert second.registration is not None
    assert (first.registration.alias, second.registration.alias) == ("champion", "challenger")


def test_failure_in_allocation_leaves_no_outputs_and_a_failed_run(store: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "plan.csv").write_text("old plan\n")

    def infeasible(*_args: Any, **_kwargs: Any) -> Any:
        msg = "dc stock: article 'A1' needs 5 units for presentation minimums, 2 available"
        raise InfeasibleError(msg)

    with pytest.raises(InfeasibleError, match="presentation"):
        run_job(tiny_config("tiny-fail"), out, store, stages=fake_stages(allocate=infeasible))
    assert [p.name for p in out.iterdir()] == ["plan.csv"]
    assert (out / "plan.csv").read_text() == "old plan\n"
    assert not [p for p in tmp_path.iterdir() if p.name != "out"]
    client = MlflowClient(tracking_uri=store)
    experiment = client.get_experiment_by_name("tiny-fail")
    assert experiment is not None
    (run,) = client.search_runs([experiment.experiment_id], filter_string="tags.stage = 'job'")
    assert run.info.status == "FAILED"
    assert run.data.tags["error"].startswith("InfeasibleError: dc stock: article 'A1'")


def test_failure_in_report_leaves_no_outputs(
    store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: Any, **_kwargs: Any) -> str:
        msg = "disk full"
        raise OSError(msg)

    monkeypatch.setattr(job, "render_report", broken)
    with pytest.raises(OSError, match="disk full"):
        run_job(tiny_config("tiny-fail-report"), tmp_path / "out", store, stages=fake_stages())
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_stale_rejects_file_goes_when_this_run_has_none(store: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "rejects.csv").write_text("file,row,column,reason,value\n")
    run_job(tiny_config("tiny-rejects"), out, store, stages=fake_stages())
    assert not (out / "rejects.csv").exists()


def forecasts_for_allocation() -> pl.DataFrame:
    week = date(2024, 5, 6)
    return pl.DataFrame(
        {
            "article_id": ["A0", "A0", "A1", "A0"],
            "store_id": ["S0", "S1", "S0", "S0"],
            "week": [week, week, week, week + timedelta(weeks=1)],
            "horizon": [1, 1, 1, 2],
            "mean": [2.0, 3.0, 0.5, 9.0],
        }
    )


def test_dc_stock_derived_from_forecast_and_prices() -> None:
    ds = make_dataset()
    ds.articles = ds.articles.with_columns(pl.Series("list_price", [20.0, None, None]))
    config = PipelineConfig(name="t")
    dc = dc_stock_for(ds, make_panel(), forecasts_for_allocation(), config, date(2024, 5, 6))
    rows = {r["article_id"]: r for r in dc.iter_rows(named=True)}
    assert set(rows) == {"A0", "A1"}
    assert rows["A0"]["available_units"] == math.ceil(1.1 * 5.0)
    assert rows["A1"]["available_units"] == 1
    assert rows["A0"]["pack_size"] == 1
    assert (rows["A0"]["price"], rows["A0"]["unit_cost"]) == (20.0, 10.0)  # list price, 0.5 ratio
    assert rows["A1"]["price"] == 10.0  # the panel's last price
    assert math.isclose(rows["A1"]["holding_cost"], 1.0)
    given = pl.DataFrame(
        {"article_id": ["A0"], "available_units": [7], "pack_size": [1], "unit_cost": [1.0], "price": [2.0]}
    )
    ds.dc_stock = given
    assert dc_stock_for(ds, make_panel(), forecasts_for_allocation(), config, None)[
        "holding_cost"
    ].to_list() == [2.0]


def test_dc_stock_for_a_money_target_ships_in_round_blocks() -> None:
    # Walmart counts dollars: shipping them one at a time would make a model with millions of increments
    ds = make_dataset()
    ds.target_unit = "USD"
    forecasts = forecasts_for_allocation().with_columns(pl.col("mean") * 10_000)
    dc = dc_stock_for(ds, make_panel(), forecasts, PipelineConfig(name="t"), date(2024, 5, 6))
    pack = dc["pack_size"].unique().to_list()
    assert pack == [2000]  # 90th percentile of the week's means (30,000) / 25 = 1,200, rounded up 1-2-5
    # 1.1 × the week's demand, rounded up to whole blocks: A0 55,000 -> 56,000; A1 5,500 -> 6,000
    assert dict(dc.select("article_id", "available_units").iter_rows()) == {"A0": 56_000, "A1": 6_000}


def test_stores_unlimited_when_capacity_unknown_and_latest_stock() -> None:
    ds = make_dataset()
    forecasts = forecasts_for_allocation().vstack(
        forecasts_for_allocation().head(1).with_columns(pl.lit("S9").alias("store_id"))
    )
    dc = pl.DataFrame({"article_id": ["A0"], "available_units": [10]})
    ds.stock = pl.DataFrame(
        {
            "week": [date(2024, 1, 1), date(2024, 1, 8), date(2024, 1, 8)],
            "store_id": ["S0", "S0", "S1"],
            "article_id": ["A0", "A0", "A0"],
            "on_hand": [50.0, 3.7, -1.0],
        }
    )
    stock = store_stock_at(ds, make_panel()["week"].max())
    assert stock is not None
    assert stock.rows() == [("S0", "A0", 3.0), ("S1", "A0", 0.0)]
    stores = stores_for(ds, forecasts, dc, stock)
    assert stores.rows() == [("S0", 100.0), ("S1", 14.0), ("S9", 14.0)]


def test_demo_pipeline_is_found(repo_root: Path) -> None:
    from forecast.cli.demo import demo_config, demo_pipeline

    assert demo_pipeline() == repo_root / "pipelines" / "demo.toml"
    assert demo_config().name == "demo"


TINY_TOML = """
name = "tinyrun"
[data]
adapter = "simulate"
[simulate]
articles = 24
stores = 3
weeks = 70
seed = 3
[forecast]
horizon = 4
[models.naive]
[models.window_average]
[backtest]
folds = 2
step = 4
"""


@pytest.mark.slow
def test_cli_run_end_to_end_with_real_stages_and_fresh_process_model(tmp_path: Path) -> None:
    pipeline = tmp_path / "tinyrun.toml"
    pipeline.write_text(TINY_TOML)
    uri = sqlite_uri(tmp_path)
    env = {**os.environ, "COLUMNS": "200"}
    cmd = [sys.executable, "-m", "forecast", "run", str(pipeline), "--tracking-uri", uri, "--seed", "5"]
    runs = []
    for out in ("a", "b"):
        done = subprocess.run(
            [*cmd, "--out", str(tmp_path / out)], capture_output=True, text=True, env=env, timeout=600
        )
        assert done.returncode == 0, done.stderr[-3000:]
        runs.append(done)
    assert "champion" in runs[0].stderr
    assert "models:/tinyrun-demand@champion" in runs[0].stderr
    assert "models:/tinyrun-demand@challenger" in runs[1].stderr
    assert OUTPUTS <= {p.name for p in (tmp_path / "a").iterdir()}
    assert (tmp_path / "a" / "plan.csv").read_bytes() == (tmp_path / "b" / "plan.csv").read_bytes()
    check_one_plan_total(tmp_path / "a", runs[0].stderr, uri, pipeline)
    config = load_pipeline(pipeline)
    assert config.simulate.articles == 24
    code = (
        "import mlflow, polars as pl\n"
        "from forecast.config import load_pipeline\n"
        "from forecast.adapters import load_dataset\n"
        "from forecast.panel import build_panel\n"
        "from forecast.pyfunc import panel_to_pandas\n"
        f"config = load_pipeline({str(pipeline)!r}, seed=5)\n"
        "panel = build_panel(load_dataset(config)).collect()\n"
        "model = mlflow.pyfunc.load_model('models:/tinyrun-demand@champion')\n"
        "out = model.predict(panel_to_pandas(panel.head(300)))\n"
        "print(len(out), list(out.columns))\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "MLFLOW_TRACKING_URI": uri, "MLFLOW_REGISTRY_URI": uri},
        cwd=tmp_path,
        timeout=300,
    )
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    assert "['article_id', 'store_id', 'week', 'horizon', 'mean', 'q10', 'q50', 'q90']" in loaded.stdout


def _figure(pattern: str, text: str) -> float:
    found = re.search(pattern, text)
    assert found is not None, f"{pattern!r} not in {text[-2000:]}"
    return float(found.group(1).replace(",", ""))


def check_one_plan_total(out: Path, stderr: str, uri: str, pipeline: Path) -> None:
    """The plan total printed by the run, shown in the report, logged to MLflow and printed by `forecast
    allocate` on the inputs the run wrote is one figure: the sum of plan.csv's rows, each recomputed from
    dc_stock.csv with the money model."""
    plan = pl.read_csv(out / "plan.csv", schema_overrides={"store_id": pl.Utf8, "article_id": pl.Utf8})
    total = round(float(plan["expected_profit"].sum()), 2)
    assert _figure(r"expected profit\s*│\s*(-?[\d,]+\.\d\d)", stderr) == total
    report = (out / "report.html").read_text()
    assert _figure(r"expected profit<b>(-?[\d,]+\.\d\d)</b>", report) == total
    run_id = re.search(r"MLflow run\s*│\s*([0-9a-f]{32})", stderr)
    assert run_id is not None
    metrics = MlflowClient(tracking_uri=uri).get_run(run_id.group(1)).data.metrics
    assert metrics["plan_expected_profit"] == pytest.approx(total, abs=1e-9)
    assert "plan_objective" not in metrics
    assert "plan_bound" not in metrics
    inputs = ["--dc-stock", str(out / "dc_stock.csv"), "--stores", str(out / "stores.csv")]
    if (out / "store_stock.csv").exists():
        inputs += ["--store-stock", str(out / "store_stock.csv")]
    again = subprocess.run(
        [sys.executable, "-m", "forecast", "allocate", "--forecasts", str(out / "forecasts.csv"), *inputs,
         "--pipeline", str(pipeline), "--out", str(out.parent / "again" / "plan.csv")],
        capture_output=True, text=True, timeout=300, env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    assert again.returncode == 0, again.stderr[-3000:]
    assert _figure(r"expected profit: (-?[\d,]+\.\d\d)", again.stderr) == total
    assert (out.parent / "again" / "plan.csv").read_bytes() == (out / "plan.csv").read_bytes()
    # every row from the DC stock file: its costs, the distribution's bounds and the money model
    dc = pl.read_csv(out / "dc_stock.csv", schema_overrides={"article_id": pl.Utf8})
    rows = plan.join(dc, on="article_id", suffix="_dc")
    assert rows.height == plan.height
    for col in ("price", "unit_cost", "holding_cost"):
        assert (rows[col] == rows[f"{col}_dc"]).all()
    stock = rows["on_hand_before"] + rows["units"]
    assert (rows["units"] % rows["pack_size"] == 0).all()
    assert (rows["expected_sales"] <= rows["demand_mean"]).all()
    assert (rows["expected_sales"] <= stock).all()
    assert ((rows["expected_sales"] + rows["expected_leftover"] - stock).abs() < 1e-9).all()
    money = (
        (rows["price"] - rows["unit_cost"]) * rows["expected_sales"]
        - rows["holding_cost"] * rows["expected_leftover"]
        - rows["ship_cost"] * rows["units"]
    )
    assert ((money - rows["expected_profit"]).abs() < 0.005 + 1e-9).all()
    sent = rows.group_by("article_id").agg(pl.col("units").sum(), pl.col("available_units").first())
    assert (sent["units"] <= sent["available_units"]).all()
    forecasts = pl.read_csv(out / "forecasts.csv")
    q = forecasts.select("q10", "q50", "q90").to_numpy()
    assert (np.diff(q, axis=1) >= 0).all()
    assert (lowest_mean(np.array([0.1, 0.5, 0.9]), q) <= forecasts["mean"].to_numpy() + 1e-9).all()


def test_cli_run_bad_pipeline_is_one_line_error(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "forecast",
            "run",
            str(tmp_path / "missing.toml"),
            "--out",
            str(tmp_path / "o"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert done.stderr.startswith("error: ")
    assert "pipeline file not found" in done.stderr
    assert "Traceback" not in done.stderr


def test_derived_dc_stock_covers_the_weeks_the_allocation_sums() -> None:
    # one rule for the allocation's weeks: the first `cover_weeks` forecast weeks, even with a gap
    from forecast.allocation import build_problem
    from forecast.config import AllocationConfig

    ds = make_dataset()
    week = date(2024, 5, 6)
    forecasts = pl.DataFrame(
        {
            "article_id": ["A0", "A0", "A0"],
            "store_id": ["S0", "S0", "S0"],
            "week": [week, week + timedelta(weeks=2), week + timedelta(weeks=3)],
            "mean": [2.0, 3.0, 50.0],
        }
    )
    config = PipelineConfig(name="t", allocation=AllocationConfig(cover_weeks=2))
    dc = dc_stock_for(ds, make_panel(), forecasts, config)
    assert dc["available_units"].to_list() == [math.ceil(1.1 * (2.0 + 3.0))]
    stores = stores_for(ds, forecasts, dc, None)
    problem = build_problem(forecasts, dc, stores, None, config.allocation)
    assert problem.weeks == [week, week + timedelta(weeks=2)]


def test_a_given_dc_stock_gets_its_empty_prices_from_the_catalogue() -> None:
    ds = make_dataset()
    ds.articles = ds.articles.with_columns(pl.Series("list_price", [20.0, None, None]))
    ds.dc_stock = pl.DataFrame(
        {
            "article_id": ["A0"],
            "available_units": [7.0],
            "pack_size": [1.0],
            "unit_cost": [None],
            "price": [None],
        },
        schema_overrides={"unit_cost": pl.Float64, "price": pl.Float64},
    )
    dc = dc_stock_for(ds, make_panel(), forecasts_for_allocation(), PipelineConfig(name="t"))
    assert dc.select("price", "unit_cost", "holding_cost").row(0) == (20.0, 10.0, 2.0)
