"""VISUELLE through `forecast predict`: the cold start's rows as `forecasts.csv` carries them, scored.

Usage::

    .venv/bin/python benchmarks/visuelle_predict.py [--data ../shared/data/visuelle] [--test 497]

Builds a folder from the real ``train.csv`` only (never the published test split): its latest ``--test``
products (ordered by release date, then code) become a ``test.csv`` without their sales columns, the rest
stay in ``train.csv``, and ``gtrends.csv`` is copied. Then runs ``forecast predict pipelines/visuelle.toml
--data FOLDER --horizon 12`` in a subprocess, as a user would, and scores the held-out products' rows of
``forecasts.csv`` against their real weekly sales (×1065, whole units): WAPE = 100·Σ|y − ŷ|/Σy of ``q50``
and of ``mean``, and the share of weekly sales inside the q10-q90 band. ``benchmarks/visuelle.py
--holdout latest:497`` scores the same products from the model directly.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parents[1]
WEEKS = [str(i) for i in range(12)]
UNITS = 1065


def held_out_folder(visuelle: Path, folder: Path, test: int) -> pl.DataFrame:
    """Write train.csv (all but the latest `test` products), test.csv (those, without sales), gtrends.csv."""
    train = pl.read_csv(visuelle / "train.csv", infer_schema_length=10_000).with_columns(
        pl.col("release_date").str.to_date()
    )
    ordered = train.sort("release_date", "external_code")
    held = ordered.tail(test)
    folder.mkdir(parents=True, exist_ok=True)
    ordered.head(ordered.height - test).write_csv(folder / "train.csv")
    held.drop(WEEKS).write_csv(folder / "test.csv")
    shutil.copy(visuelle / "gtrends.csv", folder / "gtrends.csv")
    return held


def truth(held: pl.DataFrame) -> pl.DataFrame:
    """Weekly units of the held-out products: article_id, horizon (1 = launch week), units."""
    long = held.select(pl.col("external_code").cast(pl.Utf8).alias("article_id"), *WEEKS).unpivot(
        index="article_id", variable_name="week_index", value_name="scaled"
    )
    return long.select(
        "article_id",
        (pl.col("week_index").cast(pl.Int64) + 1).alias("horizon"),
        (pl.col("scaled") * UNITS).round(0).alias("units"),
    )


def score(forecasts: pl.DataFrame, actual: pl.DataFrame) -> dict[str, float]:
    """WAPE (%) of q50 and mean, and q10-q90 coverage (%), over the held-out products' weeks."""
    rows = actual.join(forecasts, on=["article_id", "horizon"], how="left").with_columns(
        pl.col("mean", "q10", "q50", "q90").fill_null(0.0)
    )
    total = rows["units"].sum()
    inside = rows.filter((pl.col("units") >= pl.col("q10")) & (pl.col("units") <= pl.col("q90"))).height
    return {
        "products": float(actual["article_id"].n_unique()),
        "wape_q50": 100 * (rows["units"] - rows["q50"]).abs().sum() / total,
        "wape_mean": 100 * (rows["units"] - rows["mean"]).abs().sum() / total,
        "coverage_q10_q90": 100 * inside / rows.height,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "visuelle")
    parser.add_argument("--test", type=int, default=497)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder, out = Path(tmp) / "data", Path(tmp) / "forecasts.csv"
        held = held_out_folder(args.data, folder, args.test)
        command = [sys.executable, "-m", "forecast", "predict", str(ROOT / "pipelines" / "visuelle.toml")]
        command += ["--data", str(folder), "--horizon", "12", "--out", str(out)]
        subprocess.run(command, check=True)
        rows = pl.read_csv(out, schema_overrides={"article_id": pl.Utf8})
    cold = rows.filter(pl.col("model") == "cold_start")
    for name, value in score(cold, truth(held)).items():
        print(f"{name:>18} {value:8.1f}")


if __name__ == "__main__":
    main()
