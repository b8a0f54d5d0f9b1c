"""Business replay on the synthetic default: allocation policies and stocking policies against true demand.

    .venv/bin/python benchmarks/business.py [--weeks 8] [--models seasonal_naive,lightgbm] [--champion NAME]
        [--dc-share 0.75] [--dc-basis need|demand] [--cover 2] [--pipeline pipelines/demo.toml]

For each of the last `--weeks` weeks, each model is fitted on the weeks before and forecasts the week; the DC
stock of the week (``--dc-share`` of the true shortfall, see `forecast.replay`) is allocated by our optimiser,
the proportional rule and the weeks-of-cover rule, and the week's TRUE demand is met. Prints, per model and
policy: revenue, lost sales, leftover, profit (realised and expected; ``profit`` = (price − unit cost) ×
sales − holding − shipping, the money model of `forecast.business.profit`) and the ratios to the better
rule; then
the newsvendor stocking policy of each model against true demand (champion vs seasonal naive, lost share).

LightGBM is trained on horizon-1 rows only (the replay forecasts one week ahead) with one thread by default
(``--lgbm-threads``): on a shared machine two threads can be many times slower than one.
"""

from __future__ import annotations

import argparse
import time

import polars as pl
from rich.console import Console
from rich.table import Table

from forecast.adapters import load_dataset
from forecast.config import load_pipeline
from forecast.panel import build_panel
from forecast.replay import (
    ReplayResult,
    StockingResult,
    replay_allocation,
    replay_forecasts,
    replay_models,
    replay_stocking,
)


def _money(value: float) -> str:
    return f"{value:,.0f}"


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def allocation_table(result: ReplayResult, weeks: int) -> Table:
    """Per model: optimiser vs proportional vs cover, realised against true demand."""
    table = Table(title=f"allocation replay: {weeks} weeks, true demand met (money in EUR)")
    columns = (
        "model",
        "policy",
        "shipped",
        "revenue",
        "lost units",
        "lost share",
        "leftover",
        "holding",
        "profit",
        "profit from shipments",
        "expected profit",
        "profit / better rule",
        "shipments / better rule",
        "expected / better rule",
    )
    for col in columns:
        table.add_column(col, justify="left" if col in ("model", "policy") else "right")
    previous = None
    for row in result.summary.iter_rows(named=True):
        if previous is not None and row["model"] != previous:
            table.add_section()
        previous = row["model"]
        table.add_row(
            row["model"],
            row["policy"],
            f"{row['units_shipped']:,.0f}",
            _money(row["revenue"]),
            f"{row['lost_sales_units']:,.0f}",
            f"{100 * row['lost_share']:.1f}%",
            f"{row['leftover_units']:,.0f}",
            _money(row["holding_cost"]),
            _money(row["profit"]),
            _money(row["shipped_profit"]),
            _money(row["expected_profit"]),
            _ratio(row["profit_vs_best_rule"]),
            _ratio(row["shipped_vs_best_rule"]),
            _ratio(row["expected_vs_best_rule"]),
        )
    return table


def stocking_table(result: StockingResult) -> Table:
    """Per model: the newsvendor policy met with true demand, and with observed sales (as a backtest)."""
    table = Table(
        title="stocking replay: stock = forecast quantile at the critical fractile, true demand met"
    )
    columns = [
        "model",
        "stock",
        "sold",
        "revenue",
        "lost units",
        "lost share of true demand",
        "leftover",
        "holding",
        "profit",
        "profit on observed sales",
    ]
    for col in columns:
        table.add_column(col, justify="left" if col == "model" else "right")
    for row in result.summary.iter_rows(named=True):
        name = row["model"] + (" (champion)" if row["model"] == result.champion else "")
        table.add_row(
            name,
            f"{row['stock_units']:,.0f}",
            f"{row['sales_units']:,.0f}",
            _money(row["revenue"]),
            f"{row['lost_sales_units']:,.0f}",
            f"{100 * row['lost_share']:.1f}%",
            f"{row['leftover_units']:,.0f}",
            _money(row["holding_cost"]),
            _money(row["profit"]),
            _money(row["observed_profit"]),
        )
    return table


def _orderings(console: Console, result: ReplayResult) -> None:
    for model, rows in result.summary.group_by("model", maintain_order=True):
        ours = rows.filter(pl.col("policy") == "optimiser").row(0, named=True)
        expected_ok = (ours["expected_vs_best_rule"] or 0) >= 1.03
        realised_ok = (ours["profit_vs_best_rule"] or 0) >= 1.0
        console.print(
            f"{model[0]}: expected profit {_ratio(ours['expected_vs_best_rule'])} × the better rule "
            f"({'>= 1.03' if expected_ok else '< 1.03'}); realised {_ratio(ours['profit_vs_best_rule'])} × "
            f"({'same ordering' if realised_ok else 'ordering NOT confirmed'} against true demand)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pipeline", default="pipelines/demo.toml")
    parser.add_argument("--weeks", type=int, default=8)
    parser.add_argument("--models", default="seasonal_naive,lightgbm")
    parser.add_argument("--champion", default=None, help="default: best profit on observed sales")
    parser.add_argument("--dc-share", type=float, default=0.75)
    parser.add_argument("--dc-basis", choices=("need", "demand"), default="need")
    parser.add_argument("--cover", type=float, default=2.0, help="weeks of cover of the cover rule")
    parser.add_argument("--lgbm-threads", type=int, default=1)
    args = parser.parse_args()
    console = Console(width=200)
    config = load_pipeline(args.pipeline)
    ds = load_dataset(config)
    panel = build_panel(ds).collect()
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    models = replay_models(config, names, lightgbm_params={"num_threads": args.lgbm_threads})
    started = time.perf_counter()
    forecasts = replay_forecasts(ds, panel, models, config, weeks=args.weeks, progress=console.log)
    fitted = time.perf_counter() - started
    alloc = replay_allocation(
        ds,
        panel,
        models,
        config,
        weeks=args.weeks,
        forecasts=forecasts,
        dc_share=args.dc_share,
        dc_basis=args.dc_basis,
        cover=args.cover,
    )
    allocated = time.perf_counter() - started - fitted
    stocking = replay_stocking(ds, panel, models, config, forecasts=forecasts, champion=args.champion)
    console.print(
        f"{config.name}: {ds.articles.height} articles × {ds.stores.height} stores; "
        f"{args.weeks} weeks replayed; "
        f"DC = {args.dc_share:g} × true {args.dc_basis} per article; fits + forecasts {fitted:.0f}s, "
        f"allocations {allocated:.0f}s"
    )
    console.print(allocation_table(alloc, args.weeks))
    _orderings(console, alloc)
    console.print(stocking_table(stocking))
    cmp = stocking.comparison.row(0, named=True)
    console.print(
        f"stocking: champion {cmp['champion']} profit {_money(cmp['champion_profit'])} vs "
        f"{cmp['baseline']} {_money(cmp['baseline_profit'])} (ratio {_ratio(cmp['profit_ratio'])}); "
        f"lost share of true demand {100 * cmp['champion_lost_share']:.1f}% vs "
        f"{100 * cmp['baseline_lost_share']:.1f}%"
    )


if __name__ == "__main__":
    main()
