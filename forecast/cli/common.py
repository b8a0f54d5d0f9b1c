"""Options and helpers shared by the subcommands."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import typer
from rich.console import Console


@dataclass
class _State:
    debug: bool = False


state = _State()
# piped or captured output gets wide tables instead of columns cut to 80 characters
console = Console(stderr=True, width=None if sys.stderr.isatty() else 200)

PIPELINE = typer.Argument(..., help="Pipeline TOML file, e.g. pipelines/walmart.toml.")
DATA = typer.Option(None, "--data", help="Override the pipeline's data location.")
OUT_DIR = typer.Option(Path("out"), "--out", help="Folder the outputs are written to.")
HORIZON = typer.Option(None, "--horizon", min=1, help="Forecast horizon in weeks.")
SEED = typer.Option(
    None, "--seed", help="Model seed: `forecast.seed` of the pipeline (same seed, same outputs)."
)
DATA_SEED = typer.Option(
    None, "--data-seed", help="Seed of the simulated data: `simulate.seed` of the pipeline."
)
PRICES = typer.Option(
    None,
    "--prices",
    help="Prices CSV (article_id, store_id or ALL, week, price, optional promo 0/1): its weeks after the "
    "history replace the planned prices.",
)
TRACKING_URI = typer.Option(
    None, "--tracking-uri", help="MLflow tracking URI (default: MLFLOW_TRACKING_URI, else mlruns/mlflow.db)."
)
CLUSTER = typer.Option(
    None,
    "--cluster",
    help="Run on Dask: local or local:N (N worker processes here) or tcp://HOST:PORT (a running scheduler).",
)
