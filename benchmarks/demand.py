"""Demand, not sales: LightGBM with and without price drivers and the stockout correction, against the oracle.

Run: ``nice .venv/bin/python benchmarks/demand.py [--retailers demo,1000x25] [--seeds 11,12,13]
[--variants full,no_drivers,no_correction,neither] [--ablation-seeds 11] [--walmart DIR|'']``.

Retailers: ``demo`` is `pipelines/demo.toml`'s simulated retailer (240 articles × 12 stores × 104 weeks,
its own seed); ``1000x25`` simulates 1,000 articles × 25 stores × 104 weeks with each seed of ``--seeds``.
Each is backtested as the demo pipeline backtests (3 folds, 8-week horizon, its LightGBM settings) with the
oracle (the simulator's expected demand) beside it. Variants: ``full`` (price features and
``[demand] censoring = "expected"``), ``no_drivers`` (no price features), ``no_correction`` (censored
weeks dropped) and ``neither``. Printed per retailer × seed × variant:

- ``wape_true/oracle``: LightGBM's WAPE against the true demand over the oracle's (goal <= 1.05);
- ``|bias_true|``: its bias against the true demand (goal <= 3%);
- ``profit/oracle``: its profit per fold over the oracle's (goal >= 92%);
- per discount level, on the marked-down rows of the last fold: the forecast's lift (mean at the planned
  price over the mean at list price, `forecast.whatif.forecast_under_prices` on the model fitted at that
  fold's origin) over the true lift (``true_price_response``, weighted by the full-price forecast; goal
  within ±15%). Rows are grouped by their planned discount, rounded to 10%; ``new markdowns only``: of the
  series still at list price at the origin (a series already marked down is asked, at list price, about a
  price rise its history never shows).

Walmart (``--walmart``, default ``../shared/data/walmart``): the pipeline's LightGBM with and without the
exogenous drivers of ``features.csv`` (`forecast.features.exog`) on the validation fold (history to
2012-01-27, before both scored folds) and the 26-week and holiday folds; WMAE of q50.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from datetime import date
from functools import partial
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import table, timed  # noqa: E402
from forecast.backtest import fold_data, fold_origins, run_backtest  # noqa: E402
from forecast.config import DemandConfig, PipelineConfig, SimulateConfig, load_pipeline  # noqa: E402
from forecast.dataset import Dataset  # noqa: E402
from forecast.models import create  # noqa: E402
from forecast.models.base import Forecaster  # noqa: E402
from forecast.panel import build_panel, sale_ends  # noqa: E402
from forecast.prices import last_prices  # noqa: E402
from forecast.simulate import simulate_dataset, true_price_response  # noqa: E402
from forecast.whatif import forecast_under_prices  # noqa: E402

PIPELINE = Path(__file__).resolve().parents[1] / "pipelines" / "demo.toml"
WALMART = Path(__file__).resolve().parents[1] / "pipelines" / "walmart.toml"
WALMART_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "walmart"
VARIANTS = {
    "full": (True, "expected"),
    "no_drivers": (False, "expected"),
    "no_correction": (True, "drop"),
    "neither": (False, "drop"),
}
TARGETS = {"level": "level"}  # variants "<variant>+level": LightGBM learns the units (log link)


def lightgbm(config: PipelineConfig, price_features: bool, target: str | None = None) -> Forecaster:
    """The pipeline's LightGBM, with or without its price features (and another `target`)."""
    model = create("lightgbm", config)
    params = {**model.get_params(), "price_features": price_features}
    return type(model)(**(params if target is None else {**params, "target": target}))


def price_lift(
    model: Forecaster, ds: Dataset, panel: pl.DataFrame, config: PipelineConfig, new_only: bool = False
) -> pl.DataFrame:
    """Forecast lift over true lift per planned discount level on the last fold's marked-down rows (with
    `new_only`, of series still at list price at the origin: the markdown starts after it)."""
    origin = fold_origins(panel, config.backtest.folds, config.backtest.step, config.backtest_horizon)[-1]
    data = fold_data(panel, 1, origin, config, ds, sale_ends(ds))
    assert data.plan is not None
    fitted = model.fit(data.history, origin, articles=ds.articles, exog=ds.exog)
    horizon = config.backtest_horizon
    ends = sale_ends(ds)
    planned = forecast_under_prices(fitted, data.plan, horizon, data.active, ends)
    full_plan = data.plan.with_columns(pl.col("list_price").alias("price"))
    full = forecast_under_prices(fitted, full_plan, horizon, data.active, ends)
    response = true_price_response(config.simulate).select("article_id", "elasticity").unique("article_id")
    keys = ["article_id", "store_id", "week"]
    rows = (
        data.plan.join(planned.select(*keys, "mean"), on=keys)
        .join(full.select(*keys, pl.col("mean").alias("full")), on=keys)
        .join(response, on="article_id")
        .join(last_prices(data.history, origin), on=["article_id", "store_id"], how="left")
        .with_columns((1.0 - pl.col("price") / pl.col("list_price")).alias("discount"))
        .filter((pl.col("discount") > 0.05) & (pl.col("full") > 0))
    )  # fmt: skip
    if new_only:
        rows = rows.filter(pl.col("_last_price") >= 0.99 * pl.col("list_price"))
    true = (pl.col("price") / pl.col("list_price")) ** -pl.col("elasticity")
    return (
        rows.with_columns((pl.col("discount") * 10).round(0).truediv(10).alias("level"))
        .group_by("level")
        .agg(
            pl.len().alias("rows"),
            (pl.col("mean").sum() / pl.col("full").sum()).alias("forecast_lift"),
            ((true * pl.col("full")).sum() / pl.col("full").sum()).alias("true_lift"),
        )
        .with_columns((pl.col("forecast_lift") / pl.col("true_lift")).alias("ratio"))
        .sort("level")
    )


def run_one(config: PipelineConfig, ds: Dataset, panel: pl.DataFrame, variant: str) -> dict[str, object]:
    base, _, target = variant.partition("+")
    price_features, censoring = VARIANTS[base]
    config = replace(config, demand=DemandConfig(censoring=censoring))
    model = lightgbm(config, price_features, TARGETS.get(target))
    result, seconds = timed(lambda: run_backtest(panel, [model], config, ds))
    board = {r["model"]: r for r in result.leaderboard.iter_rows(named=True)}
    ours, oracle = board["lightgbm"], board["oracle"]
    row: dict[str, object] = {
        "variant": variant,
        "wape_true/oracle": ours["wape_true"] / oracle["wape_true"],
        "|bias_true|": f"{100 * abs(ours['bias_true']):.1f}%",
        "profit/oracle": f"{100 * ours['profit'] / oracle['profit']:.1f}%",
        "wape": ours["wape"],
        "wape_true": ours["wape_true"],
        "oracle_wape_true": oracle["wape_true"],
        "seconds": seconds,
    }
    for column, new_only in (("lift ratio by discount", False), ("new markdowns only", True)):
        lift = price_lift(model, ds, panel, config, new_only) if price_features else None
        row[column] = (
            " ".join(f"{level:.0%}:{ratio:.2f}" for level, ratio in lift.select("level", "ratio").iter_rows())
            if lift is not None
            else "-"
        )
    return row


def _fit_predict(
    model: Forecaster,
    history: pl.DataFrame,
    origin: date,
    exog: pl.DataFrame | None,
    h: int,
    series: pl.DataFrame,
) -> pl.DataFrame:
    return model.fit(history, origin, exog=exog).predict(h, series)


def walmart(folder: Path) -> list[dict[str, object]]:
    """LightGBM of `pipelines/walmart.toml` with and without the exogenous drivers on the validation fold
    (before the scored ones) and the two scored folds of `benchmarks/walmart.py` (WMAE of q50)."""
    from benchmarks.walmart import FOLDS, score
    from forecast.adapters.walmart import load_walmart
    from forecast.config import DataConfig

    ds = load_walmart(DataConfig(adapter="walmart", path=folder))
    panel = build_panel(ds).collect()
    rows: list[dict[str, object]] = []
    for fold in ("val", "26w", "holidays"):
        origin, horizon = FOLDS[fold]
        history = panel.filter(pl.col("week") <= origin)
        series = history.select("article_id", "store_id").unique()
        config = load_pipeline(WALMART, horizon=horizon, require_data=False)
        for drivers in (False, True):
            model = create("lightgbm", config)
            model = type(model)(**{**model.get_params(), "exog_features": drivers})
            frame, seconds = timed(partial(_fit_predict, model, history, origin, ds.exog, horizon, series))
            wmae, wape = score(frame, panel, "q50")
            rows.append(
                {"fold": fold, "drivers": drivers, "WMAE q50": wmae, "WAPE %": wape, "seconds": seconds}
            )
            print(table([rows[-1]]), flush=True)
    return rows


def retailer(name: str, seed: int, base: PipelineConfig) -> PipelineConfig:
    if name == "demo":
        return base
    articles, stores = (int(x) for x in name.split("x"))
    sim = SimulateConfig(articles=articles, stores=stores, weeks=104, seed=seed, start=date(2023, 1, 2))
    return replace(base, simulate=sim)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--retailers", default="demo,1000x25")
    parser.add_argument("--seeds", default="11,12,13")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--ablation-seeds", default="11", help="seeds of 1000x25 that run every variant")
    parser.add_argument("--walmart", type=Path, default=WALMART_DATA, help="Walmart folder ('' to skip)")
    args = parser.parse_args()
    base = load_pipeline(PIPELINE)
    seeds = [int(s) for s in args.seeds.split(",")]
    ablation = {int(s) for s in args.ablation_seeds.split(",") if s}
    rows = []
    for name in [r for r in args.retailers.split(",") if r]:
        for seed in [base.simulate.seed] if name == "demo" else seeds:
            config = retailer(name, seed, base)
            ds = simulate_dataset(config.simulate)
            panel = build_panel(ds).collect()
            variants = args.variants.split(",") if name == "demo" or seed in ablation else ["full"]
            for variant in variants:
                row = {"retailer": name, "seed": seed, **run_one(config, ds, panel, variant)}
                print(table([row]), flush=True)
                rows.append(row)
    print()
    print(table(rows))
    if str(args.walmart) not in ("", "."):
        print()
        print(table(walmart(args.walmart)))


if __name__ == "__main__":
    main()
