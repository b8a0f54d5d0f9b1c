"""Walmart store × department benchmark: our models against statsforecast, mlforecast and stlf.svd.

Run: ``.venv/bin/python benchmarks/walmart.py [--data ../shared/data/walmart] [--folds 26w,holidays]
[--models ...] [--cache /tmp/walmart-bench]``.

Two folds, each fitted on the history up to the origin and scored on the weeks after it:
- 26 weeks: history to 2012-04-27, forecast 2012-05-04 .. 2012-10-26;
- holidays: history to 2011-10-28, forecast 13 weeks to 2012-01-27 (Thanksgiving and Christmas);
- val (only with ``--folds val``): history to 2012-01-27, forecast 13 weeks to 2012-04-27, all before the
  26-week fold's weeks: the fold to choose settings on (the first with the two seasons MSTL needs).

The panel is zero-filled inside each series' life. Every series with history is forecast for every week of
the fold; a week without a sales row counts as zero sales (so a series that closed counts too).
WMAE = Σ w·|y − ŷ| / Σ w with w = 5 on holiday weeks, else 1; WAPE = Σ|y − ŷ| / Σ|y|.

Ours are the models `forecast predict pipelines/walmart.toml --horizon H` fits (its seed, features and
LightGBM settings): LightGBM alone and the pipeline's model, LightGBM + stlf.svd (``lightgbm_svd``).

Peers: statsforecast's seasonal naive, mlforecast's LightGBM with its usual lags, and stlf.svd, the best
single model of the Kaggle 2014 winner (David Thaler) reproduced with `forecast.models.svd_stl`: per
department the weeks × stores matrix is denoised by a rank-12 SVD, each store's series is forecast by
statsforecast ``MSTL(season_length=52, trend_forecaster=AutoETS(model="ZZN"))`` (the holiday fold's 91 weeks
are too short for STL: there the denoised seasonal naive), and the pre-Christmas weeks are shifted by the
weekday difference of Christmas between the forecast year and the years copied. With ``--cache DIR`` each
model's forecasts of a fold are kept in DIR as Parquet and reused by later runs (delete the folder after
changing a model).
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Callable
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import table, timed  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "walmart"
PIPELINE = Path(__file__).resolve().parents[1] / "pipelines" / "walmart.toml"
SEED = 1  # the mlforecast peer's seed
FOLDS = {
    "26w": (date(2012, 4, 27), 26),
    "holidays": (date(2011, 10, 28), 13),
    "val": (date(2012, 1, 27), 13),
}
DEFAULT_FOLDS = ("26w", "holidays")
KEYS = ["article_id", "store_id", "week"]


def load_panel(folder: Path) -> pl.DataFrame:
    """The zero-filled Walmart panel (article_id = department, store_id = store, units = dollars)."""
    from forecast.adapters.walmart import load_walmart
    from forecast.config import DataConfig
    from forecast.panel import build_panel

    ds = load_walmart(DataConfig(adapter="walmart", path=folder))
    return build_panel(ds).collect()


def score(forecasts: pl.DataFrame, panel: pl.DataFrame, column: str) -> tuple[float, float]:
    """WMAE and WAPE (%) of `column`; weeks without a sales row count as zero sales."""
    holidays = panel.group_by("week").agg(pl.col("is_holiday").any())
    rows = (
        forecasts.join(panel.select(*KEYS, "units"), on=KEYS, how="left")
        .join(holidays, on="week", how="left")
        .with_columns(pl.col("units").fill_null(0.0), pl.col(column).fill_null(0.0))
    )
    weight = pl.when(pl.col("is_holiday")).then(5.0).otherwise(1.0)
    error = (pl.col("units") - pl.col(column)).abs()
    wmae, wape = rows.select((weight * error).sum() / weight.sum(), error.sum() / pl.col("units").abs().sum())
    return float(wmae.item()), 100 * float(wape.item())


def _nixtla(history: pl.DataFrame) -> pl.DataFrame:
    return history.select(
        pl.format("{}|{}", "article_id", "store_id").alias("unique_id"),
        pl.col("week").alias("ds"),
        pl.col("units").alias("y"),
    )


def _from_nixtla(frame: pd.DataFrame, column: str) -> pl.DataFrame:
    out = pl.from_pandas(frame)
    ids = pl.col("unique_id").str.split("|")
    return out.select(
        ids.list.get(0).alias("article_id"),
        ids.list.get(1).alias("store_id"),
        pl.col("ds").cast(pl.Date).alias("week"),
        pl.col(column).alias("forecast"),
    )


def seasonal_naive(history: pl.DataFrame, horizon: int) -> pl.DataFrame:
    from statsforecast import StatsForecast
    from statsforecast.models import SeasonalNaive

    model = StatsForecast(models=[SeasonalNaive(season_length=52)], freq="W-FRI", n_jobs=1)
    forecasts = model.forecast(df=_nixtla(history).to_pandas(), h=horizon)
    assert isinstance(forecasts, pd.DataFrame)
    return _from_nixtla(forecasts, "SeasonalNaive")


def mlforecast_lgbm(history: pl.DataFrame, horizon: int) -> pl.DataFrame:
    import lightgbm as lgb
    from mlforecast import MLForecast
    from mlforecast.lag_transforms import RollingMean

    model = MLForecast(
        models={"lgbm": lgb.LGBMRegressor(n_estimators=500, verbose=-1, random_state=SEED)},
        freq="W-FRI",
        lags=[1, 2, 3, 4, 52],
        lag_transforms={1: [RollingMean(window_size=4), RollingMean(window_size=12)]},
        date_features=["week", "month"],
        num_threads=1,
    )
    model.fit(_nixtla(history).to_pandas())
    return _from_nixtla(model.predict(horizon), "lgbm")


def stlf_svd(history: pl.DataFrame, origin: date, horizon: int) -> pl.DataFrame:
    from forecast.models.svd_stl import SVDSTLForecaster

    series = history.select("article_id", "store_id").unique()
    frame = SVDSTLForecaster(rank=12).fit(history, origin).predict(horizon, series)
    return frame.select(*KEYS, pl.col("q50").alias("forecast"))


def pipeline_model(name: str, horizon: int) -> Any:
    """The model `name` as `forecast predict pipelines/walmart.toml --horizon H` builds it (seed, features,
    LightGBM settings and holiday weight from the pipeline file)."""
    from forecast.config import load_pipeline
    from forecast.models import create

    return create(name, load_pipeline(PIPELINE, horizon=horizon, require_data=False))


def ours(history: pl.DataFrame, origin: date, horizon: int) -> pl.DataFrame:
    series = history.select("article_id", "store_id").unique()
    return pipeline_model("lightgbm", horizon).fit(history, origin).predict(horizon, series)


def ours_blend(history: pl.DataFrame, origin: date, horizon: int) -> pl.DataFrame:
    series = history.select("article_id", "store_id").unique()
    return pipeline_model("lightgbm_svd", horizon).fit(history, origin).predict(horizon, series)


Runner = Callable[[pl.DataFrame, date, int], pl.DataFrame]
PEERS: dict[str, tuple[str, Runner]] = {
    "seasonal_naive": ("statsforecast SeasonalNaive(52)", lambda h, _o, n: seasonal_naive(h, n)),
    "mlforecast": ("mlforecast LightGBM", lambda h, _o, n: mlforecast_lgbm(h, n)),
    "stlf_svd": ("stlf.svd (SVD rank 12 + MSTL/ETS, Christmas shift)", stlf_svd),
}
OURS: dict[str, tuple[str, Runner, dict[str, str]]] = {
    "ours": ("ours LightGBM", ours, {"q50": "median (q50)", "mean": "mean"}),
    "ours_blend": ("ours LightGBM + stlf.svd", ours_blend, {"q50": "median (q50)", "mean": "mean"}),
}


def cached(cache: Path | None, key: str, fn: Callable[[], pl.DataFrame]) -> tuple[pl.DataFrame, float]:
    """`fn()` and its seconds, read from ``cache/key.parquet`` when present (seconds from the sidecar)."""
    if cache is None:
        return timed(fn)
    path, clock = cache / f"{key}.parquet", cache / f"{key}.seconds"
    if path.exists() and clock.exists():
        return pl.read_parquet(path), float(clock.read_text())
    frame, seconds = timed(fn)
    cache.mkdir(parents=True, exist_ok=True)
    frame.write_parquet(path)
    clock.write_text(f"{seconds}")
    return frame, seconds


def run_fold(
    panel: pl.DataFrame, name: str, models: list[str], cache: Path | None = None
) -> list[dict[str, object]]:
    origin, horizon = FOLDS[name]
    history = panel.filter(pl.col("week") <= origin)
    rows: list[dict[str, object]] = []
    for key in [m for m in models if m in PEERS]:
        label, fn = PEERS[key]
        frame, seconds = cached(cache, f"{name}-{key}", partial(fn, history, origin, horizon))
        wmae, wape = score(frame, panel, "forecast")
        rows.append({"fold": name, "model": label, "WMAE": wmae, "WAPE %": wape, "seconds": seconds})
    best = min((float(r["WMAE"]) for r in rows), default=float("nan"))  # type: ignore[arg-type]
    for key in [m for m in models if m in OURS]:
        label, fn, columns = OURS[key]
        frame, seconds = cached(cache, f"{name}-{key}", partial(fn, history, origin, horizon))
        for column, what in columns.items():
            wmae, wape = score(frame, panel, column)
            row = {"fold": name, "model": f"{label} {what}", "WMAE": wmae, "WAPE %": wape}
            rows.append({**row, "seconds": seconds})
    for row in rows:
        row["vs best peer"] = float(row["WMAE"]) / best  # type: ignore[arg-type]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("WALMART_DATA", DATA)))
    parser.add_argument(
        "--folds", default=",".join(DEFAULT_FOLDS), help=f"comma-separated subset of {list(FOLDS)}"
    )
    parser.add_argument(
        "--models", default=",".join([*PEERS, *OURS]), help=f"comma-separated subset of {[*PEERS, *OURS]}"
    )
    parser.add_argument("--cache", type=Path, default=None, help="folder keeping each model's fold forecasts")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    folds = [f.strip() for f in args.folds.split(",") if f.strip()]
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [f for f in folds if f not in FOLDS] + [m for m in models if m not in {**PEERS, **OURS}]
    if unknown:
        parser.error(f"unknown fold(s) or model(s) {unknown}")
    panel = load_panel(args.data)
    for name in folds:
        print(table(run_fold(panel, name, models, args.cache)), flush=True)
        print(flush=True)


if __name__ == "__main__":
    main()
