"""Replenishment benchmark: scale (solve time and gap to the bound) and the rolling replay on true demand.

    .venv/bin/python benchmarks/replenish.py                     # both parts
    .venv/bin/python benchmarks/replenish.py --part scale [--articles 2000 --stores 300 --weeks 8]
    .venv/bin/python benchmarks/replenish.py --part replay [--replay-weeks 12]

Scale: a generated instance (log-normal article popularity and store size, a life-cycle curve per article,
markdowns, seasons that end inside the horizon, packs, case packs and MOQs, supplier lead times 1-3 weeks,
store lead times 0-1 week, scarce DC stock, binding store capacity and a purchase budget). Prints the time to
check the inputs, the solve time, the objective, the bound and the gap; also for a quarter-size instance so
the scaling can be read off one run. CPU seconds (this process) are printed beside wall-clock seconds: the
machine is shared, and the solver is single-threaded, so CPU time is what a dedicated core would take.

Replay: `forecast.replenish.replay` on the synthetic retailer (see its docstring); prints realised profit,
revenue, lost sales, season-end leftover and fill rate of our plan, base-stock, (s,S), proportional and
weeks-of-cover, and our profit against the best policy.
"""

from __future__ import annotations

import argparse
import time
from datetime import date, timedelta

import numpy as np
import polars as pl
from rich.console import Console
from rich.table import Table

from forecast.config import ReplenishmentConfig
from forecast.replenish import build_problem, solve_problem

START = date(2024, 3, 4)


def make_instance(
    articles: int, stores: int, weeks: int, *, seed: int = 1
) -> tuple[dict[str, pl.DataFrame], ReplenishmentConfig]:
    """Frames (forecasts, dc_stock, stores, store_stock, suppliers) and the config of a generated instance."""
    rng = np.random.default_rng(seed)
    popularity = rng.lognormal(-0.6, 0.8, articles)
    size = rng.lognormal(0.0, 0.4, stores)
    age = rng.integers(0, 10, articles)[:, None] + np.arange(weeks)[None, :]
    curve = (1 - np.exp(-(age + 1) / 2.0)) * np.exp(-age / 12.0)
    mean = size[:, None, None] * (popularity[:, None] * curve)[None, :, :]  # (stores, articles, weeks)
    mean = mean * rng.gamma(6.0, 1 / 6.0, mean.shape)
    price = np.round(rng.lognormal(3.0, 0.5, articles), 2)
    markdown = np.where(age >= 10, 0.7, 1.0)
    store_ids = np.array([f"S{i:04d}" for i in range(stores)])
    article_ids = np.array([f"A{i:05d}" for i in range(articles)])
    s, a, t = np.meshgrid(np.arange(stores), np.arange(articles), np.arange(weeks), indexing="ij")
    week_dates = np.array([START + timedelta(weeks=k) for k in range(weeks)], dtype="datetime64[D]")
    forecasts = pl.DataFrame(
        {
            "article_id": article_ids[a.ravel()],
            "store_id": store_ids[s.ravel()],
            "week": pl.Series(week_dates[t.ravel()]).cast(pl.Date),
            "mean": mean.ravel(),
            "price": np.round(price[a.ravel()] * markdown[a.ravel(), t.ravel()], 2),
        }
    )
    chain = mean.sum(axis=(0, 2))
    season_end = np.where(rng.random(articles) < 0.3, rng.integers(weeks // 2, weeks, articles), weeks + 10)
    dc = pl.DataFrame(
        {
            "article_id": article_ids,
            "available_units": np.round(0.35 * chain).astype(np.int64),
            "pack_size": rng.choice([1, 2, 3, 4], articles),
            "unit_cost": np.round(price * rng.uniform(0.3, 0.55, articles), 2),
            "price": price,
            "holding_cost": np.round(price * 0.02, 2),
            "season_end": pl.Series(
                np.datetime64(START, "D") + (season_end * 7).astype("timedelta64[D]")
            ).cast(pl.Date),
        }
    )
    on_hand = rng.poisson(0.8 * mean[:, :, 0])
    stock = pl.DataFrame(
        {
            "store_id": np.repeat(store_ids, articles),
            "article_id": np.tile(article_ids, stores),
            "on_hand": on_hand.ravel(),
        }
    ).filter(pl.col("on_hand") > 0)
    store_frame = pl.DataFrame(
        {
            "store_id": store_ids,
            "capacity_units": np.round(on_hand.sum(axis=1) + 1.2 * mean[:, :, :2].sum(axis=(1, 2))).astype(
                np.int64
            ),
            "ship_cost": np.round(rng.uniform(0.1, 0.6, stores), 2),
            "lead_weeks": rng.integers(0, 2, stores),
        }
    )
    suppliers = pl.DataFrame(
        {
            "article_id": article_ids,
            "supplier_id": [f"V{i % 40:02d}" for i in range(articles)],
            "lead_weeks": rng.integers(1, 4, articles),
            "moq_units": rng.choice([0, 20, 50], articles),
            "case_pack": rng.choice([1, 6, 12], articles),
        }
    )
    budget = float(0.4 * (chain * dc["unit_cost"].to_numpy()).sum())
    config = ReplenishmentConfig(weeks=weeks, budget=budget, time_limit_s=60.0, max_gap=0.005)
    frames = {"forecasts": forecasts, "dc_stock": dc, "stores": store_frame, "store_stock": stock}
    return frames | {"suppliers": suppliers}, config


def scale_row(articles: int, stores: int, weeks: int, seed: int) -> dict[str, object]:
    frames, config = make_instance(articles, stores, weeks, seed=seed)
    started, cpu = time.perf_counter(), time.process_time()
    problem = build_problem(
        frames["forecasts"],
        frames["dc_stock"],
        frames["stores"],
        frames["store_stock"],
        config,
        suppliers=frames["suppliers"],
    )
    checked = time.perf_counter() - started
    solve_cpu = time.process_time()
    result = solve_problem(problem, config)
    total = time.perf_counter() - started
    solve_cpu = time.process_time() - solve_cpu
    total_cpu = time.process_time() - cpu
    return {
        "instance": f"{articles} × {stores} × {weeks}",
        "rows": f"{problem.n_rows:,}",
        "inputs s": f"{checked:.1f}",
        "solve s": f"{result.solve_seconds:.1f}",
        "total s": f"{total:.1f}",
        "solve cpu s": f"{solve_cpu:.1f}",
        "total cpu s": f"{total_cpu:.1f}",
        "expected profit": f"{result.objective:,.0f}",
        "bound": f"{result.bound:,.0f}",
        "gap (added profit)": f"{100 * result.gap:.3f}%",
        "gap (total)": f"{100 * (result.bound - result.objective) / abs(result.bound):.4f}%",
        "status": result.status,
    }


def run_scale(args: argparse.Namespace, console: Console) -> None:
    rows = []
    for factor in (4, 1):
        articles = max(args.articles // factor, 1)
        rows.append(scale_row(articles, args.stores, args.weeks, args.seed))
    table = Table(title="replenishment at scale (2-core machine, shared while measured)")
    for col in rows[0]:
        table.add_column(col, justify="right")
    for row in rows:
        table.add_row(*(str(v) for v in row.values()))
    console.print(table)


def run_replay(args: argparse.Namespace, console: Console) -> None:
    from forecast.replenish.replay import ReplayConfig, replay

    cfg = ReplayConfig(weeks=args.replay_weeks, seed=args.seed)
    started = time.perf_counter()
    result = replay(cfg, progress=lambda line: console.print(f"[dim]{line}[/]"))
    seconds = time.perf_counter() - started
    table = Table(title=f"replay: {cfg.weeks} weeks, synthetic retailer, true demand ({seconds:.0f}s)")
    cols = [
        "policy",
        "profit",
        "revenue",
        "lost_sales_units",
        "leftover_units",
        "leftover_value",
        "fill_rate",
        "purchase_cost",
        "vs_best_policy",
    ]
    for col in cols:
        table.add_column(col, justify="right")
    for row in result.summary.iter_rows(named=True):
        table.add_row(*(f"{row[c]:,.3f}" if isinstance(row[c], float) else str(row[c]) for c in cols))
    console.print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["scale", "replay", "both"], default="both")
    parser.add_argument("--articles", type=int, default=2000)
    parser.add_argument("--stores", type=int, default=300)
    parser.add_argument("--weeks", type=int, default=8)
    parser.add_argument("--replay-weeks", type=int, default=12)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    console = Console(width=160)
    if args.part in ("replay", "both"):
        run_replay(args, console)
    if args.part in ("scale", "both"):
        run_scale(args, console)


if __name__ == "__main__":
    main()
