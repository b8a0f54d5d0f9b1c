"""Demand distributions of the allocation period and the expected sales they imply.

A pair with only a mean has Poisson(mean) demand. A pair with quantiles has a continuous demand whose CDF is
piecewise linear through the quantile points, with two tails: below the lowest quantile the first
segment's density continues down to zero demand (a mass at zero when it would cross zero); above the highest
quantile the density halves (fashion demand is right-skewed) and reaches 1 at least one unit further.

Expected sales with stock ``y`` are ``E[min(D, y)] = ∫_0^y P(D > t) dt``, exact in both cases: for Poisson
``y·P(D >= y) + mean·P(D <= y - 2)``, for the quantile distribution a sum of trapezoids.
"""

from __future__ import annotations

import numpy as np

from forecast.allocation.inputs import AllocationProblem

# a unit whose chance of selling is below this adds nothing worth a variable, even when it costs nothing
MIN_SELL_PROBABILITY = 1e-6
_TAIL_MIN_UNITS = 1.0


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
        self.mean = np.asarray(mean, dtype=float)
        n = self.mean.size
        has_q = values.shape[1] >= 2 if values.ndim == 2 else False
        self.is_quantile = ~np.isnan(values).any(axis=1) if has_q else np.zeros(n, dtype=bool)
        self.knot_row = np.full(n, -1, dtype=np.int64)
        self.knot_row[self.is_quantile] = np.arange(int(self.is_quantile.sum()))
        if self.is_quantile.any():
            self.knots_t, self.knots_s, self.knots_c = _knots(levels, values[self.is_quantile])

    @classmethod
    def from_problem(cls, problem: AllocationProblem) -> DemandModel:
        return cls(problem.pair_mean, problem.quantile_levels, problem.quantile_values)

    def expected_sales(self, pair: np.ndarray, stock_units: np.ndarray) -> np.ndarray:
        """E[min(D, stock)] for each (pair, stock) element; stock in whole units."""
        pair = np.asarray(pair, dtype=np.int64)
        stock = np.asarray(stock_units, dtype=float)
        out = np.empty(stock.shape, dtype=float)
        quant = self.is_quantile[pair]
        if (~quant).any():
            out[~quant] = _poisson_sales(self.mean[pair[~quant]], stock[~quant])
        if quant.any():
            rows = self.knot_row[pair[quant]]
            out[quant] = _knot_sales(self.knots_t[rows], self.knots_s[rows], self.knots_c[rows], stock[quant])
        return out

    def max_useful_units(self, pair: np.ndarray, threshold: np.ndarray) -> np.ndarray:
        """Stock beyond which an extra unit sells with probability <= `threshold` (at least the minimum)."""
        pair = np.asarray(pair, dtype=np.int64)
        level = 1.0 - np.maximum(threshold, MIN_SELL_PROBABILITY)
        out = np.zeros(pair.size, dtype=np.int64)
        quant = self.is_quantile[pair]
        poisson = ~quant
        if poisson.any():
            from scipy import stats  # imported here: scipy.stats costs ~2 s at start-up

            out[poisson] = stats.poisson.ppf(level[poisson], self.mean[pair[poisson]]).astype(np.int64) + 1
        if quant.any():
            rows = self.knot_row[pair[quant]]
            out[quant] = np.ceil(self.knots_t[rows, -1]).astype(np.int64)
        return np.maximum(out, 0)


def _poisson_sales(mean: np.ndarray, stock: np.ndarray) -> np.ndarray:
    stock = np.maximum(stock, 0.0)
    from scipy import stats  # imported here: scipy.stats costs ~2 s at start-up

    at_least = stats.poisson.sf(stock - 1, mean)
    below = stats.poisson.cdf(stock - 2, mean)
    return np.asarray(stock * at_least + mean * below, dtype=float)


def _knots(levels: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Knot positions, survival values and the running integral of survival for each row of quantiles."""
    lo_v, lo_next = values[:, 0], values[:, 1]
    width_lo = levels[0] * (lo_next - lo_v) / (levels[1] - levels[0])
    start = np.maximum(lo_v - width_lo, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        cdf_zero = np.where(lo_v - width_lo >= 0, 0.0, levels[0] * (1 - lo_v / width_lo))
    hi_v, hi_prev = values[:, -1], values[:, -2]
    width_hi = 2 * (1 - levels[-1]) * (hi_v - hi_prev) / (levels[-1] - levels[-2])
    end = hi_v + np.maximum(width_hi, _TAIL_MIN_UNITS)
    n = values.shape[0]
    knots_t = np.column_stack([np.zeros(n), start, values, end])
    cdf = np.column_stack([cdf_zero, cdf_zero, np.broadcast_to(levels, values.shape), np.ones(n)])
    surv = 1.0 - cdf
    pieces = np.diff(knots_t, axis=1) * (surv[:, 1:] + surv[:, :-1]) / 2
    cum = np.column_stack([np.zeros(n), np.cumsum(pieces, axis=1)])
    return knots_t, surv, cum


def _knot_sales(knots_t: np.ndarray, surv: np.ndarray, cum: np.ndarray, stock: np.ndarray) -> np.ndarray:
    y = np.maximum(stock, 0.0)[:, None]
    last = knots_t.shape[1] - 1
    seg = np.clip((knots_t <= y).sum(axis=1) - 1, 0, last)
    rows = np.arange(seg.size)
    nxt = np.minimum(seg + 1, last)
    t0, t1 = knots_t[rows, seg], knots_t[rows, nxt]
    s0, s1 = surv[rows, seg], surv[rows, nxt]
    dy = y[:, 0] - t0
    with np.errstate(divide="ignore", invalid="ignore"):
        s_y = np.where(t1 > t0, s0 + (s1 - s0) * dy / (t1 - t0), 0.0)
    inside = seg < last
    return np.where(inside, cum[rows, seg] + dy * (s0 + s_y) / 2, cum[rows, last])
