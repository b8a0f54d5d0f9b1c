"""Benchmark: H&M-size transactions -> article × store × week panel -> origin features, Polars vs pandas.

Usage::

    python benchmarks/panel.py                 # 31.8M lines (the H&M original's volume)
    python benchmarks/panel.py --lines 2000000 # a quick smaller run

The synthetic transactions (`forecast.simulate.hm.write_hm`, H&M's CSV format) are generated once and cached
with a Parquet copy (``t_dat, article_id, price, sales_channel_id``) under ``--cache``. Both implementations
read that Parquet file. Each runs in its own subprocess, which reports its wall time and peak resident memory
(``getrusage(RUSAGE_SELF).ru_maxrss``):

- polars: scan -> `build_panel` (collected once) -> `forecast.features.origin_features` (the production
  engine with the default `FeaturesConfig`: level, lags, rolling means, zero share, year-on-year ratio,
  weeks since sale, age).
- pandas: a plain group-by implementation of the same panel (weekly sums, zero-fill inside each series' life,
  carried-forward price) and of the basic series features (lags, rolling mean/std/max/min, expanding mean).
  With ``--pandas-fraction F`` it runs on a fraction F of the articles (whole series, chosen by a hash of the
  article id) and its time is divided by F to extrapolate; the output says so.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HM_LINES = 31_788_324
HM_ARTICLES = 105_542
STORES = 12
WEEKS = 104
GIB = 1024**3


def _dataset_dir(cache: Path, lines: int, seed: int) -> Path:
    return cache / f"hm-{lines}-seed{seed}"


def prepare(cache: Path, lines: int, seed: int) -> Path:
    """Generate (once) the synthetic H&M transactions and their Parquet copy; return the Parquet path."""
    import polars as pl

    from forecast.simulate.hm import write_hm

    folder = _dataset_dir(cache, lines, seed)
    parquet = folder / "lines.parquet"
    if parquet.exists():
        return parquet
    articles = max(200, round(HM_ARTICLES * lines / HM_LINES))
    started = time.perf_counter()
    csv = folder / "transactions_train.csv"
    if not csv.exists():
        summary = write_hm(folder, articles, STORES, WEEKS, seed, target_lines=lines)
        print(
            f"generated {summary.lines:,} lines for {articles:,} articles "
            f"in {time.perf_counter() - started:.0f} s"
        )
    tmp = parquet.with_suffix(".parquet.tmp")
    overrides = {"t_dat": pl.Date, "article_id": pl.Utf8, "sales_channel_id": pl.Utf8}
    pl.scan_csv(csv, schema_overrides=overrides).select(
        "t_dat", "article_id", "price", "sales_channel_id"
    ).sink_parquet(tmp)
    tmp.replace(parquet)
    return parquet


def run_polars(parquet: Path) -> dict[str, float]:
    """Our pipeline; returns output size."""
    import polars as pl

    from forecast.config import FeaturesConfig
    from forecast.dataset import Dataset
    from forecast.features import FeatureSpec, origin_features
    from forecast.panel import build_panel

    sales = (
        pl.scan_parquet(parquet)
        .select(
            pl.col("t_dat").alias("date"),
            pl.col("sales_channel_id").alias("store_id"),
            pl.col("article_id").str.zfill(10).alias("article_id"),
            pl.lit(1.0).alias("units"),
            pl.col("price"),
        )
        .collect()
    )
    articles = pl.read_csv(
        parquet.parent / "articles.csv",
        columns=["article_id", "product_type_name"],
        schema_overrides={"article_id": pl.Utf8},
    )
    articles = articles.select("article_id", pl.col("product_type_name").alias("category"))
    ds = Dataset("bench", sales, articles, pl.DataFrame({"store_id": ["1", "2"]}), grain="transactions")
    del sales
    panel = build_panel(ds).collect(engine="streaming")
    features = origin_features(panel, FeatureSpec.from_config(FeaturesConfig()))
    return {"rows": features.height, "columns": features.width}


def run_pandas(parquet: Path, fraction: float) -> dict[str, float]:
    """Plain pandas group-by panel and basic features on a `fraction` of the articles."""
    import numpy as np
    import pandas as pd

    sales = pd.read_parquet(parquet)
    sales["article_id"] = sales["article_id"].astype(str).str.zfill(10)
    if fraction < 1:
        keep = (
            pd.util.hash_pandas_object(sales["article_id"], index=False).to_numpy() % 1000 < fraction * 1000
        )
        sales = sales[keep]
    day = pd.to_datetime(sales["t_dat"])
    sales = pd.DataFrame({
        "article_id": sales["article_id"].to_numpy(),
        "store_id": sales["sales_channel_id"].astype(str).to_numpy(),
        "week": (day - pd.to_timedelta(day.dt.weekday, unit="D")).to_numpy(),
        "units": 1.0,
        "revenue": sales["price"].to_numpy(),
    })  # fmt: skip
    weekly = sales.groupby(["article_id", "store_id", "week"], as_index=False)[["units", "revenue"]].sum()
    del sales
    life = weekly.groupby(["article_id", "store_id"])["week"].agg(["min", "max"]).reset_index()
    n_weeks = ((life["max"] - life["min"]).dt.days // 7 + 1).to_numpy()
    grid = pd.DataFrame({
        "article_id": np.repeat(life["article_id"].to_numpy(), n_weeks),
        "store_id": np.repeat(life["store_id"].to_numpy(), n_weeks),
        "week": np.repeat(life["min"].to_numpy(), n_weeks)
        + pd.to_timedelta(7 * (np.arange(n_weeks.sum()) - np.repeat(np.cumsum(n_weeks) - n_weeks, n_weeks)),
                          unit="D").to_numpy(),
    })  # fmt: skip
    panel = grid.merge(weekly, on=["article_id", "store_id", "week"], how="left")
    panel = panel.sort_values(["article_id", "store_id", "week"], ignore_index=True)
    panel["price"] = panel["revenue"] / panel["units"]
    panel["units"] = panel["units"].fillna(0.0)
    groups = panel.groupby(["article_id", "store_id"], sort=False)
    panel["price"] = groups["price"].ffill()
    units = groups["units"]
    for lag in (1, 2, 3, 4, 8, 52):
        panel[f"f_lag_{lag}"] = units.shift(lag - 1)
    for w in (4, 8, 13, 26):
        rolling = units.rolling(w, min_periods=1)
        panel[f"f_mean_{w}"] = rolling.mean().to_numpy()
        panel[f"f_std_{w}"] = units.rolling(w, min_periods=2).std().to_numpy()
        panel[f"f_max_{w}"] = rolling.max().to_numpy()
        panel[f"f_min_{w}"] = rolling.min().to_numpy()
    panel["f_mean_all"] = units.cumsum() / (groups.cumcount() + 1)
    return {"rows": len(panel), "columns": panel.shape[1]}


def child(args: argparse.Namespace) -> None:
    """Run one implementation and print a JSON line with seconds, peak RSS and output size."""
    started = time.perf_counter()
    parquet = Path(args.parquet)
    out = run_polars(parquet) if args.child == "polars" else run_pandas(parquet, args.pandas_fraction)
    seconds = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    peak = usage.ru_maxrss * 1024  # kilobytes on Linux
    cpu = usage.ru_utime + usage.ru_stime
    print(json.dumps({"seconds": seconds, "cpu_seconds": cpu, "peak_bytes": peak, **out}))


def measure(which: str, parquet: Path, fraction: float) -> dict[str, float]:
    """Run `which` in a fresh subprocess and read its report."""
    command = [sys.executable, __file__, "--child", which, "--parquet", str(parquet),
               "--pandas-fraction", str(fraction)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        msg = f"{which} run failed (exit {done.returncode}): {done.stderr.strip()[-2000:]}"
        raise RuntimeError(msg)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--lines", type=int, default=HM_LINES, help="transaction lines (default: H&M's 31.8M)"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "forecast-bench")
    parser.add_argument(
        "--pandas-fraction",
        type=float,
        default=1.0,
        help="share of articles pandas runs on; its time is extrapolated by 1/F",
    )
    parser.add_argument("--skip-pandas", action="store_true")
    parser.add_argument("--child", choices=["polars", "pandas"], help=argparse.SUPPRESS)
    parser.add_argument("--parquet", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    if not 0 < args.pandas_fraction <= 1:
        parser.error(f"--pandas-fraction must be in (0, 1], got {args.pandas_fraction!r}")
    parquet = prepare(args.cache, args.lines, args.seed)
    print(f"data: {parquet} ({args.lines:,} lines requested); cores: {os.cpu_count()}")
    ours = measure("polars", parquet, 1.0)
    print(
        f"polars: {ours['seconds']:.1f} s wall ({ours['cpu_seconds']:.1f} s CPU), peak "
          f"{ours['peak_bytes'] / GIB:.2f} GiB, {ours['rows']:,} rows x {ours['columns']} columns"
    )  # fmt: skip
    if args.skip_pandas:
        return
    theirs = measure("pandas", parquet, args.pandas_fraction)
    scaled = theirs["seconds"] / args.pandas_fraction
    scaled_cpu = theirs["cpu_seconds"] / args.pandas_fraction
    note = "" if args.pandas_fraction == 1 else (
        f" (ran on {args.pandas_fraction:.0%} of the articles in {theirs['seconds']:.1f} s; "
        "time extrapolated, "
        "peak memory as measured on that fraction)"
    )  # fmt: skip
    print(f"pandas: {scaled:.1f} s wall ({scaled_cpu:.1f} s CPU), peak {theirs['peak_bytes'] / GIB:.2f} GiB, "
          f"{theirs['rows']:,} rows x {theirs['columns']} columns{note}")  # fmt: skip
    print(f"speed-up polars vs pandas: {scaled / ours['seconds']:.1f}x wall, "
          f"{scaled_cpu / ours['cpu_seconds']:.1f}x CPU")  # fmt: skip


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main()
