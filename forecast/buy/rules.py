"""Planners' buying rules, the yardsticks of a buy: order the category mean, or the mean of the k articles
that share most attributes (the attribute-kNN analogue baseline), each also at its analogues' fractile (the
empirical critical-fractile quantile of the analogues' season totals).

Every rule reads only the articles whose season ended by each article's decision date, like the model.

Examples
--------
>>> from datetime import date
>>> bank = pl.DataFrame({"category": ["a", "a", "b"], "_launch": [date(2024, 1, 1)] * 3,
...     "_end": [date(2024, 2, 1)] * 3, "total": [10.0, 30.0, 5.0]})
>>> query = pl.DataFrame({"category": ["a"], "_day": [date(2024, 3, 1)]})
>>> rule_orders(query, bank, ["category"], k=2, tau=np.array([0.5]))["category_mean"].tolist()
[20.0]
"""

from __future__ import annotations

import numpy as np
import polars as pl

from forecast.features import launch as cf

RULES = ("category_mean", "category_fractile", "knn_mean", "knn_fractile")
CHUNK_CELLS = 4_000_000


def _fractile(values: np.ndarray, tau: np.ndarray) -> np.ndarray:
    """Row-wise empirical tau-quantile of `values` (NaN = absent), the smallest value reaching tau."""
    ordered = np.sort(values, axis=1)  # NaN last
    n = np.isfinite(ordered).sum(axis=1)
    index = np.clip(np.ceil(tau * n - 1e-9).astype(np.int64) - 1, 0, np.maximum(n - 1, 0))
    chosen = np.take_along_axis(ordered, index[:, None], axis=1)[:, 0]
    return np.asarray(np.where(n > 0, chosen, np.nan))


def rule_orders(
    query: pl.DataFrame, bank: pl.DataFrame, attributes: list[str], k: int, tau: np.ndarray
) -> dict[str, np.ndarray]:
    """Units each rule orders for the rows of `query` (``_day`` = decision date, `attributes`).

    `bank` holds sold-out articles: ``_launch``, ``_end``, ``total`` and the attributes; a bank article is
    read by a query only when its season ended on or before the query's ``_day``. Ties among equally similar
    analogues go to the most recent launch. A query with no eligible analogue orders the mean of all.
    """
    end, totals = cf.days(bank["_end"]), bank["total"].to_numpy().astype(np.float64)
    launch = cf.days(bank["_launch"]).astype(np.float64)
    recency = 0.5 * (launch - launch.min()) / max(1.0, float(launch.max() - launch.min()))
    codes = [cf._codes(query[c], bank[c]) for c in attributes]
    category = codes[attributes.index("category")] if "category" in attributes else codes[0]
    day = cf.days(query["_day"])
    out = {name: np.full(query.height, np.nan) for name in RULES}
    step = max(1, CHUNK_CELLS // max(1, bank.height))
    kk = min(k, bank.height)
    for lo in range(0, query.height, step):
        rows = slice(lo, lo + step)
        eligible = end[None, :] <= day[rows, None]
        same = eligible & (category[0][rows, None] == category[1][None, :])
        cat_values = np.where(same, totals[None, :], np.nan)
        all_values = np.where(eligible, totals[None, :], np.nan)
        with np.errstate(all="ignore"):
            fallback = np.nanmean(all_values, axis=1)
            out["category_mean"][rows] = np.where(same.any(axis=1), np.nanmean(cat_values, axis=1), fallback)
        out["category_fractile"][rows] = np.where(
            same.any(axis=1), _fractile(cat_values, tau[rows]), _fractile(all_values, tau[rows])
        )
        score = np.zeros(eligible.shape)
        for q_code, b_code in codes:
            score += (q_code[rows, None] == b_code[None, :]) & (q_code[rows, None] >= 0)
        score = np.where(eligible, score + recency[None, :], -np.inf)
        top = np.argpartition(-score, kk - 1, axis=1)[:, :kk]
        best = np.take_along_axis(score, top, axis=1)
        values = np.where(np.isfinite(best), totals[top], np.nan)
        with np.errstate(all="ignore"):
            out["knn_mean"][rows] = np.nanmean(values, axis=1)
        out["knn_fractile"][rows] = _fractile(values, tau[rows])
    return {name: np.nan_to_num(np.clip(v, 0.0, None)) for name, v in out.items()}
