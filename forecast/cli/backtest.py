"""`forecast backtest PIPELINE`: rolling-origin backtest of the pipeline's models -> leaderboard.csv."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import typer
from rich.table import Table

from forecast.cli.common import DATA, DATA_SEED, HORIZON, OUT_DIR, PIPELINE, PRICES, SEED, console
from forecast.config import PipelineConfig, load_pipeline

MODELS = typer.Option(
    None,
    "--models",
    help="Comma-separated models to backtest: the pipeline's [models.*] names or registered models, e.g. "
    "naive,lightgbm.",
)


def select_models(config: PipelineConfig, names: str | None) -> PipelineConfig:
    """The pipeline backtesting only `names`: the aliases of its ``[models.*]`` tables, or registered models
    (with their default parameters)."""
    if not names:
        return config
    from forecast.models import select

    return select(config, list(dict.fromkeys(n.strip() for n in names.split(",") if n.strip())))


def leaderboard_table(board: pl.DataFrame, title: str) -> Table:
    """The leaderboard as a rich table (money rounded to whole numbers, WAPE and coverage in percent, errors
    to 3 decimals)."""
    table = Table(title=title)
    for name in board.columns:
        table.add_column(name, justify="left" if name == "model" else "right")
    money = {"revenue", "lost_sales_units", "lost_sales_cost", "overstock_units", "holding_cost", "profit"}
    shares = {"wape", "coverage_80"}
    for row in board.iter_rows(named=True):
        cells = [
            str(v)
            if k == "model"
            else (f"{v:,.0f}" if k in money else f"{100 * v:.1f}%" if k in shares else f"{v:.3f}")
            for k, v in row.items()
        ]
        table.add_row(*cells)
    return table


def command(
    pipeline: Path = PIPELINE,
    data: Path | None = DATA,
    out: Path = OUT_DIR,
    horizon: int | None = HORIZON,
    seed: int | None = SEED,
    models: str | None = MODELS,
    data_seed: int | None = DATA_SEED,
    prices: Path | None = PRICES,
) -> None:
    """Backtest the pipeline's models on rolling origins; write leaderboard.csv into --out."""
    from forecast.adapters import load_dataset
    from forecast.backtest import run_backtest
    from forecast.io import check_output, write_csv
    from forecast.models import build_models, check_models
    from forecast.outputs import csv_precision
    from forecast.panel import build_panel

    check_output(out, folder=True, names=["leaderboard.csv"])
    config = select_models(
        load_pipeline(pipeline, data=data, horizon=horizon, seed=seed, data_seed=data_seed), models
    )
    check_models(config)
    config.data.prices_override = prices
    with console.status("loading data") as status:
        ds = load_dataset(config)
        status.update("building the panel")
        panel = build_panel(ds).collect()
        result = run_backtest(panel, build_models(config), config, ds, progress=status.update)
    path = write_csv(csv_precision(result.leaderboard), out / "leaderboard.csv")
    typer.echo(f"wrote {path}")
    table = leaderboard_table(result.leaderboard, f"{config.name}: champion {result.champion}")
    console.print(table, width=max(console.width, 200))
