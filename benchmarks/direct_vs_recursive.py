"""Direct against recursive multi-horizon forecasting with the global LightGBM model on Walmart.

Run: ``.venv/bin/python benchmarks/direct_vs_recursive.py [--data ../shared/data/walmart]``.

Both variants use `LightGBMForecaster` with the same features, ``holiday_weight=5`` and ``seed=1``, on the two
folds of ``benchmarks/walmart.py`` (scored the same way: WMAE with holiday weeks weighted 5, WAPE %):
- direct: the model of ``ours`` in benchmarks/walmart.py, trained on horizons 1..26 (horizon is a feature),
  forecasting every week of the fold from the origin;
- recursive: a one-step model (``max_horizon=1``) fitted once at the origin; each step forecasts one week,
  appends that forecast to the history as if it were observed, rebuilds the model's series matrix from the
  extended history (``matrix_`` and ``origin_`` set on the fitted model, no refit) and forecasts the next
  week.
  The q50 forecast is fed back for the q50 path and the mean for the mean path (two separate recursions).
  An appended week takes the panel's holiday flag of that week (a calendar fact known in advance).

Seconds: direct = fit + predict; recursive = the one-step fit + the steps of that path.
The ratio columns are recursive / direct (below 1: recursive is better, or faster).
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from datetime import date, timedelta
from functools import partial
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import table, timed  # noqa: E402
from benchmarks.walmart import DATA, FOLDS, SEED, load_panel, score  # noqa: E402
from forecast.config import FeaturesConfig  # noqa: E402
from forecast.features import build_matrix  # noqa: E402
from forecast.models.lgbm import LightGBMForecaster  # noqa: E402

HISTORY = ["article_id", "store_id", "week", "units", "censored", "is_holiday", "category"]
COLUMNS = ("q50", "mean")


def model(max_horizon: int) -> LightGBMForecaster:
    """The benchmark's LightGBM configuration (as ``ours`` in benchmarks/walmart.py)."""
    return LightGBMForecaster(
        FeaturesConfig(), [0.1, 0.5, 0.9], seed=SEED, holiday_weight=5.0, max_horizon=max_horizon
    )


def recurse(
    fitted: LightGBMForecaster,
    history: pl.DataFrame,
    series: pl.DataFrame,
    holidays: pl.DataFrame,
    horizon: int,
    column: str,
) -> pl.DataFrame:
    """Forecast `horizon` weeks one at a time, feeding `column` back as the observed units."""
    origin = fitted.origin_
    extended = history.select(HISTORY)
    categories = extended.group_by("article_id", "store_id").agg(pl.col("category").drop_nulls().first())
    steps: list[pl.DataFrame] = []
    for step in range(1, horizon + 1):
        frame = fitted.predict(1, series).with_columns(pl.lit(step, pl.Int32).alias("horizon"))
        steps.append(frame)
        observed = (
            frame.select("article_id", "store_id", "week", pl.col(column).alias("units"))
            .with_columns(pl.lit(False).alias("censored"))
            .join(holidays, on="week", how="left")
            .with_columns(pl.col("is_holiday").fill_null(False))
            .join(categories, on=["article_id", "store_id"], how="left")
            .select(HISTORY)
        )
        extended = pl.concat([extended, observed], how="vertical_relaxed")
        origin = origin + timedelta(weeks=1)
        fitted.matrix_ = build_matrix(extended, origin)
        fitted.origin_ = origin
    return pl.concat(steps)


def run_fold(panel: pl.DataFrame, name: str, origin: date, horizon: int) -> list[dict[str, object]]:
    """Scores and seconds of direct and recursive (q50 and mean) on one fold, side by side."""
    history = panel.filter(pl.col("week") <= origin)
    series = history.select("article_id", "store_id").unique()
    holidays = panel.group_by("week").agg(pl.col("is_holiday").any())
    direct, direct_seconds = timed(lambda: model(26).fit(history, origin).predict(horizon, series))
    one_step, fit_seconds = timed(lambda: model(1).fit(history, origin))
    rows: list[dict[str, object]] = []
    for column in COLUMNS:
        steps = partial(recurse, one_step, history, series, holidays, horizon, column)
        recursive, step_seconds = timed(steps)
        one_step.matrix_, one_step.origin_ = build_matrix(history, origin), origin  # back to the origin
        (d_wmae, d_wape), (r_wmae, r_wape) = score(direct, panel, column), score(recursive, panel, column)
        r_seconds = fit_seconds + step_seconds
        rows.append(
            {
                "fold": name,
                "forecast": column,
                "WMAE direct": d_wmae,
                "WMAE recursive": r_wmae,
                "WMAE r/d": r_wmae / d_wmae,
                "WAPE % direct": d_wape,
                "WAPE % recursive": r_wape,
                "WAPE r/d": r_wape / d_wape,
                "s direct": direct_seconds,
                "s recursive": r_seconds,
                "s r/d": r_seconds / direct_seconds,
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("WALMART_DATA", DATA)))
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    panel = load_panel(args.data)
    rows: list[dict[str, object]] = []
    for name, (origin, horizon) in FOLDS.items():
        rows += run_fold(panel, name, origin, horizon)
        print(table(rows[-2:]), flush=True)
    print()
    print(table(rows), flush=True)


if __name__ == "__main__":
    main()
