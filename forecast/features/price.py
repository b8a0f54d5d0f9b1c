"""Price features of a target week, from the prices a `SeriesMatrix` knows at the origin.

A row (series, origin ``o``, horizon ``h``) reads the price of its target week ``o + h``: the panel's
(charged) when the target is inside the history, the plan's (`forecast.features.matrix.with_plan`) when it is
after the origin. A price plan is known at the origin, so reading it is no leak; realised sales after the
origin never enter. The recent price reads weeks ``<= o`` only.

- ``f_price_rel_list``: target price over the series' list price.
- ``f_price_rel_recent``: target price over the mean price of the 13 weeks to the origin.
- ``f_discount``: 1 - ``f_price_rel_list``, clipped to [0, 1].
- ``f_markdown_weeks``: weeks the current markdown has run at the target week (0 at full price).
- ``f_promo``: the target week's promotion flag.

`MONOTONE` gives each feature's sign for a monotone model: a lower price (a deeper discount, a promotion)
never forecasts less demand. ``f_markdown_weeks`` is constrained too (+1): lowering a full-price week of the
plan starts or lengthens a markdown run and never shortens one, so a model free in it could forecast less at
a lower price; the decline of an article late in its life is left to its age and recent sales instead.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from forecast.features.matrix import PriceBlock, SeriesMatrix

RECENT_WEEKS = 13  # the window of the series' recent price
MARKED_DOWN = 0.01  # a price this share or more below the list price is a markdown
MONOTONE: dict[str, int] = {
    "f_price_rel_list": -1,
    "f_price_rel_recent": -1,
    "f_discount": 1,
    "f_markdown_weeks": 1,
    "f_promo": 1,
}
PRICE_FEATURES = list(MONOTONE)


@dataclass(frozen=True)
class PriceState:
    """Per-matrix arrays the price features read: relative price and markdown run length by column."""

    block: PriceBlock
    rel_list: np.ndarray  # series × columns
    run: np.ndarray  # series × columns: consecutive marked-down weeks ending at the column


def price_state(m: SeriesMatrix) -> PriceState | None:
    """The price arrays of `m` (None when the matrix has no prices)."""
    if m.prices is None:
        return None
    block = m.prices
    with np.errstate(invalid="ignore", divide="ignore"):
        rel = block.price / block.list_price[:, None]
    marked = np.nan_to_num(rel, nan=1.0) < 1.0 - MARKED_DOWN
    run = np.zeros(marked.shape)
    for col in range(marked.shape[1]):
        previous = run[:, col - 1] if col else 0.0
        run[:, col] = np.where(marked[:, col], previous + 1.0, 0.0)
    return PriceState(block, rel, run)


def price_features(state: PriceState, o: int, h: int) -> dict[str, np.ndarray]:
    """The `PRICE_FEATURES` of every series for origin column `o` and horizon `h`.

    A target beyond the known columns reads the last one (the last known price carried forward).
    """
    last = state.rel_list.shape[1] - 1
    target = min(o + h, last)
    price = state.block.price
    recent = price[:, max(o + 1 - RECENT_WEEKS, 0) : min(o, last) + 1]
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean_recent = np.nanmean(recent, axis=1) if recent.shape[1] else np.full(price.shape[0], np.nan)
        rel_recent = price[:, target] / mean_recent
    rel = state.rel_list[:, target]
    return {
        "f_price_rel_list": rel,
        "f_price_rel_recent": rel_recent,
        "f_discount": np.clip(1.0 - rel, 0.0, 1.0),
        "f_markdown_weeks": state.run[:, target],
        "f_promo": state.block.promo[:, target],
    }


def monotone_signs(names: list[str]) -> list[int]:
    """The monotone constraint of each feature in `names` (0 = free).

    Examples
    --------
    >>> monotone_signs(["f_lag_1", "f_discount", "f_price_rel_list"])
    [0, 1, -1]
    """
    return [MONOTONE.get(name, 0) for name in names]
