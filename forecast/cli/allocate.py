"""`forecast allocate`: DC stock -> stores, written as plan.csv plus store and article summaries beside it."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import typer

from forecast import interrupts
from forecast.allocation import AllocationResult, allocate
from forecast.cli.common import console
from forecast.cli.inputs import SHOWN_ROWS, read_inputs, read_table, relabelled, table, with_holding_cost
from forecast.config import AllocationConfig, load_pipeline
from forecast.errors import InputError
from forecast.io import check_output, publish_set, staging_dir, write_csv
from forecast.outputs import csv_precision

__all__ = ["command", "plan_lines", "read_table"]


def _config(pipeline: Path | None, dc: pl.DataFrame) -> tuple[AllocationConfig, pl.DataFrame]:
    """Allocation settings from the pipeline; holding cost falls back to holding_cost_ratio × price."""
    if pipeline is None:
        return AllocationConfig(), dc
    config = load_pipeline(pipeline, require_data=False)
    if config.allocation.holding_cost is None:
        dc = with_holding_cost(dc, config.business.holding_cost_ratio)
    return config.allocation, dc


def plan_lines(expected_profit: float, gap: float, rule_profits: dict[str, float]) -> list[tuple[str, str]]:
    """(label, text) lines shared by `forecast allocate` and the `forecast run` summary: the plan's total,
    its optimality gap and the rules' totals on the same demand."""
    from forecast.allocation.rules import RULE_LABELS

    lines = [("expected profit", f"{expected_profit:,.2f}"), ("optimality gap", f"{100 * gap:.3f}%")]
    if rule_profits:
        best = max(rule_profits, key=lambda k: rule_profits[k])
        rules = ", ".join(f"{RULE_LABELS.get(k, k)} {v:,.2f}" for k, v in rule_profits.items())
        diff = expected_profit - rule_profits[best]
        share = f" ({100 * diff / abs(rule_profits[best]):+.1f}%)" if rule_profits[best] else ""
        lines.append(("rules", f"{rules}; plan {diff:+,.2f}{share} vs {RULE_LABELS.get(best, best)}"))
    return lines


def _report(result: AllocationResult, out: Path) -> None:
    for warning in result.warnings:
        console.print(f"[yellow]warning:[/] {warning}")
    stores = result.store_summary.sort("expected_profit", descending=True).select(
        "store_id",
        "units",
        pl.col("capacity_used").alias("used"),
        pl.col("capacity_units").alias("capacity"),
        pl.col("expected_profit").alias("exp. profit"),
    )
    articles = result.article_summary.sort("units_sent", descending=True).select(
        "article_id",
        pl.col("units_sent").alias("sent"),
        pl.col("dc_available_units").alias("at DC"),
        pl.col("left_at_dc").alias("left"),
        "stores",
    )
    console.print(table(f"stores (top {SHOWN_ROWS} of {stores.height} by expected profit)", stores))
    console.print(table(f"articles (top {SHOWN_ROWS} of {articles.height} by units sent)", articles))
    units = int(result.plan["units"].sum()) if result.plan.height else 0
    console.print(f"plan: {result.plan.height:,} rows, {units:,} units -> {out}")
    for label, text in plan_lines(result.expected_profit, result.gap, result.rule_profits):
        console.print(f"{label}: {text}", highlight=False)
    console.print(
        f"solved in {result.solve_seconds:.2f}s: {result.status} ({result.method})", highlight=False
    )


FORECASTS = typer.Option(..., "--forecasts", help="Forecasts CSV (article_id,store_id,week,mean,qNN).")
DC_STOCK = typer.Option(..., "--dc-stock", help="DC stock CSV (available_units, pack_size, prices).")
STORES = typer.Option(..., "--stores", help="Stores CSV (store_id, capacity_units, ship_cost).")
STORE_STOCK = typer.Option(None, "--store-stock", help="Store stock CSV (on_hand).")
PIPELINE_OPT = typer.Option(None, "--pipeline", help="Pipeline TOML for allocation defaults.")
WEEK = typer.Option(None, "--week", help="Allocation week (default: first forecast week).")
PLAN_OUT = typer.Option(Path("plan.csv"), "--out", help="Plan CSV; summaries are written beside it.")


def command(
    forecasts: Path = FORECASTS,
    dc_stock: Path = DC_STOCK,
    stores: Path = STORES,
    store_stock: Path | None = STORE_STOCK,
    pipeline: Path | None = PIPELINE_OPT,
    week: str | None = WEEK,
    out: Path = PLAN_OUT,
) -> None:
    """Allocate DC stock to stores in whole packs, maximising expected profit; report the optimality gap."""
    check_output(out, folder=False, names=_summary_names(out))
    files = {"forecasts": forecasts, "dc stock": dc_stock, "stores": stores, "store stock": store_stock}
    frames = read_inputs(files)
    config, frames["dc stock"] = _config(pipeline, frames["dc stock"])
    try:
        when = date.fromisoformat(week) if week else None
    except ValueError as exc:
        msg = f"--week must be an ISO date like 2024-03-04, got {week!r}"
        raise InputError(msg) from exc
    with relabelled(files), console.status("optimising the allocation"):
        result = allocate(
            frames["forecasts"],
            frames["dc stock"],
            frames["stores"],
            frames.get("store stock"),
            config,
            week=when,
        )
    _write_set(result, out)
    _report(result, out)


def _summary_names(out: Path) -> tuple[str, str]:
    """The plan's two summaries, written beside it."""
    return f"{out.stem}_store_summary.csv", f"{out.stem}_article_summary.csv"


def _write_set(result: AllocationResult, out: Path) -> None:
    """plan.csv and its two summaries, published together (all three or none)."""
    if out.is_dir():
        msg = "--out is a folder; it names the plan CSV file"
        raise InputError(msg, file=str(out), fix="pass a file path like out/plan.csv")
    store_summary, article_summary = _summary_names(out)
    frames = {
        out.name: csv_precision(result.plan),
        store_summary: csv_precision(result.store_summary),
        article_summary: csv_precision(result.article_summary),
    }
    with staging_dir(out) as staging:
        files = {name: write_csv(frame, staging / name) for name, frame in frames.items()}
        with interrupts.held(), publish_set(out.parent, files):
            interrupts.check()
            interrupts.settle()
