"""`forecast buy PIPELINE`: how many units of each new article to order before its launch (`forecast.buy`),
written as buy_plan.csv and the first delivery's split over the stores as buy_allocation.csv."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import typer

from forecast import interrupts
from forecast.cli.common import DATA, OUT_DIR, PIPELINE, console
from forecast.cli.inputs import table
from forecast.errors import ConfigError
from forecast.io import check_output, publish_set, staging_dir, write_csv
from forecast.outputs import csv_precision

LEAD_WEEKS = typer.Option(
    None, "--lead-weeks", help="Weeks before each launch the buy is decided (default: buy.lead_weeks)."
)


def command(
    pipeline: Path = PIPELINE,
    data: Path | None = DATA,
    lead_weeks: int | None = LEAD_WEEKS,
    out: Path = OUT_DIR,
) -> None:
    """Order each new article's units to maximise its expected season profit; write buy_plan.csv."""
    from forecast.adapters import load_dataset
    from forecast.buy.config import BuyConfig
    from forecast.buy.plan import buy_plan
    from forecast.buy.report import buy_totals
    from forecast.config import load_pipeline
    from forecast.panel import build_panel, check_panel
    from forecast.validation import check_dataset

    if lead_weeks is not None and lead_weeks < 0:
        msg = f"--lead-weeks must be 0 or more weeks, got {lead_weeks}; fix: pass 0 or a positive number"
        raise ConfigError(msg)
    config = load_pipeline(pipeline, data=data)
    buy = dataclasses.replace(
        config.buy or BuyConfig(), **({} if lead_weeks is None else {"lead_weeks": lead_weeks})
    )
    config = dataclasses.replace(config, buy=buy)
    folder = check_output(out, folder=True)
    with console.status(f"{config.name}: loading data"):
        ds = load_dataset(config)
        check_dataset(ds)
        panel = check_panel(build_panel(ds).collect())
    with console.status(f"{config.name}: buying the new articles {buy.lead_weeks} weeks before launch"):
        result = buy_plan(ds, panel, config)
    frames = {"buy_plan.csv": result.plan, "buy_allocation.csv": result.allocation}
    with staging_dir(folder) as staging:
        files = {name: write_csv(csv_precision(frame), staging / name) for name, frame in frames.items()}
        with interrupts.held(), publish_set(folder, files):
            interrupts.check()
            interrupts.settle()
    totals = buy_totals(result.plan)
    shown = result.plan.sort("expected_profit", descending=True).select(
        "article_id", "launch_week", "order_week", "units", "season_q50", "expected_profit"
    )
    console.print(table(f"new articles (top of {result.plan.height} by expected profit)", shown))
    console.print(
        f"buy: {totals['units']:,.0f} units of {int(totals['articles'])} articles for "
        f"{totals.get('purchase_cost', 0.0):,.2f}, expected profit {totals['expected_profit']:,.2f} "
        f"(budget: {result.status}) -> {folder / 'buy_plan.csv'}",
        highlight=False,
    )
