"""`forecast backtest` and `forecast predict` run as real commands on a small simulated pipeline."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from forecast.backtest import LEADERBOARD_COLUMNS, TRUE_COLUMNS
from forecast.models.base import FORECAST_COLUMNS

PIPELINE = """
name = "tiny"
[simulate]
articles = 30
stores = 3
weeks = 40
seed = 3
[forecast]
horizon = 4
[backtest]
folds = 2
step = 2
[models]
cold_start = false
[models.naive]
[models.window_average]
[models.tsb]
"""


def forecast_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "forecast", *args], capture_output=True, text=True, cwd=cwd, check=False
    )


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("pipe") / "tiny.toml"
    path.write_text(PIPELINE, encoding="utf-8")
    return path


@pytest.mark.slow
def test_backtest_writes_leaderboard(pipeline: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = forecast_cli(
        "backtest",
        str(pipeline),
        "--out",
        str(out),
        "--horizon",
        "2",
        "--models",
        "naive,window_average",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    board = pl.read_csv(out / "leaderboard.csv")
    assert board.columns == [*LEADERBOARD_COLUMNS, *TRUE_COLUMNS]
    # simulated data: the oracle (expected demand) is scored beside the models
    assert sorted(board["model"]) == ["naive", "oracle", "window_average"]
    assert board["profit"].is_sorted(descending=True)
    assert "champion" in result.stderr
    assert not list(out.glob(".*.tmp"))


@pytest.mark.slow
def test_predict_writes_sorted_forecasts(pipeline: Path, tmp_path: Path) -> None:
    target = tmp_path / "forecasts.csv"
    result = forecast_cli(
        "predict",
        str(pipeline),
        "--out",
        str(target),
        "--horizon",
        "3",
        "--model",
        "tsb",
        "--seed",
        "1",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    frame = pl.read_csv(target, try_parse_dates=True)
    assert frame.columns == [*FORECAST_COLUMNS, "price"]
    assert frame.height > 0
    assert frame["model"].unique().to_list() == ["tsb"]
    assert f"{frame.height:,} rows (tsb {frame.height:,})" in result.stdout
    assert sorted(frame["horizon"].unique()) == [1, 2, 3]
    assert frame.rows() == frame.sort("article_id", "store_id", "week").rows()
    assert ((frame["q10"] <= frame["q50"]) & (frame["q50"] <= frame["q90"])).all()


def test_unknown_model_is_a_one_line_error(pipeline: Path, tmp_path: Path) -> None:
    result = forecast_cli(
        "backtest", str(pipeline), "--out", str(tmp_path), "--models", "prophet", cwd=tmp_path
    )
    assert result.returncode == 1
    assert result.stderr.strip().startswith("error:")
    assert "'prophet'" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_pipeline_is_a_one_line_error(tmp_path: Path) -> None:
    result = forecast_cli(
        "predict", str(tmp_path / "nope.toml"), "--out", str(tmp_path / "f.csv"), cwd=tmp_path
    )
    assert result.returncode == 1
    assert "pipeline file not found" in result.stderr
    assert not (tmp_path / "f.csv").exists()
