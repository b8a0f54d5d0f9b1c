"""LightGBM's quantile calibration: coverage, pinball and newsvendor profit of raw and calibrated bands.

One LightGBM fit per backtest fold with ``calibrate=True`` gives every variant, since the conformal offsets
are only added at prediction time: ``raw`` (no offset), ``both`` (q10 and q90 shifted), ``lower`` (only the
quantiles below q50) and ``upper`` (only those above). Each is scored by the backtest's own scoring
(`forecast.backtest.scored_rows`, `summarise`), so the figures are those ``forecast backtest`` prints for the
same model; the table adds the share of actuals below q10 and above q90. With ``--blend`` the variants are
those of the blend ``lightgbm_svd`` (stlf.svd fitted and forecast once per fold, averaged with each LightGBM
variant).

Usage::

    .venv/bin/python benchmarks/calibration.py pipelines/walmart.toml
    .venv/bin/python benchmarks/calibration.py pipelines/demo.toml
    .venv/bin/python benchmarks/calibration.py pipelines/walmart.toml --blend
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import sys
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import timed  # noqa: E402
from forecast.adapters import load_dataset  # noqa: E402
from forecast.backtest import fold_data, fold_origins, scored_rows, summarise  # noqa: E402
from forecast.config import load_pipeline  # noqa: E402
from forecast.models import create  # noqa: E402
from forecast.models.base import Forecaster  # noqa: E402
from forecast.models.blend import BlendForecaster  # noqa: E402
from forecast.models.lgbm import LightGBMForecaster  # noqa: E402
from forecast.models.svd_stl import SVDSTLForecaster  # noqa: E402
from forecast.panel import build_panel, sale_ends  # noqa: E402

VARIANTS = {"raw": (), "both": ("q10", "q90"), "lower": ("q10",), "upper": ("q90",)}


def variant(fitted: LightGBMForecaster, columns: tuple[str, ...]) -> LightGBMForecaster:
    """The fitted model with only the offsets of `columns` (a copy sharing the trees)."""
    model = copy.copy(fitted)
    model.offsets_ = {c: v for c, v in fitted.offsets_.items() if c in columns}
    return model


class Predicted:
    """A fitted stlf.svd model's forecast of the fold, computed once and read by every blend variant."""

    def __init__(self, model: SVDSTLForecaster, rows: pl.DataFrame) -> None:
        self.model, self.rows = model, rows

    def predict(self, horizon: int, series: pl.DataFrame | None = None) -> pl.DataFrame:  # noqa: ARG002
        return self.rows

    def christmas_source_years(self) -> object:
        return self.model.christmas_source_years()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pipeline", type=Path)
    parser.add_argument("--blend", action="store_true", help="score the blend lightgbm_svd's variants")
    args = parser.parse_args()
    config = load_pipeline(args.pipeline)
    # LightGBM as the pipeline configures it (alone, or inside its blend), calibrated
    tables = config.models.tables
    table = tables.get("lightgbm") or tables.get("lightgbm_svd", {}).get("global_model", {})
    models = dataclasses.replace(config.models, tables={**tables, "lightgbm": {**table, "calibrate": True}})
    config = dataclasses.replace(config, models=models)
    ds = load_dataset(config)
    panel = build_panel(ds).collect()
    horizon = config.backtest_horizon
    origins = fold_origins(panel, config.backtest.folds, config.backtest.step, horizon)
    ends = sale_ends(ds)
    model = create("lightgbm", config)
    assert isinstance(model, LightGBMForecaster)
    frames = []
    for fold, origin in enumerate(origins, start=1):
        data = fold_data(panel, fold, origin, config, ds, ends)
        fitted, seconds = timed(lambda d=data, o=origin: model.fit(d.history, o, articles=ds.articles))
        print(f"fold {fold} (origin {origin}): fitted in {seconds:.0f} s", flush=True)
        blend = None
        if args.blend:
            start = data.history["week"].min()
            blend = BlendForecaster(model)
            blend.global_, blend.local_ = fitted, blend._local().fit(data.history, origin)
            blend.start_, blend.origin_ = start, origin
            local, seconds = timed(lambda b=blend, d=data: b.local_.predict(horizon, d.active))
            blend.local_ = Predicted(blend.local_, local)  # type: ignore[assignment]
            print(f"fold {fold}: stlf.svd forecast in {seconds:.0f} s", flush=True)
        for name, columns in VARIANTS.items():
            scored: Forecaster = variant(fitted, columns)
            if blend is not None:
                scored = copy.copy(blend)
                scored.global_ = variant(fitted, columns)
            forecast = scored.predict(horizon, data.active)
            frames.append(scored_rows(data, forecast, name, ends))
    result = summarise(frames, config.backtest.objective, list(VARIANTS))
    kept = result.forecasts.filter(~pl.col("censored"))
    tails = kept.group_by("model").agg(
        (pl.col("units") < pl.col("q10")).mean().alias("below_q10"),
        (pl.col("units") > pl.col("q90")).mean().alias("above_q90"),
    )
    board = result.leaderboard.join(tails, on="model", how="left")
    rows = board.select("model", "coverage_80", "below_q10", "above_q90", "pinball", "wape", "profit")
    print(f"{config.name}: {config.backtest.folds} folds, objective {config.backtest.objective}")
    with pl.Config(tbl_rows=-1, tbl_cols=-1, float_precision=4, tbl_width_chars=200):
        print(rows)
    # the model never moves q50; coherence scales a row's quantiles down when its mean cannot hold them
    key = ["fold", "article_id", "store_id", "week"]
    raw = result.forecasts.filter(pl.col("model") == "raw").select(*key, pl.col("q50").alias("raw_q50"))
    both = result.forecasts.filter(pl.col("model") == "both").join(raw, on=key)
    moved = both.select((pl.col("q50") != pl.col("raw_q50")).mean()).item()
    print(f"rows whose scored q50 the coherence step moved (both vs raw): {moved:.4%}")


if __name__ == "__main__":
    main()
