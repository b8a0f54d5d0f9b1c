"""Writing a replenishment plan: shipments.csv, orders.csv and replenishment_summary.csv as one set."""

from __future__ import annotations

from pathlib import Path

from forecast import interrupts
from forecast.io import publish_set, staging_dir, write_csv
from forecast.outputs import csv_precision
from forecast.replenish.results import ReplenishResult

FILES = ("shipments.csv", "orders.csv", "replenishment_summary.csv")


def write_plan(result: ReplenishResult, out_dir: str | Path) -> dict[str, Path]:
    """Write the three files (money to cents, units to 2 decimals) into `out_dir` all or none:
    staged beside it, then published as one set
    (`forecast.io.publish_set`: the files they replace are put back if the set does not land whole)."""
    out = Path(out_dir)
    frames = dict(zip(("shipments", "orders", "summary"), FILES, strict=True))
    tables = {"shipments": result.shipments, "orders": result.orders, "summary": result.summary}
    with staging_dir(out) as staging:
        staged = {key: write_csv(csv_precision(tables[key]), staging / name) for key, name in frames.items()}
        with interrupts.held(), publish_set(out, staged) as published:
            interrupts.check()
            interrupts.settle()
    return published
