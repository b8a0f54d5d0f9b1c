"""`forecast replenish`: the multi-week plan as shipments.csv, orders.csv and replenishment_summary.csv."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import typer

from forecast.cli.common import console
from forecast.cli.inputs import read_inputs, relabelled, table, with_holding_cost
from forecast.config import ReplenishmentConfig, load_pipeline
from forecast.io import check_output
from forecast.replenish import ReplenishResult, replenish
from forecast.replenish.output import FILES, write_plan

FORECASTS = typer.Option(
    ..., "--forecasts", help="Forecasts CSV (article_id,store_id,week,mean,qNN[,price])."
)
DC_STOCK = typer.Option(..., "--dc-stock", help="DC stock CSV (available_units, pack_size, prices, salvage).")
STORES = typer.Option(..., "--stores", help="Stores CSV (store_id, capacity_units, ship_cost, lead_weeks).")
STORE_STOCK = typer.Option(..., "--store-stock", help="Store stock CSV (store_id, article_id, on_hand).")
IN_TRANSIT = typer.Option(None, "--in-transit", help="In-transit CSV (article_id, store_id|DC, arrive_week).")
SUPPLIERS = typer.Option(
    None, "--suppliers", help="Suppliers CSV (article_id, supplier_id, lead, MOQ, case)."
)
WEEKS = typer.Option(None, "--weeks", min=1, help="Weeks to plan (default: the pipeline's, else 8).")
PIPELINE_OPT = typer.Option(
    None, "--pipeline", help="Pipeline TOML whose replenishment section gives the defaults."
)
OUT = typer.Option(
    Path("out/replenish"), "--out", help="Folder for shipments.csv, orders.csv and the summary."
)


def _config(
    pipeline: Path | None, weeks: int | None, dc: pl.DataFrame
) -> tuple[ReplenishmentConfig, pl.DataFrame]:
    config = ReplenishmentConfig()
    if pipeline is not None:
        loaded = load_pipeline(pipeline, require_data=False)
        config = loaded.replenishment
        if config.holding_cost is None:
            dc = with_holding_cost(dc, loaded.business.holding_cost_ratio)
    if weeks is not None:
        config.weeks = weeks
    return config, dc


def _report(result: ReplenishResult, out: Path) -> None:
    for warning in result.warnings:
        console.print(f"[yellow]warning:[/] {warning}")
    console.print(
        table(
            "weekly summary",
            result.summary.select(
                "week",
                "shipped_units",
                "ordered_units",
                "dc_stock_end",
                "store_stock_units",
                "demand_mean",
                "expected_sales",
                "expected_profit",
            ),
        )
    )
    console.print(
        f"shipments: {result.shipments.height:,} rows, {int(result.shipments['units'].sum()):,} units; "
        f"orders: {result.orders.height:,} rows, {int(result.orders['units'].sum()):,} units -> {out}\n"
        f"expected profit {result.objective:,.2f} (nothing shipped or ordered: {result.baseline:,.2f}); "
        f"bound {result.bound:,.2f}; gap {100 * result.gap:.4f}% of the added profit; "
        f"{result.solve_seconds:.2f}s; {result.status} ({result.method})"
    )


def command(
    forecasts: Path = FORECASTS,
    dc_stock: Path = DC_STOCK,
    stores: Path = STORES,
    store_stock: Path = STORE_STOCK,
    in_transit: Path | None = IN_TRANSIT,
    suppliers: Path | None = SUPPLIERS,
    weeks: int | None = WEEKS,
    pipeline: Path | None = PIPELINE_OPT,
    out: Path = OUT,
) -> None:
    """Plan weekly DC → store shipments and supplier orders over several weeks, maximising expected profit."""
    files = {
        "forecasts": forecasts,
        "dc stock": dc_stock,
        "stores": stores,
        "store stock": store_stock,
        "in transit": in_transit,
        "suppliers": suppliers,
    }
    check_output(out, folder=True, names=FILES)
    frames = read_inputs(files)
    config, frames["dc stock"] = _config(pipeline, weeks, frames["dc stock"])
    with relabelled(files), console.status("optimising the replenishment plan"):
        result = replenish(
            frames["forecasts"],
            frames["dc stock"],
            frames["stores"],
            frames["store stock"],
            config,
            in_transit=frames.get("in transit"),
            suppliers=frames.get("suppliers"),
        )
    write_plan(result, out)
    _report(result, out)
