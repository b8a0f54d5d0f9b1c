"""MLflow tracking and registry against a SQLite store in tmp_path, with a tiny model of the tests' own."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import cloudpickle
import mlflow
import pandas as pd
import polars as pl
import pytest
from mlflow import MlflowClient

from forecast import tracking
from forecast.config import ModelsConfig, PipelineConfig
from forecast.dataset import Dataset
from forecast.distribution import coherent_forecasts
from forecast.models.base import Forecaster
from forecast.panel import PANEL_SCHEMA
from forecast.pyfunc import ForecasterPyfunc, example_slice, log_pyfunc, panel_from_pandas, panel_to_pandas

SERIES = ["article_id", "store_id"]
START = date(2024, 1, 1)


class LastMeanModel(Forecaster):
    """Mean of the last `window` weeks per series, flat over the horizon; quantiles 0.5x / 1x / 1.5x."""

    def __init__(self, window: int = 4, name: str = "last_mean") -> None:
        self.window = window
        self.name = name

    def fit(self, panel: pl.DataFrame, origin: date, **_: object) -> LastMeanModel:
        history = panel.filter(pl.col("week") <= origin).sort("week")
        self.origin_ = origin
        self.level_ = history.group_by(SERIES).agg(pl.col("units").tail(self.window).mean().alias("mean"))
        return self

    def predict(self, horizon: int, series: pl.DataFrame | None = None) -> pl.DataFrame:
        level = self.level_ if series is None else self.level_.join(series.select(SERIES), on=SERIES)
        steps = pl.DataFrame({"horizon": list(range(1, horizon + 1))}, schema={"horizon": pl.Int32})
        out = level.join(steps, how="cross").with_columns(
            (pl.lit(self.origin_) + pl.duration(weeks=pl.col("horizon"))).cast(pl.Date).alias("week"),
            pl.lit(self.name).alias("model"),
            (pl.col("mean") * 0.5).alias("q10"),
            pl.col("mean").alias("q50"),
            (pl.col("mean") * 1.5).alias("q90"),
        )
        cols = ["article_id", "store_id", "week", "horizon", "model", "mean", "q10", "q50", "q90"]
        return out.select(cols).sort([*SERIES, "week"])


# the fresh process has no tests folder on its path: ship the test model's code inside the pickle
cloudpickle.register_pickle_by_value(sys.modules[__name__])


def make_panel(articles: int = 3, stores: int = 2, weeks: int = 20) -> pl.DataFrame:
    rows = []
    for a in range(articles):
        for s in range(stores):
            for w in range(weeks):
                units = float((a + 1) * (s + 1) + (w % 3))
                rows.append(
                    {
                        "article_id": f"A{a}",
                        "store_id": f"S{s}",
                        "week": START + timedelta(weeks=w),
                        "units": units,
                        "returns_units": 0.0,
                        "price": 10.0,
                        "list_price": 12.0,
                        "discount": 1 - 10 / 12,
                        "on_hand": None,
                        "censored": False,
                        "is_holiday": w == 5,
                        "category": "tops",
                    }
                )
    return pl.DataFrame(rows, schema=PANEL_SCHEMA)


def last_week(panel: pl.DataFrame) -> date:
    week = panel["week"].max()
    assert isinstance(week, date)
    return week


def make_dataset() -> Dataset:
    panel = make_panel()
    sales = panel.select("article_id", "store_id", pl.col("week").alias("date"), "units", "price")
    articles = pl.DataFrame({"article_id": ["A0", "A1", "A2"], "category": ["tops"] * 3})
    stores = pl.DataFrame({"store_id": ["S0", "S1"], "capacity_units": [100.0, None]})
    return Dataset(name="tiny", sales=sales, articles=articles, stores=stores, rows_read={"sales.csv": 120})


@pytest.fixture(scope="module")
def store_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # one SQLite store for the module: creating its tables takes seconds; tests use their own experiments
    return tmp_path_factory.mktemp("store")


@pytest.fixture(scope="module")
def store_uri(store_root: Path) -> str:
    return f"sqlite:///{(store_root / 'mlruns' / 'mlflow.db').as_posix()}"


def leaderboard() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "model": ["last_mean", "naive"],
            "wape": [0.3, 0.4],
            "mae": [1.0, 1.5],
            "bias": [0.1, float("nan")],
            "profit": [120.0, 80.0],
        }
    )


def per_fold() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "model": ["last_mean", "last_mean", "naive", "naive"],
            "fold": [0, 1, 0, 1],
            "wape": [0.2, 0.4, 0.35, 0.45],
            "profit": [100.0, 140.0, 70.0, 90.0],
        }
    )


def test_uri_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    default = tracking.resolve_tracking_uri(cwd=tmp_path)
    assert default == f"sqlite:///{tmp_path.resolve().as_posix()}/mlruns/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://env:5000")
    assert tracking.resolve_tracking_uri(cwd=tmp_path) == "http://env:5000"
    assert tracking.resolve_tracking_uri(None, "http://pipe:5000") == "http://pipe:5000"
    assert tracking.resolve_tracking_uri("http://cli:5000", "http://pipe:5000") == "http://cli:5000"


def test_artifact_root_beside_sqlite_store(store_uri: str, store_root: Path) -> None:
    root = tracking.artifact_root(store_uri, "my pipeline")
    assert root == (store_root / "mlruns" / "artifacts" / "my-pipeline").as_uri()
    assert tracking.artifact_root("http://127.0.0.1:5000", "x") is None


def test_flatten_params_has_every_section_without_machine_paths(tmp_path: Path) -> None:
    models = ModelsConfig(tables={"naive": {}, "lightgbm": {"params": {"num_leaves": 15}}})
    config = PipelineConfig(name="demo", source=tmp_path / "demo.toml", models=models)
    params = tracking.flatten_params(config)
    assert params["pipeline"] == "demo"
    assert params["backtest.objective"] == "profit"
    assert params["models.tables.lightgbm.params.num_leaves"] == "15"
    assert all(str(tmp_path) not in value for value in params.values())


def test_fingerprint_counts_and_order_free_hash() -> None:
    ds = make_dataset()
    fp = tracking.data_fingerprint(ds)
    assert (fp["articles"], fp["stores"], fp["sales_rows"]) == (3, 2, 120)
    assert (fp["date_min"], fp["date_max"]) == ("2024-01-01", str(START + timedelta(weeks=19)))
    shuffled = ds.sales.sample(fraction=1.0, shuffle=True, seed=1)
    assert tracking.sales_hash(shuffled) == fp["sales_sha256"]
    changed = ds.sales.with_columns(pl.when(pl.int_range(pl.len()) == 0).then(99.0).otherwise("units"))
    assert tracking.sales_hash(changed) != fp["sales_sha256"]


def test_parent_and_child_runs(store_uri: str, store_root: Path, tmp_path: Path) -> None:
    config = PipelineConfig(name="tiny-runs")
    csv = tmp_path / "leaderboard.csv"
    leaderboard().write_csv(csv)
    with tracking.job_run(config, store_uri) as run_id:
        tracking.log_fingerprint(tracking.data_fingerprint(make_dataset()))
        children = tracking.log_model_runs(leaderboard(), per_fold(), champion="last_mean")
        tracking.log_champion_metrics(leaderboard(), "last_mean")
        tracking.log_files({"leaderboard": csv})
    client = MlflowClient(tracking_uri=store_uri)
    parent = client.get_run(run_id)
    assert parent.info.status == "FINISHED"
    assert parent.data.params["forecast.horizon"] == "8"
    assert parent.data.params["fingerprint.sales_rows"] == "120"
    assert parent.data.metrics["champion_profit"] == 120.0
    experiment = client.get_experiment(parent.info.experiment_id)
    assert experiment.name == "tiny-runs"
    assert experiment.artifact_location.startswith((store_root / "mlruns" / "artifacts").as_uri())
    child = client.get_run(children["last_mean"])
    assert child.info.experiment_id == parent.info.experiment_id
    assert child.data.tags["mlflow.parentRunId"] == run_id
    assert child.data.tags["champion"] == "true"
    assert child.data.metrics["wape"] == 0.3
    assert "bias" not in client.get_run(children["naive"]).data.metrics  # NaN is left out
    history = client.get_metric_history(child.info.run_id, "fold_profit")
    assert [(m.step, m.value) for m in history] == [(0, 100.0), (1, 140.0)]
    names = {f.path for f in client.list_artifacts(run_id)}
    assert {"leaderboard.csv", "data"} <= names
    assert list((store_root / "mlruns" / "artifacts" / "tiny-runs").rglob("leaderboard.csv"))


def test_failed_job_is_marked_failed_with_error(store_uri: str) -> None:
    config = PipelineConfig(name="tiny-failed")
    holder: dict[str, str] = {}

    def failing_job() -> None:
        with tracking.job_run(config, store_uri) as run_id:
            holder["run"] = run_id
            with mlflow.start_run(run_name="child", nested=True):
                msg = "solver exploded"
                raise RuntimeError(msg)

    with pytest.raises(RuntimeError, match="solver exploded"):
        failing_job()
    run = MlflowClient(tracking_uri=store_uri).get_run(holder["run"])
    assert run.info.status == "FAILED"
    assert run.data.tags["error"] == "RuntimeError: solver exploded"
    assert mlflow.active_run() is None


def log_and_register(uri: str, profit: float, name: str = "tiny-demand") -> tracking.Registration:
    panel = make_panel()
    model = LastMeanModel().fit(panel, last_week(panel))
    with tracking.job_run(PipelineConfig(name="tiny"), uri):
        mlflow.log_metric("champion_profit", profit)
        info = log_pyfunc(model, example_slice(panel), horizon=3)
        return tracking.register_champion(info.model_uri, name, "profit", profit)


@pytest.mark.slow
def test_registry_aliases_and_fresh_process_load(store_uri: str, store_root: Path, tmp_path: Path) -> None:
    first = log_and_register(store_uri, 120.0)
    second = log_and_register(store_uri, 80.0)
    assert (first.alias, second.alias) == ("champion", "challenger")
    assert second.previous_value == 120.0
    client = MlflowClient(tracking_uri=store_uri, registry_uri=store_uri)
    assert str(client.get_model_version_by_alias("tiny-demand", "champion").version) == first.version
    assert str(client.get_model_version_by_alias("tiny-demand", "challenger").version) == second.version
    # nothing of this machine's paths inside the stored model (MLmodel's own `artifact_path` records where
    # MLflow stored it, which is the store's business, not the model's)
    models = store_root / "mlruns" / "artifacts" / "tiny"
    assert list(models.rglob("python_model.pkl"))
    for path in models.rglob("*"):
        if path.is_file() and path.name != "MLmodel":
            assert str(store_root).encode() not in path.read_bytes(), path
    code = (
        "import mlflow, pandas as pd\n"
        "m = mlflow.pyfunc.load_model('models:/tiny-demand@champion')\n"
        "df = pd.DataFrame({'article_id': ['A0'] * 6, 'store_id': ['S0'] * 6,\n"
        "    'week': pd.date_range('2024-01-01', periods=6, freq='7D'), 'units': [1., 2, 3, 4, 5, 6]})\n"
        "out = m.predict(df, params={'horizon': 2})\n"
        "print(out.to_csv(index=False))\n"
    )
    env = {**os.environ, "MLFLOW_TRACKING_URI": store_uri, "MLFLOW_REGISTRY_URI": store_uri}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    assert lines[0] == "article_id,store_id,week,horizon,mean,q10,q50,q90"
    assert lines[1].startswith("A0,S0,2024-02-12,1,4.5,")
    assert len(lines) == 3
    third = log_and_register(store_uri, 150.0)
    assert third.alias == "champion"
    assert str(client.get_model_version_by_alias("tiny-demand", "champion").version) == third.version


def test_demand_model_predicts_after_last_input_week() -> None:
    panel = make_panel(weeks=10)
    model = ForecasterPyfunc(LastMeanModel().fit(panel, last_week(panel)), horizon=2)
    out = model.predict(None, panel_to_pandas(panel.filter(pl.col("article_id") == "A1")))
    assert list(out.columns) == ["article_id", "store_id", "week", "horizon", "mean", "q10", "q50", "q90"]
    assert len(out) == 4
    assert set(out["article_id"]) == {"A1"}
    assert pd.Timestamp(out["week"].min()) == pd.Timestamp(START + timedelta(weeks=10))


def test_panel_from_pandas_restores_contract_types() -> None:
    panel = make_panel(weeks=3)
    back = panel_from_pandas(panel_to_pandas(panel).sample(frac=1.0, random_state=0))
    assert back.schema == pl.Schema(PANEL_SCHEMA)
    assert back.equals(panel.sort([*SERIES, "week"]))
    with pytest.raises(ValueError, match="units"):
        panel_from_pandas(pd.DataFrame({"article_id": ["a"], "store_id": ["s"], "week": ["2024-01-01"]}))


def test_beats_respects_direction() -> None:
    assert tracking.beats(2.0, 1.0, "profit")
    assert not tracking.beats(1.0, 1.0, "profit")
    assert tracking.beats(0.1, 0.2, "wape")
    assert not tracking.beats(0.3, 0.2, "lost_sales_cost")


def test_lightgbm_pyfunc_on_the_whole_panel_matches_the_model() -> None:
    lgbm = pytest.importorskip("forecast.models.lgbm")
    panel = make_panel(articles=4, stores=3, weeks=30)
    model = lgbm.LightGBMForecaster(seed=1, params={"num_iterations": 5, "min_data_in_leaf": 5})
    model.fit(panel, last_week(panel))

    def no_refit(*_args: object) -> None:
        msg = "the pyfunc model must keep the fitted trees, not refit"
        raise AssertionError(msg)

    model.fit = no_refit
    out = pl.from_pandas(ForecasterPyfunc(model, horizon=3).predict(None, panel_to_pandas(panel)))
    out = out.with_columns(pl.col("week").cast(pl.Date))
    # what `forecast predict` writes: the model's rows as one distribution each, to 2 decimals
    raw = model.predict(3, panel.select(SERIES).unique()).drop("model")
    expected, _ = coherent_forecasts(raw, decimals=2)
    joined = out.join(expected, on=[*SERIES, "week"], suffix="_model")
    assert joined.height == out.height == expected.height == 4 * 3 * 3
    assert (joined["mean"] - joined["mean_model"]).abs().max() == 0.0
    assert (joined["q90"] - joined["q90_model"]).abs().max() == 0.0
