"""VISUELLE new-product benchmark: forecast the 12 weekly sales of products before they launch.

Default split: the products of the latest season(s) of ``train.csv`` (``--holdout``, default AW19) are the new
products; the model learns from the seasons before them (later seasons are left out). With ``--train PATH
--test PATH`` it learns from the whole train file and scores the test file (the published ``test.csv`` has the
columns of ``train.csv``). Prints WAPE = 100·Σ|y − ŷ|/Σy and MAE in units for a mean-curve baseline, a
per-category mean curve, an attribute kNN and the cold-start model, with seconds.

Usage::

    .venv/bin/python benchmarks/visuelle.py
    .venv/bin/python benchmarks/visuelle.py --holdout SS19
    .venv/bin/python benchmarks/visuelle.py --train path/train.csv --test path/test.csv
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl

from forecast.adapters.visuelle import SCALE, WEEKS, load_visuelle
from forecast.config import DataConfig
from forecast.models.coldstart import ColdStartForecaster

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "visuelle"
SEASONS = ["SS17", "AW17", "SS18", "AW18", "SS19", "AW19", "SS20", "AW20"]
ATTRIBUTES = ["category", "color", "fabric", "extra", "season_type"]
MATCH = ["category", "color", "fabric", "extra"]


def _with_season_type(articles: pl.DataFrame) -> pl.DataFrame:
    # the season label carries its year, unseen for new products; its type (SS/AW) is reusable
    return articles.with_columns(pl.col("season").str.slice(0, 2).alias("season_type"))


def load(train: Path, test: Path | None, gtrends: Path) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Sales panel, catalogue and trends via the VISUELLE adapter (a test file becomes future articles)."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "train.csv").symlink_to(train.resolve())
        (folder / "gtrends.csv").symlink_to(gtrends.resolve())
        if test is not None:
            (folder / "test.csv").symlink_to(test.resolve())
        ds = load_visuelle(DataConfig(adapter="visuelle", path=folder))
    panel = ds.sales.select("article_id", "store_id", pl.col("date").alias("week"), "units")
    assert ds.trends is not None
    return panel, _with_season_type(ds.articles), ds.trends


def truth_matrix(path: Path, ids: list[str]) -> np.ndarray:
    """Products × 12 weeks of units, in the order of `ids`, read straight from a product file."""
    raw = pl.read_csv(path, infer_schema_length=0).select(
        pl.col("external_code").alias("article_id"),
        *[(pl.col(w).cast(pl.Float64) * SCALE).round(0) for w in WEEKS],
    )
    ordered = pl.DataFrame({"article_id": ids}).join(raw, on="article_id", how="left", maintain_order="left")
    return ordered.select(WEEKS).to_numpy()


def curves(panel: pl.DataFrame, articles: pl.DataFrame, ids: list[str]) -> np.ndarray:
    """Products × 12 weeks from launch of the given articles."""
    launch = articles.select("article_id", "launch_date")
    long = panel.join(launch, on="article_id").with_columns(
        ((pl.col("week") - pl.col("launch_date")).dt.total_days() // 7).alias("h")
    )
    wide = long.pivot(on="h", index="article_id", values="units", sort_columns=True)
    ordered = pl.DataFrame({"article_id": ids}).join(wide, on="article_id", how="left", maintain_order="left")
    return ordered.select([str(i) for i in range(12)]).fill_null(0.0).to_numpy()


def mean_curve(train_y: np.ndarray, train_a: pl.DataFrame, test_a: pl.DataFrame) -> np.ndarray:  # noqa: ARG001
    return np.repeat(train_y.mean(axis=0)[None, :], test_a.height, axis=0)


def median_curve(train_y: np.ndarray, train_a: pl.DataFrame, test_a: pl.DataFrame) -> np.ndarray:  # noqa: ARG001
    return np.repeat(np.median(train_y, axis=0)[None, :], test_a.height, axis=0)


def category_curve(train_y: np.ndarray, train_a: pl.DataFrame, test_a: pl.DataFrame) -> np.ndarray:
    overall = train_y.mean(axis=0)
    cats = train_a["category"].to_numpy()
    table = {c: train_y[cats == c].mean(axis=0) for c in np.unique(cats) if (cats == c).sum() >= 10}
    return np.stack([table.get(c, overall) for c in test_a["category"].to_list()])


def attribute_knn(
    train_y: np.ndarray, train_a: pl.DataFrame, test_a: pl.DataFrame, k: int = 30
) -> np.ndarray:
    """Mean curve of the `k` training products sharing most attributes (ties: most recent first)."""
    recency = train_a["launch_date"].cast(pl.Int64).to_numpy().astype(float)
    recency = (recency - recency.min()) / max(1.0, recency.max() - recency.min())
    score = np.zeros((test_a.height, train_a.height))
    for col in MATCH:
        score += test_a[col].to_numpy()[:, None] == train_a[col].to_numpy()[None, :]
    top = np.argsort(-(score + 0.5 * recency[None, :]), axis=1, kind="stable")[:, :k]
    return train_y[top].mean(axis=1)


def cold_start(
    panel: pl.DataFrame, articles: pl.DataFrame, trends: pl.DataFrame, test_a: pl.DataFrame
) -> dict[str, np.ndarray]:
    """The cold-start model's mean and median (q50, the point that minimises absolute error) forecasts."""
    model = ColdStartForecaster([0.1, 0.5, 0.9], 42, articles, trends=trends, attributes=ATTRIBUTES)
    model.fit(panel, panel["week"].max())  # type: ignore[arg-type]
    series = test_a.select(
        "article_id", pl.lit("ALL").alias("store_id"), pl.col("launch_date").alias("launch_week")
    )
    out = model.predict(12, series)
    result = {}
    for column in ("q50", "mean"):
        wide = out.pivot(on="horizon", index="article_id", values=column, sort_columns=True)
        ordered = test_a.select("article_id").join(wide, on="article_id", how="left", maintain_order="left")
        result[column] = ordered.select([str(h) for h in range(1, 13)]).to_numpy()
    return result


def score(truth: np.ndarray, pred: np.ndarray) -> tuple[float, float]:
    return 100 * float(np.abs(truth - pred).sum() / truth.sum()), float(np.abs(truth - pred).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA, help="folder with train.csv and gtrends.csv")
    parser.add_argument("--train", type=Path, default=None, help="train file (default: DATA/train.csv)")
    parser.add_argument(
        "--test", type=Path, default=None, help="test file scored after fitting on all of --train"
    )
    parser.add_argument("--holdout", default="AW19", help="comma-separated seasons held out as new products")
    args = parser.parse_args()
    train_file = args.train or args.data / "train.csv"
    panel, articles, trends = load(train_file, args.test, args.data / "gtrends.csv")
    if args.test is not None:
        test_a = articles.filter(pl.col("is_future"))
        train_a = articles.filter(~pl.col("is_future"))
        truth = truth_matrix(args.test, test_a["article_id"].to_list())
        split = (
            f"train: all of {train_file} ({train_a.height:,} products); test: {args.test} ({test_a.height:,})"
        )
    else:
        held = [s.strip() for s in args.holdout.split(",")]
        first = min(SEASONS.index(s) for s in held)
        train_a = articles.filter(pl.col("season").is_in(SEASONS[:first]))
        test_a = articles.filter(pl.col("season").is_in(held))
        truth = curves(panel, articles, test_a["article_id"].to_list())
        panel = panel.filter(pl.col("article_id").is_in(train_a["article_id"].implode()))
        split = (
            f"train: {', '.join(SEASONS[:first])} ({train_a.height:,} products); "
            f"test: {', '.join(held)} ({test_a.height:,})"
        )
    train_y = curves(panel, articles, train_a["article_id"].to_list())
    catalogue = articles.filter(~pl.col("is_future")) if args.test is None else articles
    runs: dict[str, Callable[[], dict[str, np.ndarray]]] = {
        "mean_curve": lambda: {"": mean_curve(train_y, train_a, test_a)},
        "median_curve": lambda: {"": median_curve(train_y, train_a, test_a)},
        "category_curve": lambda: {"": category_curve(train_y, train_a, test_a)},
        "attribute_knn": lambda: {"": attribute_knn(train_y, train_a, test_a)},
        "cold_start": lambda: cold_start(panel, catalogue, trends, test_a),
    }
    print(split)
    print(f"{'model':<20}{'WAPE':>8}{'MAE units':>11}{'seconds':>9}")
    for name, run in runs.items():
        start = time.perf_counter()
        preds = run()
        seconds = time.perf_counter() - start
        for column, pred in preds.items():
            wape, mae = score(truth, pred)
            label = f"{name} ({column})" if column else name
            print(f"{label:<20}{wape:>8.2f}{mae:>11.2f}{seconds:>9.1f}")


if __name__ == "__main__":
    main()
