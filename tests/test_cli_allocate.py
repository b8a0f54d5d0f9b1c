"""`forecast allocate` in a subprocess: the happy path writes plan and summaries; bad input writes nothing."""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from pathlib import Path

import polars as pl
import pytest


def _write(tmp_path: Path, **changes: pl.DataFrame) -> dict[str, Path]:
    frames = {
        "forecasts": pl.DataFrame(
            {
                "article_id": ["A1", "A1", "A2", "A2"],
                "store_id": ["S1", "S2", "S1", "S2"],
                "week": [date(2024, 3, 4)] * 4,
                "horizon": 1,
                "model": "lgbm",
                "mean": [4.0, 2.0, 3.0, 6.0],
                "q10": [1.0, 0.0, 1.0, 2.0],
                "q50": [4.0, 2.0, 3.0, 6.0],
                "q90": [8.0, 4.0, 6.0, 10.0],
            }
        ),
        "dc": pl.DataFrame(
            {
                "article_id": ["A1", "A2"],
                "available_units": [8, 9],
                "pack_size": [2, 3],
                "unit_cost": [5.0, 8.0],
                "price": [12.0, 20.0],
            }
        ),
        "stores": pl.DataFrame(
            {"store_id": ["S1", "S2"], "capacity_units": [10, 12], "ship_cost": [0.5, 0.8]}
        ),
        "stock": pl.DataFrame({"store_id": ["S1", "S2"], "article_id": ["A1", "A2"], "on_hand": [1, 2]}),
    }
    frames.update(changes)
    paths = {}
    for name, frame in frames.items():
        paths[name] = tmp_path / f"{name}.csv"
        frame.write_csv(paths[name])
    return paths


def _run(paths: dict[str, Path], out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    args = [
        sys.executable, "-m", "forecast", "allocate",
        "--forecasts", str(paths["forecasts"]), "--dc-stock", str(paths["dc"]),
        "--stores", str(paths["stores"]), "--store-stock", str(paths["stock"]), "--out", str(out), *extra,
    ]  # fmt: skip
    return subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)


def test_allocate_writes_plan_and_summaries(tmp_path):
    paths = _write(tmp_path)
    pipeline = tmp_path / "p.toml"
    pipeline.write_text(
        'name = "t"\n[allocation]\npresentation_min = 2\n[business]\nholding_cost_ratio = 0.2\n'
    )
    out = tmp_path / "out" / "plan.csv"
    proc = _run(paths, out, "--pipeline", str(pipeline))
    assert proc.returncode == 0, proc.stderr
    plan = pl.read_csv(out)
    assert plan.columns == [
        "store_id", "article_id", "week", "units", "packs", "on_hand_before",
        "demand_mean", "expected_sales", "expected_leftover", "price", "unit_cost", "holding_cost",
        "ship_cost", "expected_profit",
    ]  # fmt: skip
    assert plan.height > 0
    shipped = plan.filter(pl.col("units") > 0)
    assert (shipped["on_hand_before"] + shipped["units"] >= 2).all()
    # the printed total is the sum of the plan's rows, to the cent
    assert f"expected profit: {plan['expected_profit'].sum():,.2f}" in proc.stderr
    assert "2 weeks of cover" in proc.stderr
    assert (out.parent / "plan_store_summary.csv").exists()
    assert (out.parent / "plan_article_summary.csv").exists()
    assert "gap" in proc.stderr


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"dc": pl.DataFrame({"article_id": ["A1", "A2"], "available_units": [8, 9], "pack_size": [0, 3],
                              "unit_cost": [5.0, 8.0], "price": [12.0, 20.0]})}, "pack_size"),
        ({"stock": pl.DataFrame({"store_id": ["S1"], "article_id": ["A1"], "on_hand": [-1]})}, "on_hand"),
        ({"stock": pl.DataFrame({"store_id": ["S1"], "article_id": ["A1"], "on_hand": [11]})}, "capacity"),
        ({"stores": pl.DataFrame({"store_id": ["S1"], "capacity_units": [10]})}, "'S2'"),
        ({"stores": pl.DataFrame({"store_id": ["S1", "S2"], "capacity": [10, 12]})}, "capacity_units"),
    ],
)  # fmt: skip
def test_bad_input_leaves_no_plan(tmp_path, changes, words):
    paths = _write(tmp_path, **changes)
    out = tmp_path / "plan.csv"
    proc = _run(paths, out)
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: ")
    assert words in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not out.exists()
    assert not list(tmp_path.glob("*summary*"))


def test_missing_file_and_presentation_minimum(tmp_path):
    paths = _write(tmp_path)
    paths["forecasts"] = tmp_path / "absent.csv"
    out = tmp_path / "plan.csv"
    proc = _run(paths, out)
    assert proc.returncode == 1
    assert "absent.csv" in proc.stderr
    paths = _write(tmp_path)
    pipeline = tmp_path / "p.toml"
    pipeline.write_text('name = "t"\n[allocation]\npresentation_min = 11\n')
    proc = _run(paths, out, "--pipeline", str(pipeline))
    assert proc.returncode == 1
    assert "presentation minimum" in proc.stderr
    assert not out.exists()
