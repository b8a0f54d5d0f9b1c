"""Benchmark: the vectorised naive / seasonal naive / window average against statsforecast per series.

Usage::

    python benchmarks/baselines.py                      # 200,000 series of up to 104 weeks, 5,000 per series
    python benchmarks/baselines.py --series 50000 --sample 2000

The panel is built in memory like `forecast simulate --articles 4000 --stores 50`'s 200,000 article × store
series: lengths 1 to 104 weeks, Poisson units, a fifth of the series stopped selling up to 9 weeks before the
origin (zero-padded). Each method forecasts 12 weeks for every series on the vectorised path; the
per-series statsforecast path runs on the first `--sample` series (its time is extrapolated linearly) and the
two paths' forecasts of those series are compared (relative 1e-12).
"""

from __future__ import annotations

import argparse
import time
from datetime import date, timedelta

import numpy as np
import polars as pl

from forecast.models import baselines
from forecast.models.baselines import VECTORISED, StatsForecastModel

START = date(2022, 1, 3)


def panel_of(series: int, weeks: int, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    first = weeks - rng.integers(1, weeks + 1, series)
    stopped = rng.random(series) < 0.2
    ends = np.maximum(np.where(stopped, weeks - rng.integers(1, 10, series), weeks), first + 1)
    ids = np.repeat(np.arange(series), ends - first)
    week = np.concatenate([np.arange(a, b) for a, b in zip(first, ends, strict=True)])
    return pl.DataFrame(
        {
            "article_id": (ids // 50).astype(str),
            "store_id": (ids % 50).astype(str),
            "week": np.datetime64(START, "D") + 7 * week,
            "units": rng.poisson(1.5, ids.size).astype(float),
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=200_000)
    parser.add_argument("--weeks", type=int, default=104)
    parser.add_argument("--sample", type=int, default=5_000)
    parser.add_argument("--horizon", type=int, default=12)
    args = parser.parse_args()
    panel = panel_of(args.series, args.weeks)
    origin = START + timedelta(weeks=args.weeks - 1)
    series = panel.select("article_id", "store_id").unique(maintain_order=True)
    sample = series.head(args.sample)
    print(f"{panel.height:,} panel rows, {series.height:,} series, horizon {args.horizon}")
    StatsForecastModel("naive").fit(panel, origin).predict(1, series.head(10))  # imports statsforecast
    for method in VECTORISED:
        model = StatsForecastModel(method).fit(panel, origin)
        started = time.perf_counter()
        model.predict(args.horizon, series)
        vectorised = time.perf_counter() - started
        fast = model.predict(args.horizon, sample)
        baselines.VECTORISED = ()
        started = time.perf_counter()
        slow = model.predict(args.horizon, sample)
        per_series = time.perf_counter() - started
        baselines.VECTORISED = VECTORISED
        equal = all(
            np.allclose(fast[c].to_numpy(), slow[c].to_numpy(), rtol=1e-12, atol=0) for c in fast.columns[5:]
        )
        estimate = per_series * series.height / sample.height
        print(
            f"{method}: vectorised {vectorised:.1f} s for {series.height:,} series; per series"
            f" {per_series:.1f} s for {sample.height:,} (about {estimate:.0f} s for all,"
            f" {estimate / vectorised:.0f}x); equal: {equal}"
        )


if __name__ == "__main__":
    main()
