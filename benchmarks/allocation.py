"""Allocation benchmark: the optimiser against the proportional and weeks-of-cover rules.

    .venv/bin/python benchmarks/allocation.py [--articles 2000 --stores 300 --seed 1 --quantiles]

A generated instance where DC stock and store capacities both bind: article popularity and store size are
log-normal, prices and pack sizes vary by article, holding cost is 10-30% of price,
shipping costs vary by store.
Prints solve seconds, optimality gap and expected profit of each plan, with ratios to the better rule.
"""

from __future__ import annotations

import argparse
import time
from datetime import date

import numpy as np
import polars as pl
from rich.console import Console
from rich.table import Table

from forecast.allocation import build_problem, solve_problem
from forecast.allocation.rules import _rule_result, cover_packs, proportional_packs
from forecast.config import AllocationConfig

WEEK = date(2024, 3, 4)


def make_instance(
    articles: int, stores: int, *, seed: int = 1, quantiles: bool = False
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Forecasts, DC stock, stores and store stock of a generated instance with binding constraints."""
    rng = np.random.default_rng(seed)
    popularity = rng.lognormal(0.0, 0.8, articles)
    size = rng.lognormal(0.0, 0.5, stores)
    mean = np.outer(size, popularity) * 1.5 * rng.gamma(4.0, 0.25, (stores, articles))
    store_ids = [f"S{i:04d}" for i in range(stores)]
    article_ids = [f"A{i:05d}" for i in range(articles)]
    price = np.round(rng.lognormal(3.0, 0.6, articles), 2)
    on_hand = rng.poisson(0.5 * mean)
    forecasts = pl.DataFrame(
        {
            "article_id": np.tile(article_ids, stores),
            "store_id": np.repeat(store_ids, articles),
            "week": [WEEK] * (articles * stores),
            "horizon": 1,
            "model": "bench",
            "mean": mean.ravel(),
        }
    )
    if quantiles:
        spread = np.sqrt(mean.ravel() + 1.0)
        forecasts = forecasts.with_columns(
            q10=np.maximum(mean.ravel() - 1.28 * spread, 0.0),
            q50=mean.ravel(),
            q90=mean.ravel() + 1.6 * spread,
        )
    dc_stock = pl.DataFrame(
        {
            "article_id": article_ids,
            "available_units": np.round(0.6 * mean.sum(axis=0)).astype(np.int64),
            "pack_size": rng.choice([1, 2, 3, 4, 6], articles),
            "unit_cost": np.round(price * rng.uniform(0.3, 0.6, articles), 2),
            "price": price,
            "holding_cost": np.round(price * rng.uniform(0.1, 0.3, articles), 2),
        }
    )
    stores_frame = pl.DataFrame(
        {
            "store_id": store_ids,
            "capacity_units": np.round(on_hand.sum(axis=1) + 0.7 * mean.sum(axis=1)).astype(np.int64),
            "ship_cost": np.round(rng.uniform(0.2, 1.0, stores), 2),
        }
    )
    stock = pl.DataFrame(
        {
            "store_id": np.repeat(store_ids, articles),
            "article_id": np.tile(article_ids, stores),
            "on_hand": on_hand.ravel(),
        }
    ).filter(pl.col("on_hand") > 0)
    return forecasts, dc_stock, stores_frame, stock


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=2000)
    parser.add_argument("--stores", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quantiles", action="store_true", help="forecasts with q10/q50/q90")
    parser.add_argument("--time-limit", type=float, default=60.0)
    args = parser.parse_args()
    console = Console(width=120)
    frames = make_instance(args.articles, args.stores, seed=args.seed, quantiles=args.quantiles)
    config = AllocationConfig(time_limit_s=args.time_limit)
    started = time.perf_counter()
    problem = build_problem(*frames, config)
    console.print(
        f"{problem.n_pairs:,} store × article pairs; inputs checked in {time.perf_counter() - started:.1f}s"
    )
    ours = solve_problem(problem, config)
    rules = []
    for name, rule in (("proportional", proportional_packs), ("cover 2 weeks", cover_packs)):
        started = time.perf_counter()
        rules.append(_rule_result(problem, rule(problem), name, started))
    best_rule = max(r.objective - r.baseline for r in rules)
    table = Table(title=f"allocation benchmark: {args.articles} articles × {args.stores} stores")
    for col in ("plan", "solve s", "gap", "units sent", "expected profit", "added profit", "vs better rule"):
        table.add_column(col, justify="right")
    for res in [ours, *rules]:
        added = res.objective - res.baseline
        gap = "-" if np.isnan(res.gap) else f"{100 * res.gap:.4f}%"
        table.add_row(
            res.method,
            f"{res.solve_seconds:.1f}",
            gap,
            f"{int(res.plan['units'].sum()):,}",
            f"{res.objective:,.0f}",
            f"{added:,.0f}",
            f"{added / best_rule:.3f}" if best_rule > 0 else "-",
        )
    console.print(table)
    console.print(
        f"expected profit incl. stock on hand: ours / better rule = "
        f"{ours.objective / max(r.objective for r in rules):.4f}; status {ours.status}"
    )


if __name__ == "__main__":
    main()
