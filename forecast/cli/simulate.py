"""`forecast simulate`: write a synthetic fashion retailer with known true demand."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer

from forecast import interrupts
from forecast.cli.common import OUT_DIR, console
from forecast.config import SimulateConfig
from forecast.config_checks import check_seed
from forecast.io import check_output, publish_set, staging_dir

_DEFAULTS = SimulateConfig()


class Format(StrEnum):
    canonical = "canonical"
    hm = "hm"


ARTICLES = typer.Option(_DEFAULTS.articles, "--articles", min=1, help="Number of articles.")
STORES = typer.Option(_DEFAULTS.stores, "--stores", min=1, help="Number of stores.")
WEEKS = typer.Option(_DEFAULTS.weeks, "--weeks", min=1, help="Number of weeks of sales.")
SIM_SEED = typer.Option(_DEFAULTS.seed, "--seed", help="Random seed (same seed, same files).")
FORMAT = typer.Option(
    Format.canonical,
    "--format",
    help="canonical: sales/articles/stores/stock/dc_stock/prices CSVs, and the ground truth "
    "true_demand.csv and true_price_response.csv; "
    "hm: H&M Kaggle transactions_train.csv + articles.csv (streamed, any size).",
)


def command(
    out: Path = OUT_DIR,
    articles: int = ARTICLES,
    stores: int = STORES,
    weeks: int = WEEKS,
    seed: int = SIM_SEED,
    fmt: Format = FORMAT,
) -> None:
    """Write a synthetic dataset (collections, life cycles, markdowns, stockouts, returns, cold starts)."""
    check_output(out, folder=True)
    check_seed(seed, "--seed")
    # every file lands in a staging folder first and they move into --out together (all or none)
    if fmt is Format.hm:
        with staging_dir(out) as staging:
            _write_hm(staging, articles, stores, weeks, seed)
            _publish(staging, out)
        return
    from forecast.simulate import simulate_dataset, true_price_response, write_canonical

    cfg = SimulateConfig(articles=articles, stores=stores, weeks=weeks, seed=seed)
    with console.status("simulating"), staging_dir(out) as staging:
        ds = simulate_dataset(cfg)
        written = write_canonical(ds, staging, true_price_response(cfg))
        _publish(staging, out)
    console.print(
        f"wrote {len(written)} files to {out}: {ds.sales.height:,} sales rows, "
        f"{ds.articles.height:,} articles, {ds.stores.height:,} stores"
    )


def _publish(staging: Path, out: Path) -> None:
    files = {path.name: path for path in sorted(staging.iterdir()) if path.is_file()}
    with interrupts.held(), publish_set(out, files):
        interrupts.check()
        interrupts.settle()


def _write_hm(out: Path, articles: int, stores: int, weeks: int, seed: int) -> None:
    from rich.progress import Progress

    from forecast.simulate import write_hm

    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("writing H&M transactions", total=weeks)
        summary = write_hm(
            out, articles, stores, weeks, seed, progress=lambda done, _: bar.update(task, completed=done)
        )
    console.print(
        f"wrote {summary.transactions_path.name} ({summary.lines:,} lines, {summary.customers:,} "
        f"customers) and {summary.articles_path.name} ({summary.articles:,} articles)"
    )
