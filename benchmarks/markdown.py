"""Markdown benchmark: the replay on true demand, side by side, and the scale of the planner.

    .venv/bin/python benchmarks/markdown.py                      # both parts
    .venv/bin/python benchmarks/markdown.py --part replay [--seeds 21 22 23 24 25 --train-seeds 101 102 103]
    .venv/bin/python benchmarks/markdown.py --part scale [--scale-articles 10000 --scale-stores 300]

Replay (`forecast.markdown.replay`, policies in `forecast.markdown.policies`): on each data seed the synthetic
retailer is simulated (``--articles`` × ``--stores``, ``--weeks`` weeks of history) and the ``--replay-weeks``
weeks after its history are replayed for the articles whose season ends within them. The sell-through and
fixed rules are first tuned on the training seeds (grid below; the best total profit wins), which are not
scored. Printed per policy: season profit (purchase cost sunk: revenue − holding + salvage), revenue, units
left at the season's end and the share of the season's stock sold, as the mean over the scored seeds and on
the worst seed; then ours against the best rule (per seed) and against the oracle.

Scale: forecasts of ``--scale-articles`` articles × ``--scale-stores`` stores × 8 weeks (mean and three
quantiles, every season ending within the horizon), store and DC stock; the time of `plan_markdowns` from the
frames (pooling, lift fit, search, outputs, Monte-Carlo check), chain-wide or (``--scale-level cluster``) per
store cluster (``--scale-clusters`` clusters of stores).
"""

from __future__ import annotations

import argparse
import itertools
import time
from datetime import date, timedelta

import numpy as np
import polars as pl
from common import table

from forecast.config import SimulateConfig
from forecast.markdown.config import MarkdownConfig
from forecast.markdown.plan import plan_markdowns
from forecast.markdown.policies import Catalogue, NoMarkdown, Optimiser, RulePolicy
from forecast.markdown.replay import Result, World, build_world, play
from forecast.markdown.rules import FixedRule, SellThroughRule

SELL_THROUGH_GRID = [
    SellThroughRule(target_end=t, depth=d)
    for t, d in itertools.product([0.6, 0.7, 0.8, 0.9, 1.0, 1.1], [1, 2, 3])
]
FIXED_GRID = [
    FixedRule(share=s, depth=d) for s, d in itertools.product([0.4, 0.5, 0.6, 0.7, 0.8, 0.9], [1, 2, 3])
]


def worlds(seeds: list[int], args: argparse.Namespace) -> list[World]:
    out = []
    for seed in seeds:
        cfg = SimulateConfig(articles=args.articles, stores=args.stores, weeks=args.weeks, seed=seed)
        out.append(build_world(cfg, weeks=args.replay_weeks, seed=seed))
    return out


def tune(grid: list, train: list[World], settings: MarkdownConfig) -> tuple[object, float]:
    """The rule of `grid` with the best total profit on the training worlds."""
    scored = [
        (sum(float(play(w, RulePolicy(rule), settings).profit.sum()) for w in train), rule) for rule in grid
    ]
    best = max(scored, key=lambda pair: pair[0])
    return best[1], best[0]


def figures(result: Result) -> dict[str, float]:
    return {
        "profit": float(result.profit.sum()),
        "revenue": float(result.revenue.sum()),
        "units_left": float(result.leftover.sum()),
        "sold_share": float(result.units.sum() / max(result.start_stock.sum(), 1e-9)),
    }


def replay_part(args: argparse.Namespace) -> None:
    settings = MarkdownConfig()
    started = time.perf_counter()
    train = worlds(args.train_seeds, args)
    sell_through, st_profit = tune(SELL_THROUGH_GRID, train, settings)
    fixed, fx_profit = tune(FIXED_GRID, train, settings)
    print(
        f"tuned on training seeds {args.train_seeds}: {sell_through} ({st_profit:,.0f}), "
        f"{fixed} ({fx_profit:,.0f})"
    )
    policies = [
        Optimiser(),
        NoMarkdown(),
        Catalogue(),
        RulePolicy(sell_through),  # type: ignore[arg-type]
        RulePolicy(fixed),  # type: ignore[arg-type]
        Optimiser(oracle=True),
    ]
    per_seed: dict[str, list[dict[str, float]]] = {p.name: [] for p in policies}
    articles = []
    for world in worlds(args.seeds, args):
        articles.append(world.article_id.size)
        for policy in policies:
            per_seed[policy.name].append(figures(play(world, policy, settings)))
    rows = []
    for name, seeds in per_seed.items():
        worst = min(seeds, key=lambda f: f["profit"])
        rows.append({"policy": name, **{f"mean_{k}": float(np.mean([f[k] for f in seeds])) for k in seeds[0]},
                     **{f"worst_{k}": v for k, v in worst.items()}})  # fmt: skip
    print(
        f"scored seeds {args.seeds}: {articles} articles whose season ends within {args.replay_weeks} weeks"
    )
    print(table(rows))
    ours = np.array([f["profit"] for f in per_seed["optimiser"]])
    best_rule = np.maximum(
        [f["profit"] for f in per_seed[sell_through.name]], [f["profit"] for f in per_seed[fixed.name]]
    )
    catalogue = np.array([f["profit"] for f in per_seed["catalogue"]])
    oracle = np.array([f["profit"] for f in per_seed["oracle"]])
    gain = ours / best_rule - 1
    print(
        f"ours against the best tuned rule per seed: mean {100 * gain.mean():+.2f}%, worst seed "
        f"{100 * gain.min():+.2f}% (per seed {np.round(100 * gain, 2).tolist()}); against the catalogue "
        f"{100 * (ours / catalogue - 1).mean():+.2f}%; share of the oracle's profit "
        f"{100 * (ours / oracle).mean():.1f}% "
        f"(worst seed {100 * (ours / oracle).min():.1f}%); {time.perf_counter() - started:.0f} s"
    )


def scale_instance(
    articles: int, stores: int, weeks: int, clusters: int = 15, seed: int = 1
) -> dict[str, pl.DataFrame]:
    """Generated frames of a season's end: forecasts, catalogue, stock, stores, panel history."""
    rng = np.random.default_rng(seed)
    start = date(2024, 3, 4)
    popularity = rng.lognormal(-1.5, 0.8, articles)
    size = rng.lognormal(0.0, 0.4, stores)
    decay = np.exp(-np.arange(weeks) / 6.0)
    mean = (popularity[:, None, None] * size[None, :, None] * decay[None, None, :]).astype(np.float32)
    ids = np.array([f"A{i:05d}" for i in range(articles)])
    store_ids = np.array([f"S{i:03d}" for i in range(stores)])
    week_dates = pl.Series([start + timedelta(weeks=k) for k in range(weeks)]).cast(pl.Date)
    forecasts = pl.DataFrame(
        {
            "article_id": np.repeat(ids, stores * weeks),
            "store_id": np.tile(np.repeat(store_ids, weeks), articles),
            "week": pl.concat([week_dates] * (articles * stores)),
            "mean": mean.ravel(),
        }
    ).with_columns(
        (pl.col("mean") * 0.3).alias("q10"),
        (pl.col("mean") * 0.9).alias("q50"),
        (pl.col("mean") * 1.9).alias("q90"),
    )
    list_price = np.round(rng.uniform(10, 60, articles), 2)
    end = [start + timedelta(weeks=int(k), days=6) for k in rng.integers(2, weeks, articles)]
    catalogue = pl.DataFrame(
        {
            "article_id": ids,
            "category": rng.choice(["tops", "dresses", "knitwear"], articles),
            "list_price": list_price,
            "unit_cost": np.round(list_price * 0.45, 2),
            "end_date": pl.Series(end).cast(pl.Date),
        }
    )
    chain = mean.sum(axis=1)
    stock = pl.DataFrame(
        {
            "article_id": ids,
            "store_id": [None] * articles,
            "units": np.round(chain.sum(axis=1) * rng.uniform(0.8, 2.0, articles)),
        }
    )
    panel = pl.DataFrame(
        {
            "article_id": ids,
            "store_id": ["ALL"] * articles,
            "week": [start - timedelta(weeks=1)] * articles,
            "units": chain[:, 0],
            "price": list_price,
            "list_price": list_price,
        }
    )
    stores_frame = pl.DataFrame(
        {"store_id": store_ids, "cluster": [f"C{i % clusters:02d}" for i in range(stores)]}
    )
    return {
        "forecasts": forecasts,
        "articles": catalogue,
        "stock": stock,
        "panel": panel,
        "stores": stores_frame,
    }


def scale_part(args: argparse.Namespace) -> None:
    started = time.perf_counter()
    frames = scale_instance(args.scale_articles, args.scale_stores, 8, args.scale_clusters)
    built = time.perf_counter() - started
    settings = MarkdownConfig(level=args.scale_level)
    cpu, wall = time.process_time(), time.perf_counter()
    result = plan_markdowns(
        frames["forecasts"],
        frames["panel"],
        frames["articles"],
        frames["stock"],
        settings,
        stores=frames["stores"],
    )
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    t = result.totals
    print(
        f"scale ({args.scale_level}): {args.scale_articles:,} articles × {args.scale_stores} stores × 8 "
        f"weeks "
        f"({frames['forecasts'].height:,} forecast rows, generated in {built:.1f} s): plan_markdowns "
        f"{wall:.1f} s wall, {cpu:.1f} s CPU, {int(t['units']):,} units, "
        f"{int(t['search_nodes']):,} price-path nodes; "
        f"expected profit {t['expected_profit']:,.0f} against {t['current_expected_profit']:,.0f} (current "
        f"prices); Monte-Carlo gap of the expected-stock figure {100 * t['approximation_gap']:+.2f}% on "
        f"{int(t['checked_units'])} units"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--part", choices=["replay", "scale", "both"], default="both")
    parser.add_argument("--articles", type=int, default=1000)
    parser.add_argument("--stores", type=int, default=25)
    parser.add_argument("--weeks", type=int, default=60)
    parser.add_argument("--replay-weeks", type=int, default=8)
    parser.add_argument("--seeds", type=int, nargs="+", default=[21, 22, 23, 24, 25])
    parser.add_argument("--train-seeds", type=int, nargs="+", default=[101, 102, 103])
    parser.add_argument("--scale-articles", type=int, default=10_000)
    parser.add_argument("--scale-stores", type=int, default=300)
    parser.add_argument("--scale-level", choices=["chain", "cluster"], default="chain")
    parser.add_argument("--scale-clusters", type=int, default=15)
    args = parser.parse_args()
    if args.part in ("replay", "both"):
        replay_part(args)
    if args.part in ("scale", "both"):
        scale_part(args)


if __name__ == "__main__":
    main()
