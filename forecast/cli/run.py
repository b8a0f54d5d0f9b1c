"""`forecast run PIPELINE`: the main job, with progress on stderr and a closing summary."""

from __future__ import annotations

import time
from pathlib import Path

from rich.table import Table

from forecast.cli.allocate import plan_lines
from forecast.cli.common import (
    CLUSTER,
    DATA,
    DATA_SEED,
    HORIZON,
    OUT_DIR,
    PIPELINE,
    PRICES,
    SEED,
    TRACKING_URI,
    console,
)
from forecast.config import PipelineConfig

SUMMARY_METRICS = ("profit", "revenue", "lost_sales_cost", "holding_cost", "wape")


def command(
    pipeline: Path = PIPELINE,
    data: Path | None = DATA,
    out: Path = OUT_DIR,
    tracking_uri: str | None = TRACKING_URI,
    horizon: int | None = HORIZON,
    seed: int | None = SEED,
    data_seed: int | None = DATA_SEED,
    prices: Path | None = PRICES,
    cluster: str | None = CLUSTER,
) -> None:
    """Validate, build the panel, backtest, pick the champion, forecast, allocate, report, log to MLflow."""
    from forecast.config import load_pipeline

    config = load_pipeline(
        pipeline, data=data, horizon=horizon, seed=seed, data_seed=data_seed, cluster=cluster
    )
    config.data.prices_override = prices
    execute(config, out, tracking_uri)


def execute(config: PipelineConfig, out: Path, tracking_uri: str | None) -> None:
    """Run the job for `config`, showing each step, then print the summary (used by `run` and `demo`)."""
    from forecast.job import run_job

    started = time.perf_counter()

    with console.status(f"{config.name}: starting") as status:

        def progress(message: str) -> None:
            console.print(f"[{time.perf_counter() - started:6.1f}s] {message}", highlight=False, markup=False)
            status.update(f"{config.name}: {message}")

        result = run_job(config, out, tracking_uri=tracking_uri, progress=progress)
    table = Table(
        title=f"{config.name}: done in {result.seconds:.0f}s", title_justify="left", show_header=False
    )
    table.add_column("what")
    table.add_column("value", overflow="fold")
    table.add_row("champion", f"{result.champion} (objective: {result.objective})")
    for key in SUMMARY_METRICS:
        if key in result.champion_metrics:
            value = result.champion_metrics[key]
            shown = f"{100 * value:.1f}%" if key == "wape" else f"{value:,.2f}"
            table.add_row(f"  {key} per fold", shown)
    alloc = result.allocation
    table.add_row(
        "plan", f"{alloc.get('units', 0.0):,.0f} {result.target_unit} to {alloc.get('stores', 0)} stores"
    )
    if isinstance(alloc.get("expected_profit"), float):
        lines = plan_lines(
            alloc["expected_profit"], alloc.get("gap", float("nan")), alloc.get("rule_profits", {})
        )
        for label, text in lines:
            table.add_row(f"  {label}", text)
    for key, path in result.outputs.items():
        table.add_row(key, str(path))
    table.add_row("MLflow run", f"{result.run_id} ({result.tracking_uri})")
    if result.registration is not None:
        reg = result.registration
        table.add_row("model", f"models:/{reg.name}@{reg.alias} (version {reg.version})")
    for warning in result.warnings:
        table.add_row("warning", warning)
    console.print(table)
