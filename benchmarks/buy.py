"""Pre-season buying benchmark: realised profit of the buy against planners' rules and perfect foresight.

VISUELLE (time-ordered holdout of ``train.csv`` only; the published test split is never read): the latest
`--share` of products by release date are bought, each decided `L` weeks before its release from the
products whose 12 weeks had ended by then. For each cost setting (price / unit cost / salvage) and lead time,
the realised profit (p − c)·min(D, Q) − (c − s)·(Q − D)+ of every method summed over the products, as a
share of perfect foresight's (Q = D): our buy (the newsvendor on the season distribution,
`forecast.buy.season`), ordering the model's mean, the category mean, the attribute-kNN mean (k = 11 on
category, colour, fabric) and those two at their analogues' fractile; plus the share of held-out season
totals inside the season distribution's 10-90% band.

``--demo``: the same on the demo's simulated retailer (`pipelines/demo.toml`): the articles launched in the
last `--demo-weeks` weeks whose planned life ended inside the simulation are bought at their launch from what
was sold before, and judged against the simulator's true season demand (before stockouts cut it), with each
article's own price, unit cost and salvage = `--demo-salvage` × unit cost.

Usage::

    nice .venv/bin/python benchmarks/buy.py
    nice .venv/bin/python benchmarks/buy.py --demo
    nice .venv/bin/python benchmarks/buy.py --leads 0 --params '{"direct": true}'

``--params`` (JSON) sets `forecast.buy.season.SeasonModel` parameters, to compare its alternatives on the
same holdout. ``--skip S`` buys the `--share` of launches released before the latest `S` instead: the inner,
earlier holdouts on which the model's settings are chosen (``--skip 0.2`` and ``--skip 0.4``), so that the
scored holdout (the latest 20%) is not used to choose among them.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from datetime import timedelta
from pathlib import Path

import numpy as np
import polars as pl
from common import table, timed  # benchmarks/common.py, beside this script

from forecast.adapters.visuelle import load_visuelle
from forecast.buy.features import season_lengths, season_totals
from forecast.buy.optimise import best_orders, critical_fractile, realised_profit
from forecast.buy.rules import RULES, rule_orders
from forecast.buy.season import SeasonForecast, SeasonModel, forecast_seasons
from forecast.config import DataConfig, SimulateConfig, load_pipeline

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "visuelle"
COSTS = ((1.0, 0.4, 0.15), (1.0, 0.6, 0.3))
KNN = ["category", "color", "fabric"]


def load_visuelle_train(folder: Path) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame | None]:
    """Panel and catalogue of ``train.csv`` alone (a folder holding only it and the trends is read)."""
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("train.csv", "gtrends.csv"):
            (Path(tmp) / name).symlink_to((folder / name).resolve())
        ds = load_visuelle(DataConfig(adapter="visuelle", path=Path(tmp), cache=False))
    panel = ds.sales.select("article_id", "store_id", pl.col("date").alias("week"), "units")
    code = pl.col("article_id").cast(pl.Int64, strict=False)
    articles = ds.articles.sort("launch_date", code, "article_id").drop("is_future")
    return panel, articles, ds.trends


def shares(
    truth: np.ndarray, orders: dict[str, np.ndarray], cost: tuple[float, float, float]
) -> dict[str, float]:
    """Realised profit of each method's orders as a share of perfect foresight's."""
    n = len(truth)
    p, c, s = (np.full(n, v) for v in cost)
    perfect = float(realised_profit(truth, np.clip(truth, 0, None), p, c, s).sum())
    return {name: float(realised_profit(truth, q, p, c, s).sum()) / perfect for name, q in orders.items()}


def method_orders(
    dist: SeasonForecast, query: pl.DataFrame, bank: pl.DataFrame, cost: tuple[float, float, float]
) -> dict[str, np.ndarray]:
    """Units ordered by our buy, by the model's mean and by each rule."""
    n = query.height
    p, c, s = (np.full(n, v) for v in cost)
    ones = np.ones(n)
    tau = critical_fractile(p, c, s)
    orders = {"buy": best_orders(dist.atoms, p, c, s, ones, 0 * ones), "model_mean": dist.mean}
    rules = rule_orders(query, bank, KNN, 11, tau)
    return orders | {name: rules[name] for name in RULES}


def run_case(
    panel: pl.DataFrame,
    articles: pl.DataFrame,
    scored: pl.DataFrame,
    truth: np.ndarray,
    lead: int,
    model: SeasonModel,
    horizon: int,
    trends: pl.DataFrame | None = None,
) -> list[dict[str, object]]:
    """One lead time: rows of profit shares per cost setting, and the band's coverage."""
    targets = scored.select(
        "article_id", (pl.col("launch_date") - timedelta(days=7 * lead)).alias("decision_date")
    )
    dist, seconds = timed(
        lambda: forecast_seasons(
            panel, articles, targets, lead_weeks=lead, horizon=horizon, model=model, trends=trends
        )
    )
    last = targets["decision_date"].max()
    seasons = season_lengths(articles, horizon)
    bank = season_totals(panel, seasons, last).join(  # type: ignore[arg-type]
        articles.select("article_id", *KNN), on="article_id", how="left"
    )
    bank = bank.rename({"launch_date": "_launch"})
    query = scored.select("article_id", *KNN).with_columns(targets["decision_date"].alias("_day"))
    band = dist.frame()
    cover = float(
        ((truth >= band["season_q10"].to_numpy()) & (truth <= band["season_q90"].to_numpy())).mean()
    )
    rows = []
    for cost in COSTS:
        row: dict[str, object] = {"lead": lead, "cost": f"{cost[0]:g}/{cost[1]:g}/{cost[2]:g}"}
        result = shares(truth, method_orders(dist, query, bank, cost), cost)
        best = max(result[name] for name in RULES)
        row |= {k: 100 * v for k, v in result.items()}
        row |= {"buy_vs_best_rule": result["buy"] / best, "cover_10_90": 100 * cover, "s": seconds}
        rows.append(row)
    return rows


def visuelle(args: argparse.Namespace) -> None:
    panel, articles, trends = load_visuelle_train(args.data)
    n = int(round(args.share * articles.height))
    skip = int(round(args.skip * articles.height))
    scored = articles.slice(articles.height - skip - n, n)
    totals = panel.group_by("article_id").agg(pl.col("units").sum().alias("total"))
    truth = scored.select("article_id").join(totals, on="article_id", how="left", maintain_order="left")
    model = SeasonModel(seed=args.seed, **json.loads(args.params))
    print(
        f"VISUELLE train.csv: {articles.height} products, {n} bought (release "
        f"{scored['launch_date'].min()} .. {scored['launch_date'].max()})"
    )
    rows = []
    for lead in args.leads:
        rows += run_case(panel, articles, scored, truth["total"].to_numpy(), lead, model, 12, trends)
    print(table(rows))


def demo(args: argparse.Namespace) -> None:
    from forecast.simulate import simulate_dataset

    config = load_pipeline(REPO / "pipelines" / "demo.toml")
    sim: SimulateConfig = config.simulate
    ds = simulate_dataset(sim)
    panel = ds.sales.select("article_id", "store_id", pl.col("date").alias("week"), "units")
    articles = ds.articles.drop("is_future")
    last_week = sim.start + timedelta(days=7 * sim.weeks)
    seasons = season_lengths(articles, config.forecast.horizon)
    ends = seasons.with_columns(
        (pl.col("launch_date") + pl.duration(days=7 * pl.col("season_weeks"))).alias("_e")
    )
    first_launch = last_week - timedelta(days=7 * args.demo_weeks)
    scored = ends.filter((pl.col("launch_date") >= first_launch) & (pl.col("_e") <= last_week))
    assert ds.true_demand is not None
    true = ds.true_demand.rename({"week": "week"}).select(
        "article_id", "week", pl.col("demand").alias("units")
    )
    truth = season_totals(true, seasons, last_week)
    scored = scored.join(truth.select("article_id", "total"), on="article_id").sort(
        "launch_date", "article_id"
    )
    query = scored.join(articles.drop("launch_date"), on="article_id", how="left", maintain_order="left")
    targets = query.select("article_id", pl.col("launch_date").alias("decision_date"))
    model = SeasonModel(seed=args.seed)
    dist = forecast_seasons(
        panel, articles, targets, lead_weeks=0, horizon=config.forecast.horizon, model=model
    )
    price, cost = query["list_price"].to_numpy(), query["unit_cost"].to_numpy()
    salvage = args.demo_salvage * cost
    tau = critical_fractile(price, cost, salvage)
    bank = (
        season_totals(panel, seasons, last_week)
        .join(articles.select("article_id", "category", "colour", "fabric"), on="article_id", how="left")
        .rename({"launch_date": "_launch"})
    )
    attrs = ["category", "colour", "fabric"]
    rules = rule_orders(query.with_columns(pl.col("launch_date").alias("_day")), bank, attrs, 11, tau)
    ones = np.ones(query.height)
    orders = {"buy": best_orders(dist.atoms, price, cost, salvage, ones, 0 * ones), "model_mean": dist.mean}
    orders |= rules
    demand = query["total"].to_numpy()
    perfect = float(realised_profit(demand, demand, price, cost, salvage).sum())
    row: dict[str, object] = {"articles": query.height}
    row |= {
        k: 100 * float(realised_profit(demand, q, price, cost, salvage).sum()) / perfect
        for k, q in orders.items()
    }
    band = dist.frame()
    row["cover_10_90"] = 100 * float(
        ((demand >= band["season_q10"].to_numpy()) & (demand <= band["season_q90"].to_numpy())).mean()
    )
    print(f"demo simulator: articles launched in the last {args.demo_weeks} weeks with their life inside it")
    print(table([row]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--share", type=float, default=0.2, help="latest share of launches bought")
    parser.add_argument("--skip", type=float, default=0.0, help="latest share of launches not bought")
    parser.add_argument("--leads", type=lambda s: [int(v) for v in s.split(",")], default=[0, 26])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--params", default="{}", help='SeasonModel parameters as JSON: {"direct": true}')
    parser.add_argument("--demo", action="store_true", help="the simulated retailer instead of VISUELLE")
    parser.add_argument("--demo-weeks", type=int, default=40)
    parser.add_argument("--demo-salvage", type=float, default=0.3)
    args = parser.parse_args()
    if args.demo:
        demo(args)
    else:
        visuelle(args)


if __name__ == "__main__":
    main()
