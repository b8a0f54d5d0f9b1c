"""`forecast simulate` in a subprocess, and the demo pipeline that uses the simulator."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import polars as pl
from typer.testing import CliRunner

from forecast.adapters import load_dataset
from forecast.cli import app
from forecast.config import load_pipeline
from forecast.simulate.hm import ARTICLE_COLUMNS, TRANSACTION_COLUMNS

CANONICAL = {"sales.csv", "articles.csv", "stores.csv", "stock.csv", "dc_stock.csv", "true_demand.csv",
             "prices.csv", "true_price_response.csv"}  # fmt: skip


def _simulate(out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "forecast", "simulate", "--out", str(out), *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_simulate_writes_identical_canonical_files_for_the_same_seed(tmp_path: Path) -> None:
    size = ["--articles", "40", "--stores", "3", "--weeks", "30"]
    first = _simulate(tmp_path / "a", *size, "--seed", "5")
    assert first.returncode == 0, first.stderr
    # the second run in-process: same command, same bytes, without paying another interpreter start
    second = CliRunner().invoke(app, ["simulate", "--out", str(tmp_path / "b"), *size, "--seed", "5"])
    assert second.exit_code == 0, second.output
    assert {p.name for p in (tmp_path / "a").iterdir()} == CANONICAL
    for name in CANONICAL:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    stores = pl.read_csv(tmp_path / "a" / "stores.csv")
    assert stores.height == 3
    assert pl.read_csv(tmp_path / "a" / "articles.csv").height == 40
    assert "wrote 8 files" in first.stderr


def test_simulate_hm_format_writes_the_hm_schema(tmp_path: Path) -> None:
    result = _simulate(tmp_path, "--format", "hm", "--articles", "60", "--weeks", "4", "--seed", "1")
    assert result.returncode == 0, result.stderr
    with (tmp_path / "transactions_train.csv").open() as handle:
        assert handle.readline().strip() == ",".join(TRANSACTION_COLUMNS)
        assert handle.readline().count(",") == 4
    with (tmp_path / "articles.csv").open() as handle:
        assert handle.readline().strip() == ",".join(ARTICLE_COLUMNS)
    assert len(ARTICLE_COLUMNS) == 25


def test_simulate_rejects_bad_options(tmp_path: Path) -> None:
    result = _simulate(tmp_path, "--articles", "0")
    assert result.returncode != 0
    assert "error" in result.stderr.lower() or "invalid" in result.stderr.lower()
    assert "Traceback" not in result.stderr
    assert not tmp_path.exists() or not any(tmp_path.iterdir())


def test_demo_pipeline_loads_and_simulates(repo_root: Path) -> None:
    config = load_pipeline(repo_root / "pipelines" / "demo.toml")
    assert config.name == "demo"
    assert config.data.adapter == "simulate"
    assert config.data.path is None
    assert config.forecast.horizon == 8
    assert (config.backtest.folds, config.backtest.step) == (3, 4)
    assert (config.simulate.articles, config.simulate.stores, config.simulate.weeks) == (240, 12, 104)
    assert config.simulate.start.weekday() == 0
    ds = load_dataset(config)
    assert ds.articles.height == 240
    assert ds.true_demand is not None
    reseeded = load_pipeline(repo_root / "pipelines" / "demo.toml", seed=8)
    # the model seed only
    assert (reseeded.forecast.seed, reseeded.simulate.seed) == (8, config.simulate.seed)
    assert load_pipeline(repo_root / "pipelines" / "demo.toml", data_seed=8).simulate.seed == 8
