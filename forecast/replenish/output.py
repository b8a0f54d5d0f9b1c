"""Writing a replenishment plan: shipments.csv, orders.csv and replenishment_summary.csv as one set."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from forecast.io import write_csv
from forecast.replenish.results import ReplenishResult

FILES = ("shipments.csv", "orders.csv", "replenishment_summary.csv")


def write_plan(result: ReplenishResult, out_dir: str | Path) -> dict[str, Path]:
    """Write the three files into `out_dir` all or none: staged beside it, then moved in by renames."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".replenish.staging.", dir=out))
    try:
        staged = {
            "shipments": write_csv(result.shipments, staging / FILES[0]),
            "orders": write_csv(result.orders, staging / FILES[1]),
            "summary": write_csv(result.summary, staging / FILES[2]),
        }
        published = {}
        for key, path in staged.items():
            target = out / path.name
            path.replace(target)
            published[key] = target
        return published
    finally:
        shutil.rmtree(staging, ignore_errors=True)
