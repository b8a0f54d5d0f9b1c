"""Demand of the allocation period per store × article, and the expected sales it implies.

The distribution is `forecast.distribution.DemandDistribution`, the one the backtest and the plan read:
Poisson(mean) for a mean-only forecast, else the piecewise-linear quantile function through the forecast's
quantiles with tails fitted so that its mean is the forecast mean. Expected sales with stock ``y`` are
``E[min(D, y)]``, exact for both kinds.
"""

from __future__ import annotations

import numpy as np

from forecast.allocation.inputs import AllocationProblem
from forecast.distribution import DemandDistribution

# a unit whose chance of selling is below this adds nothing worth a variable, even when it costs nothing
MIN_SELL_PROBABILITY = 1e-6


class DemandModel:
    """Demand of every pair of an `AllocationProblem`.

    Examples
    --------
    >>> import numpy as np
    >>> model = DemandModel(np.array([2.0]), np.array([0.1, 0.5, 0.9]), np.full((1, 3), np.nan))
    >>> round(float(model.expected_sales(np.array([0]), np.array([1]))[0]), 4)  # P(D >= 1) for Poisson(2)
    0.8647
    """

    def __init__(self, mean: np.ndarray, levels: np.ndarray, values: np.ndarray) -> None:
        has_quantiles = values.ndim == 2 and values.shape[1] >= 2
        if has_quantiles:
            self.distribution = DemandDistribution.build(mean, levels, values)
        else:
            self.distribution = DemandDistribution.build(mean)
        self.mean = self.distribution.mean
        self.is_quantile = ~self.distribution.poisson

    @classmethod
    def from_problem(cls, problem: AllocationProblem) -> DemandModel:
        return cls(problem.pair_mean, problem.quantile_levels, problem.quantile_values)

    def expected_sales(self, pair: np.ndarray, stock_units: np.ndarray) -> np.ndarray:
        """E[min(D, stock)] for each (pair, stock) element."""
        return self.distribution.expected_sales(np.asarray(stock_units, dtype=float), np.asarray(pair))

    def max_useful_units(self, pair: np.ndarray, threshold: np.ndarray) -> np.ndarray:
        """Whole units beyond which an extra unit sells with probability <= `threshold` (at least the
        minimum): ``Q(1 − threshold)`` rounded up (Poisson: its quantile plus one)."""
        pair = np.asarray(pair, dtype=np.int64)
        level = np.clip(1.0 - np.maximum(threshold, MIN_SELL_PROBABILITY), 0.0, 1.0)
        rows = self.distribution.subset(pair)
        limit = rows.quantile(level)
        limit = np.where(rows.poisson, limit + 1, np.ceil(limit - 1e-9))
        return np.maximum(limit, 0).astype(np.int64)
