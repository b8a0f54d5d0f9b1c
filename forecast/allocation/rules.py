"""Planners' rules of thumb, the yardsticks the optimiser has to beat (same inputs, same plan contract).

- proportional: each article's DC stock (whole packs) is split across stores in proportion to their demand
  (the forecast mean stands in for recent sales), rounded down to packs with the packs left over going to the
  largest remainders (only to stores with demand); a store whose shares exceed its free
  capacity has all its shares scaled down to fit. On-hand stock is not considered.
- cover: stores in order of total forecast demand (largest first), each topped up, article by article, to
  `cover` weeks of mean weekly demand (at least the presentation minimum) in whole packs, until the DC stock
  of the article or the store's capacity runs out.
A store × article that would end below the presentation minimum gets nothing.
"""

from __future__ import annotations

import time
from datetime import date

import numpy as np
import polars as pl

from forecast.allocation.demand import DemandModel
from forecast.allocation.inputs import AllocationProblem, build_problem
from forecast.allocation.results import AllocationResult, build_result, plan_total, rounded_outcome
from forecast.config import AllocationConfig

COVER_WEEKS = 2.0
RULE_LABELS = {"proportional": "proportional", "cover": f"{COVER_WEEKS:g} weeks of cover"}


def proportional_packs(problem: AllocationProblem) -> np.ndarray:
    """Packs per pair under the proportional rule."""
    art, store = problem.pair_article, problem.pair_store
    pack = problem.pack_size[art]
    total = np.bincount(art, weights=problem.pair_mean, minlength=problem.article_ids.size)
    share = np.divide(problem.pair_mean, total[art], out=np.zeros(problem.n_pairs), where=total[art] > 0)
    exact = problem.usable_units[art] * share / pack
    packs = _largest_remainder(art, exact, problem.usable_units // problem.pack_size)
    packs = _drop_below_minimum(problem, packs)
    wanted = np.bincount(store, weights=packs * pack, minlength=problem.store_ids.size)
    room = np.maximum(problem.residual_capacity, 0)
    factor = np.divide(room, wanted, out=np.ones(room.size), where=wanted > room)
    packs = np.floor(packs * np.minimum(factor, 1.0)[store] + 1e-9).astype(np.int64)
    return _drop_below_minimum(problem, packs)


def rule_profits(problem: AllocationProblem, demand: DemandModel) -> dict[str, float]:
    """Plan totals of the rules (`RULE_LABELS`) on the same problem and demand as the optimiser."""
    packs = {"proportional": proportional_packs(problem), "cover": cover_packs(problem, COVER_WEEKS)}
    return {name: plan_total(rounded_outcome(problem, demand, p)) for name, p in packs.items()}


def cover_packs(problem: AllocationProblem, cover: float = COVER_WEEKS) -> np.ndarray:
    """Packs per pair under the weeks-of-cover rule."""
    art = problem.pair_article
    pack = problem.pack_size[art]
    weekly = problem.pair_mean / max(len(problem.weeks), 1)
    target = np.maximum(np.ceil(cover * weekly - 1e-9), problem.presentation_min)
    wanted = -(-np.maximum(target - problem.pair_on_hand, 0).astype(np.int64) // pack)
    dc_left = problem.usable_units.copy()
    room = np.maximum(problem.residual_capacity, 0)
    demand = np.bincount(problem.pair_store, weights=problem.pair_mean, minlength=problem.store_ids.size)
    packs = np.zeros(problem.n_pairs, dtype=np.int64)
    for s in np.argsort(-demand, kind="stable"):
        idx = np.flatnonzero(problem.pair_store == s)  # by article, as pairs are sorted
        give = np.minimum(wanted[idx], dc_left[art[idx]] // pack[idx])
        fits = np.cumsum(give * pack[idx]) <= room[s]
        give = np.where(fits, give, 0)
        give = np.where(problem.pair_on_hand[idx] + give * pack[idx] >= problem.presentation_min, give, 0)
        packs[idx] = give
        np.subtract.at(dc_left, art[idx], give * pack[idx])
    return packs


def _largest_remainder(article: np.ndarray, exact: np.ndarray, total_packs: np.ndarray) -> np.ndarray:
    """Round pack shares down, then hand each article's leftover packs to its largest remainders."""
    packs = np.floor(exact + 1e-9).astype(np.int64)
    left = total_packs - np.bincount(article, weights=packs, minlength=total_packs.size).astype(np.int64)
    order = np.lexsort((-(exact - packs), article))  # by article, largest remainder first
    start = np.searchsorted(article[order], np.arange(total_packs.size))
    rank = np.arange(order.size) - start[article[order]]
    bump = (rank < left[article[order]]) & (exact[order] > 0)
    packs[order[bump]] += 1
    return packs


def _drop_below_minimum(problem: AllocationProblem, packs: np.ndarray) -> np.ndarray:
    units = packs * problem.pack_size[problem.pair_article]
    return np.where(problem.pair_on_hand + units >= problem.presentation_min, packs, 0)


def _rule_result(
    problem: AllocationProblem, packs: np.ndarray, name: str, started: float
) -> AllocationResult:
    demand = DemandModel.from_problem(problem)
    seconds = time.perf_counter() - started
    return build_result(
        problem, demand, packs, bound=float("nan"), solve_seconds=seconds, status="rule", method=name
    )


def plan_proportional(problem: AllocationProblem) -> AllocationResult:
    """The proportional rule's plan of a built problem (bound and gap are NaN)."""
    started = time.perf_counter()
    return _rule_result(problem, proportional_packs(problem), "proportional", started)


def plan_cover(problem: AllocationProblem, cover: float = COVER_WEEKS) -> AllocationResult:
    """The weeks-of-cover rule's plan of a built problem (`cover` weeks of mean demand)."""
    started = time.perf_counter()
    return _rule_result(problem, cover_packs(problem, cover), f"cover {cover:g} weeks", started)


def allocate_proportional(
    forecasts: pl.DataFrame,
    dc_stock: pl.DataFrame,
    stores: pl.DataFrame,
    store_stock: pl.DataFrame | None,
    config: AllocationConfig,
    *,
    week: date | None = None,
) -> AllocationResult:
    """Plan by the proportional rule; same inputs and result as `allocate` (bound and gap are NaN)."""
    return plan_proportional(build_problem(forecasts, dc_stock, stores, store_stock, config, week=week))


def allocate_cover(
    forecasts: pl.DataFrame,
    dc_stock: pl.DataFrame,
    stores: pl.DataFrame,
    store_stock: pl.DataFrame | None,
    config: AllocationConfig,
    *,
    week: date | None = None,
    cover: float = COVER_WEEKS,
) -> AllocationResult:
    """Plan by the weeks-of-cover rule (`cover` weeks of mean demand);
    same inputs and result as `allocate`."""
    problem = build_problem(forecasts, dc_stock, stores, store_stock, config, week=week)
    return plan_cover(problem, cover)
