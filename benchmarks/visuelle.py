"""VISUELLE new-product benchmark: forecast the 12 weekly sales of products before they launch.

Holdouts of ``train.csv`` (products ordered by release date, then code; the model learns from the products
released before the first held-out one, as in the published split):

- ``block:N``: the 497 products after the first N. The default folds ``block:1003``, ``block:1253``,
  ``block:2253`` and ``block:3003`` are those where the mean-curve baseline scores about as it does on the
  published test (the latest blocks of 2019, after sales fell, are much harder for it);
- ``latest:497``: the 497 most recent products (release 2019-08-08 .. 2019-10-25);
- ``season:AW19`` (or any season): a whole season; earlier seasons train.

With ``--train PATH --test PATH`` the model learns from the whole train file and scores the test file (the
published ``test.csv`` has the columns of ``train.csv``). Prints WAPE = 100·Σ|y − ŷ|/Σy and MAE in units for
the mean curve, the median curve, a per-category mean curve, an attribute kNN and the cold-start model; the
cold-start point forecast scored is ``q50`` (the median, which minimises absolute error); ``mean`` (expected
units) is shown too, and the share of weekly sales inside its q10-q90 band, raw and calibrated
(`forecast.models.launch_calibration`). Rows ``q50_csv`` (calibrated band) and ``q50_csv_raw`` (raw band)
score the rows as ``forecasts.csv`` carries them, after `forecast.distribution.coherent_forecasts`: where the
mean is below what the quantiles can hold, every quantile (q50 too) is scaled down, and a wider band scales
more.

Usage::

    .venv/bin/python benchmarks/visuelle.py
    .venv/bin/python benchmarks/visuelle.py --holdout latest:497,season:AW19
    .venv/bin/python benchmarks/visuelle.py --train path/train.csv --test path/test.csv
    .venv/bin/python benchmarks/visuelle.py --params '{"quantile_num_boost_round": 300}'

``--params`` (JSON) overrides the cold-start model's `DEFAULT_PARAMS`, to compare settings on the same
holdouts.
"""

from __future__ import annotations

import argparse
import copy
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl

from forecast.adapters.visuelle import SCALE, WEEKS, load_visuelle
from forecast.config import DataConfig
from forecast.distribution import coherent_forecasts
from forecast.models.coldstart import ColdStartForecaster
from forecast.predict import UNIT_DECIMALS

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "visuelle"
CALIBRATED = "block:1003,block:1253,block:2253,block:3003"
DEFAULT_HOLDOUTS = f"{CALIBRATED},latest:497,season:AW19"
ATTRIBUTES = ["category", "color", "fabric", "extra", "season_type"]
MATCH = ["category", "color", "fabric", "extra"]
BLOCK = 497
Pred = dict[str, np.ndarray]
Score = tuple[float, float, float, float, float]  # WAPE, MAE, raw and calibrated q10-q90 cover, s


def _with_season_type(articles: pl.DataFrame) -> pl.DataFrame:
    # the season label carries its year, unseen for new products; its type (SS/AW) is reusable
    return articles.with_columns(pl.col("season").str.slice(0, 2).alias("season_type"))


def load(train: Path, test: Path | None, gtrends: Path) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Sales panel, catalogue (ordered by release) and trends via the VISUELLE adapter."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "train.csv").symlink_to(train.resolve())
        (folder / "gtrends.csv").symlink_to(gtrends.resolve())
        if test is not None:
            (folder / "test.csv").symlink_to(test.resolve())
        ds = load_visuelle(DataConfig(adapter="visuelle", path=folder))
    panel = ds.sales.select("article_id", "store_id", pl.col("date").alias("week"), "units")
    assert ds.trends is not None
    code = pl.col("article_id").cast(pl.Int64, strict=False)
    articles = _with_season_type(ds.articles).sort(pl.col("launch_date"), code, pl.col("article_id"))
    return panel, articles, ds.trends


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


def split(articles: pl.DataFrame, holdout: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Train and test products of a holdout; train = products released before the first test product."""
    kind, _, value = holdout.partition(":")
    known = articles.filter(~pl.col("is_future"))
    if kind == "block":
        test = known.slice(int(value), BLOCK)
    elif kind == "latest":
        test = known.tail(int(value))
    elif kind == "season":
        test = known.filter(pl.col("season") == value)
    else:
        msg = f"`--holdout` must be block:N, latest:N or season:NAME, got {holdout!r}"
        raise SystemExit(msg)
    if test.height == 0:
        msg = f"holdout {holdout!r} selects no product"
        raise SystemExit(msg)
    train = known.filter(pl.col("launch_date") < test["launch_date"].min())
    return train, test


def mean_curve(train_y: np.ndarray, train_a: pl.DataFrame, test_a: pl.DataFrame) -> Pred:  # noqa: ARG001
    return {"": np.repeat(train_y.mean(axis=0)[None, :], test_a.height, axis=0)}


def median_curve(train_y: np.ndarray, train_a: pl.DataFrame, test_a: pl.DataFrame) -> Pred:  # noqa: ARG001
    return {"": np.repeat(np.median(train_y, axis=0)[None, :], test_a.height, axis=0)}


def category_curve(train_y: np.ndarray, train_a: pl.DataFrame, test_a: pl.DataFrame) -> Pred:
    overall = train_y.mean(axis=0)
    cats = train_a["category"].to_numpy()
    table = {c: train_y[cats == c].mean(axis=0) for c in np.unique(cats) if (cats == c).sum() >= 10}
    return {"": np.stack([table.get(c, overall) for c in test_a["category"].to_list()])}


def attribute_knn(train_y: np.ndarray, train_a: pl.DataFrame, test_a: pl.DataFrame, k: int = 30) -> Pred:
    """Mean curve of the `k` training products sharing most attributes (ties: most recent first)."""
    recency = train_a["launch_date"].cast(pl.Int64).to_numpy().astype(float)
    recency = (recency - recency.min()) / max(1.0, recency.max() - recency.min())
    score = np.zeros((test_a.height, train_a.height))
    for col in MATCH:
        score += test_a[col].to_numpy()[:, None] == train_a[col].to_numpy()[None, :]
    top = np.argsort(-(score + 0.5 * recency[None, :]), axis=1, kind="stable")[:, :k]
    return {"": train_y[top].mean(axis=1)}


PARAMS: dict[str, object] = {}  # --params


def cold_start(
    panel: pl.DataFrame, articles: pl.DataFrame, trends: pl.DataFrame, test_a: pl.DataFrame
) -> Pred:
    """The cold-start model's median (q50, the scored point forecast) and mean forecasts, its raw q10/q90
    and the calibrated ones (`forecast.models.launch_calibration`: the same fit, offsets added); with suffix
    ``_csv``, the same after `coherent_forecasts`, as ``forecasts.csv`` carries them; ``mean_raw``: the raw
    model's mean (the calibrated model raises a mean its wider band cannot hold)."""
    model = ColdStartForecaster(
        [0.1, 0.5, 0.9], 42, attributes=ATTRIBUTES, params=PARAMS or None, calibrate=True
    )
    model.fit(panel, panel["week"].max(), articles=articles, trends=trends)  # type: ignore[arg-type]
    series = test_a.select(
        "article_id", pl.lit("ALL").alias("store_id"), pl.col("launch_date").alias("launch_week")
    )
    raw = copy.copy(model)
    raw.offsets_ = {}
    result = {}
    for suffix, fitted in (("", model), ("_raw", raw)):
        out = fitted.predict(12, series)
        csv, _ = coherent_forecasts(out, decimals=UNIT_DECIMALS)
        for frame, kind in ((out, ""), (csv, "_csv")):
            for column in ("q50", "mean", "q10", "q90"):
                wide = frame.pivot(on="horizon", index="article_id", values=column, sort_columns=True)
                ordered = test_a.select("article_id").join(
                    wide, on="article_id", how="left", maintain_order="left"
                )
                result[column + kind + suffix] = ordered.select([str(h) for h in range(1, 13)]).to_numpy()
    assert np.array_equal(result.pop("q50_raw"), result["q50"]), "calibration moved q50"
    # the model's mean already holds its quantiles (raised where they need it): as written, the same
    del result["mean_csv"], result["mean_csv_raw"]
    return result


def _band(truth: np.ndarray, preds: Pred, suffix: str) -> float:
    """Share of `truth` inside the q10-q90 band named by `suffix` (NaN without it); pops the band."""
    lo, hi = preds.pop(f"q10{suffix}", None), preds.pop(f"q90{suffix}", None)
    return float("nan") if lo is None or hi is None else float(((truth >= lo) & (truth <= hi)).mean())


def score(truth: np.ndarray, pred: np.ndarray) -> tuple[float, float]:
    return 100 * float(np.abs(truth - pred).sum() / truth.sum()), float(np.abs(truth - pred).mean())


def evaluate(
    panel: pl.DataFrame,
    catalogue: pl.DataFrame,
    trends: pl.DataFrame,
    split_ab: tuple[pl.DataFrame, pl.DataFrame],
    truth: np.ndarray,
) -> dict[str, Score]:
    """WAPE, MAE in units, raw and calibrated q10-q90 coverage (NaN: no quantiles) and seconds of each method
    on one split."""
    train_a, test_a = split_ab
    panel = panel.filter(pl.col("article_id").is_in(train_a["article_id"].implode()))
    train_y = curves(panel, catalogue, train_a["article_id"].to_list())
    runs: dict[str, Callable[[], Pred]] = {
        "mean_curve": lambda: mean_curve(train_y, train_a, test_a),
        "median_curve": lambda: median_curve(train_y, train_a, test_a),
        "category_curve": lambda: category_curve(train_y, train_a, test_a),
        "attribute_knn": lambda: attribute_knn(train_y, train_a, test_a),
        "cold_start": lambda: cold_start(panel, catalogue, trends, test_a),
    }
    scores = {}
    for name, run in runs.items():
        start = time.perf_counter()
        preds = run()
        seconds = time.perf_counter() - start
        bands = {suffix: _band(truth, preds, suffix) for suffix in ("", "_raw", "_csv", "_csv_raw")}
        nan = float("nan")
        for column, pred in preds.items():
            if column.endswith("_csv_raw"):  # forecasts.csv's q50 without calibration
                covers = (bands["_csv_raw"], nan)
            elif column.endswith("_csv"):
                covers = (nan, bands["_csv"])
            else:
                covers = (bands["_raw"], bands[""])
            scores[f"{name} ({column})" if column else name] = (*score(truth, pred), *covers, seconds)
    return scores


def show(title: str, scores: dict[str, Score]) -> None:
    print(title)
    print(f"{'model':<26}{'WAPE':>8}{'MAE units':>11}{'raw cover':>11}{'calibrated':>12}{'seconds':>9}")
    for label, (wape, mae, raw, inside, seconds) in scores.items():
        raw_cover = "" if np.isnan(raw) else f"{raw:.3f}"
        cover = "" if np.isnan(inside) else f"{inside:.3f}"
        print(f"{label:<26}{wape:>8.2f}{mae:>11.2f}{raw_cover:>11}{cover:>12}{seconds:>9.1f}")
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA, help="folder with train.csv and gtrends.csv")
    parser.add_argument("--train", type=Path, default=None, help="train file (default: DATA/train.csv)")
    parser.add_argument("--test", type=Path, default=None, help="test file scored after fitting on --train")
    parser.add_argument(
        "--holdout", default=DEFAULT_HOLDOUTS, help="comma-separated block:N, latest:N, season:X"
    )
    parser.add_argument(
        "--params", type=json.loads, default={}, help="JSON overrides of the cold-start params"
    )
    args = parser.parse_args()
    PARAMS.update(args.params)
    if PARAMS:
        print(f"cold-start params: {PARAMS}")
    train_file = args.train or args.data / "train.csv"
    panel, articles, trends = load(train_file, args.test, args.data / "gtrends.csv")
    if args.test is not None:
        test_a = articles.filter(pl.col("is_future"))
        train_a = articles.filter(~pl.col("is_future"))
        truth = truth_matrix(args.test, test_a["article_id"].to_list())
        title = (
            f"train: all of {train_file} ({train_a.height:,} products); test: {args.test} ({test_a.height:,})"
        )
        show(title, evaluate(panel, articles, trends, (train_a, test_a), truth))
        return
    calibrated: list[dict[str, Score]] = []
    for holdout in [h.strip() for h in args.holdout.split(",")]:
        train_a, test_a = split(articles, holdout)
        truth = curves(panel, articles, test_a["article_id"].to_list())
        scores = evaluate(panel, articles, trends, (train_a, test_a), truth)
        dates = f"{test_a['launch_date'].min()!s} .. {test_a['launch_date'].max()!s}"
        show(
            f"holdout {holdout}: test {test_a.height:,} products ({dates}); train {train_a.height:,}", scores
        )
        if holdout in CALIBRATED.split(","):
            calibrated.append(scores)
    if len(calibrated) > 1:
        mean = {
            k: tuple(float(np.mean([s[k][i] for s in calibrated])) for i in range(5)) for k in calibrated[0]
        }
        show(f"mean over the {len(calibrated)} calibrated blocks", mean)  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
