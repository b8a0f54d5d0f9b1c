"""`forecast replenish` in a subprocess: the plan's three files as one set; bad input writes nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import polars as pl
from test_replenish import instance


def _write(tmp_path: Path, **changes: pl.DataFrame) -> dict[str, Path]:
    frames = instance(7, articles=3, stores=2, weeks=4, quantiles=True, dc_units=10) | changes
    names = {
        "forecasts": "forecasts",
        "dc_stock": "dc-stock",
        "stores": "stores",
        "store_stock": "store-stock",
        "suppliers": "suppliers",
    }
    paths = {}
    for key, option in names.items():
        path = tmp_path / f"{key}.csv"
        frames[key].write_csv(path)
        paths[option] = path
    return paths


def _run(paths: dict[str, Path], out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    args = [sys.executable, "-m", "forecast", "replenish"]
    for option, path in paths.items():
        args += [f"--{option}", str(path)]
    return subprocess.run([*args, "--out", str(out), *extra], capture_output=True, text=True, check=False)


def test_replenish_writes_shipments_orders_and_summary(tmp_path):
    out = tmp_path / "plan"
    done = _run(_write(tmp_path), out, "--weeks", "4")
    assert done.returncode == 0, done.stderr
    shipments = pl.read_csv(out / "shipments.csv")
    orders = pl.read_csv(out / "orders.csv")
    summary = pl.read_csv(out / "replenishment_summary.csv")
    assert shipments.columns[:6] == ["store_id", "article_id", "ship_week", "arrive_week", "units", "packs"]
    assert orders.columns[:4] == ["article_id", "order_week", "arrive_week", "units"]
    assert "supplier_id" in orders.columns
    assert summary.height == 4
    assert summary["shipped_units"].sum() == shipments["units"].sum()
    assert "gap" in done.stderr


def test_infeasible_input_names_the_constraint_and_writes_nothing(tmp_path):
    frames = instance(7, articles=3, stores=2, weeks=4)
    full = frames["store_stock"].with_columns(pl.lit(900).alias("on_hand"))
    out = tmp_path / "plan"
    done = _run(_write(tmp_path, store_stock=full), out)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "store capacity" in lines[0]
    assert "'S0'" in lines[0]
    assert not out.exists() or not any(out.iterdir())
