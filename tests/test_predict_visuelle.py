"""`forecast predict` on VISUELLE products to launch: 12 rows per product from its own release week.

The folder is built from the real train.csv (never the published test split): its latest products are held
out as test.csv, without their sales columns.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import polars as pl

WEEKS = [str(i) for i in range(12)]


def held_out_folder(visuelle_dir: Path, folder: Path, products: int = 200, test: int = 30) -> pl.DataFrame:
    """train.csv, gtrends.csv and test.csv (the latest `test` of the latest `products`); returns the test."""
    train = pl.read_csv(visuelle_dir / "train.csv", infer_schema_length=10_000).with_columns(
        pl.col("release_date").str.to_date()
    )
    latest = train.sort("release_date", "external_code").tail(products)
    held = latest.tail(test)
    folder.mkdir(parents=True, exist_ok=True)
    latest.head(products - test).write_csv(folder / "train.csv")
    held.drop(WEEKS).write_csv(folder / "test.csv")
    shutil.copy(visuelle_dir / "gtrends.csv", folder / "gtrends.csv")
    return held


def test_products_to_launch_get_twelve_weeks_from_their_release(
    visuelle_dir: Path, repo_root: Path, tmp_path: Path
) -> None:
    held = held_out_folder(visuelle_dir, tmp_path / "data")
    out = tmp_path / "forecasts.csv"
    command = [sys.executable, "-m", "forecast", "predict", str(repo_root / "pipelines" / "visuelle.toml")]
    command += ["--data", str(tmp_path / "data"), "--horizon", "12", "--out", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    rows = pl.read_csv(out, try_parse_dates=True, schema_overrides={"article_id": pl.Utf8})
    cold = rows.filter(pl.col("model") == "cold_start")
    assert sorted(cold["article_id"].unique()) == sorted(held["external_code"].cast(pl.Utf8))
    per = cold.group_by("article_id").agg(
        pl.len().alias("n"), pl.col("horizon").sort().alias("h"), pl.col("week").min().alias("first")
    )
    assert per["n"].unique().to_list() == [12]
    assert all(h == list(range(1, 13)) for h in per["h"].to_list())
    release = held.select(pl.col("external_code").cast(pl.Utf8).alias("article_id"), "release_date")
    offsets = per.join(release, on="article_id").select(
        (pl.col("release_date") - pl.col("first")).dt.total_days()
    )
    # the first row is the week holding the release day (weeks are labelled by their Monday)
    assert offsets.to_series().is_between(0, 6).all()
    last = cold.group_by("article_id").agg(pl.col("week").max()).join(release, on="article_id")
    assert (last["week"] - last["release_date"] <= timedelta(weeks=11)).all()
