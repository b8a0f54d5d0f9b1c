"""The demand distribution of a forecast row: one definition read by the backtest, the allocator and the plan.

A row gives a ``mean`` and, usually, quantiles ``q10``, ``q50``, ``q90`` (any ``qNN`` columns, levels
``l_1 < ... < l_k``). Its demand D is:

- **mean only** (no quantile columns, fewer than two, or a null quantile in the row): D ~ Poisson(mean).
- **with quantiles**: D has the piecewise-linear quantile function Q through the points
  ``(0, a), (l_1, q_1), ..., (l_k, q_k), (1, b)``: between two quantiles D is spread uniformly over the
  values between them, and a flat stretch of Q (``q10 = q50 = 0``, say) is a mass at that value. The two tail
  ends are chosen so that the distribution's mean, ``∫_0^1 Q(u) du``, equals the row's ``mean``:

  1. start from the tails that continue the outer segments' slopes: ``a0 = max(0, q_1 − l_1·s_lo)`` and
     ``b0 = q_k + (1 − l_k)·s_hi`` (``s_lo``, ``s_hi``: slopes of the first and last segments);
  2. mean above that: the upper end ``b`` moves up (demand is right-skewed; an intermittent row with
     ``q90 = 0`` and ``mean = 0.3`` is a 90% mass at zero and 10% spread over 0..6);
  3. mean below it: ``b`` moves down towards ``q_k``, then ``a`` down towards 0;
  4. mean below even that (``a = 0``, ``b = q_k``; e.g. ``mean < q10``): the quantiles cannot hold the
     mean, so they are **scaled down** by the same factor until they can, and the scaled quantiles are what
     the row carries from then on. The mean is the forecast the accuracy metrics score and the plan prints as
     ``demand_mean``, so it is kept; the quantiles give the shape.

Before that, quantiles are made valid: negative values become 0 and crossing quantiles are sorted
(the rearrangement of Chernozhukov et al.), so ``q10 <= q50 <= q90`` on every row.

What each reader takes from the distribution:

- the newsvendor backtest stocks ``Q(tau)``, tau the critical fractile (`forecast.business`);
- the allocator and the plan use ``E[min(D, y)]`` for a stock of ``y`` units, exact for both kinds:
  ``∫_0^1 min(Q(u), y) du`` (a sum over the linear pieces) and, for Poisson,
  ``y·P(D >= y) + mean·P(D <= y − 2)``. Since the distribution's mean is ``mean``,
  ``E[min(D, y)] <= min(mean, y)`` always.

`coherent_forecasts` applies the quantile rules to a forecasts frame; every forecast, in the backtest and in
production, passes through it, so the rows written to ``forecasts.csv`` are the distributions used.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from forecast.contracts import quantile_columns

MIN_QUANTILES = 2


@dataclass(frozen=True)
class Coherence:
    """What `coherent_forecasts` changed: rows whose quantiles crossed (sorted) and rows whose quantiles were
    scaled down to hold the mean."""

    rows: int = 0
    reordered: int = 0
    lowered: int = 0

    def warnings(self, what: str = "forecast rows") -> list[str]:
        out = []
        if self.reordered:
            out.append(f"{self.reordered:,} of {self.rows:,} {what} had crossing quantiles; sorted them")
        if self.lowered:
            out.append(
                f"{self.lowered:,} of {self.rows:,} {what} had quantiles too high for their mean "
                "(e.g. mean < q10); scaled them down so the demand distribution's mean is the forecast mean"
            )
        return out


def _tail_terms(levels: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Mean of Q without its tail ends (``C``) and the weights of ``a``, ``b``: mean = C + w_a·a + w_b·b."""
    inner = np.diff(levels) * (values[:, 1:] + values[:, :-1]) / 2
    w_a, w_b = levels[0] / 2, (1 - levels[-1]) / 2
    return inner.sum(axis=1) + w_a * values[:, 0] + w_b * values[:, -1], float(w_a), float(w_b)


def _default_tails(levels: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    slope_lo = (values[:, 1] - values[:, 0]) / (levels[1] - levels[0])
    slope_hi = (values[:, -1] - values[:, -2]) / (levels[-1] - levels[-2])
    a0 = np.maximum(values[:, 0] - levels[0] * slope_lo, 0.0)
    return a0, values[:, -1] + (1 - levels[-1]) * slope_hi


def lowest_mean(levels: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The smallest mean the quantiles allow (``a = 0``, ``b = q_k``)."""
    base, _, w_b = _tail_terms(levels, values)
    return base + w_b * values[:, -1]


def raise_mean_to_quantiles(forecasts: pl.DataFrame, mean_col: str = "mean") -> pl.DataFrame:
    """`forecasts` with each row's mean raised, where it is lower, to the smallest mean its (valid) quantiles
    can hold, so `coherent_forecasts` keeps the quantiles as they are instead of scaling them down (step 4).

    For a model whose quantiles are its better estimate, the cold-start model's: its median is learnt with the
    absolute loss and is the point forecast for WAPE, its mean (Tweedie) on few, skewed launches often falls
    below even its q10, which no non-negative demand allows.

    Examples
    --------
    >>> rows = pl.DataFrame({"mean": [1.0, 5.0], "q10": [2.0, 1.0], "q50": [3.0, 4.0], "q90": [4.0, 6.0]})
    >>> raise_mean_to_quantiles(rows)["mean"].round(6).to_list()
    [2.9, 5.0]
    """
    qcols = quantile_columns(forecasts.columns)
    if forecasts.height == 0 or len(qcols) < MIN_QUANTILES or mean_col not in forecasts.columns:
        return forecasts
    names, levels = list(qcols), np.array(list(qcols.values()))
    values = forecasts.select(pl.col(names).cast(pl.Float64)).to_numpy()
    mean = forecasts[mean_col].cast(pl.Float64).to_numpy()
    known = ~(np.isnan(values).any(axis=1) | np.isnan(mean))
    floor = np.full(len(mean), -np.inf)
    floor[known] = lowest_mean(levels, valid_quantiles(values[known]))
    raised = np.where(known, np.maximum(mean, floor), mean)
    return forecasts.with_columns(pl.Series(mean_col, raised, dtype=pl.Float64))


def coherent_rows(
    mean: np.ndarray, levels: np.ndarray, values: np.ndarray, *, keep: str = "mean"
) -> tuple[np.ndarray, np.ndarray]:
    """A model's mean and quantiles (rows × `levels`) made one demand distribution where they are built.

    The rule `coherent_forecasts` checks, applied at the source: the mean and the quantiles are clipped at 0
    and the quantiles sorted per row; where the mean is below the lowest mean the quantiles allow
    (`lowest_mean`), ``keep="mean"`` scales that row's quantiles down by the factor `fit_tails` would use
    (the mean is the point forecast and stays), ``keep="quantiles"`` raises the mean to that lowest mean
    (`raise_mean_to_quantiles`, for a model whose quantiles are its better estimate). Rows with a NaN keep it.

    Examples
    --------
    >>> levels = np.array([0.1, 0.5, 0.9])
    >>> mean, q = coherent_rows(np.array([1.45]), levels, np.array([[4.0, 3.0, -2.0]]))
    >>> mean.tolist(), q.round(6).tolist()
    ([1.45], [[0.0, 1.8125, 2.416667]])
    >>> raised, _ = coherent_rows(np.array([1.0]), levels, np.array([[2.0, 3.0, 4.0]]), keep="quantiles")
    >>> raised.round(6).tolist()
    [2.9]
    """
    if keep not in ("mean", "quantiles"):
        msg = f"keep must be 'mean' or 'quantiles', got {keep!r}"
        raise ValueError(msg)
    mean = np.asarray(mean, dtype=np.float64).reshape(-1)
    values = np.asarray(values, dtype=np.float64).reshape(mean.size, len(levels))
    mean = np.where(np.isnan(mean), mean, np.maximum(mean, 0.0))
    values = np.where(np.isnan(values), values, np.maximum(values, 0.0))
    rows = ~(np.isnan(values).any(axis=1) | np.isnan(mean))
    if len(levels) < MIN_QUANTILES or not rows.any():
        return mean, values
    valid = np.sort(values[rows], axis=1)
    if keep == "quantiles":
        mean[rows] = np.maximum(mean[rows], lowest_mean(np.asarray(levels, dtype=float), valid))
    else:
        valid = fit_tails(mean[rows], np.asarray(levels, dtype=float), valid)[0]
    values[rows] = valid
    return mean, values


def ordered_around(values: np.ndarray, middle: int) -> np.ndarray:
    """Quantile columns made non-decreasing while column `middle` (the median) stays as it is: each column
    below it is at most the next one, each above it at least the previous one (shifted bands keep their side).

    Examples
    --------
    >>> ordered_around(np.array([[5.0, 4.0, 3.0]]), 1).tolist()
    [[4.0, 4.0, 4.0]]
    """
    below = np.minimum.accumulate(values[:, middle::-1], axis=1)[:, ::-1]
    above = np.maximum.accumulate(values[:, middle:], axis=1)
    return np.column_stack([below[:, :middle], above])


def valid_quantiles(values: np.ndarray) -> np.ndarray:
    """Quantiles clipped at 0 and sorted along each row."""
    return np.sort(np.maximum(values, 0.0), axis=1)


def fit_tails(
    mean: np.ndarray, levels: np.ndarray, values: np.ndarray, decimals: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Tail ends so that each row's distribution has mean `mean` (module docstring, steps 1-4).

    `values` must be valid (`valid_quantiles`). Returns ``(values, a, b, lowered)``: the quantiles (scaled
    down where step 4 applied, flagged in `lowered`; rounded down to `decimals` there, so the rounded row
    still holds its mean) and the tail ends.
    """
    mean = np.maximum(np.asarray(mean, dtype=float), 0.0)
    floor_mean = lowest_mean(levels, values)
    lowered = mean < floor_mean * (1 - 1e-12) - 1e-12
    if lowered.any():
        factor = np.where(lowered, mean / np.where(floor_mean > 0, floor_mean, 1.0), 1.0)
        scaled = values * factor[:, None]
        if decimals is not None:
            step = 10.0**decimals
            # down, so the rounded row still holds the mean (the epsilon absorbs float noise like 0.99999...)
            scaled = np.where(lowered[:, None], np.floor(scaled * step + 1e-9) / step, scaled)
        values = np.where(lowered[:, None], scaled, values)
    base, w_a, w_b = _tail_terms(levels, values)
    a0, b0 = _default_tails(levels, values)
    top = values[:, -1]
    mean_default = base + w_a * a0 + w_b * b0
    mean_flat_top = base + w_a * a0 + w_b * top
    b = np.where(
        mean >= mean_default,
        b0 + (mean - mean_default) / w_b,
        np.where(mean >= mean_flat_top, (mean - base - w_a * a0) / w_b, top),
    )
    a = np.where(mean >= mean_flat_top, a0, np.clip((mean - base - w_b * top) / w_a, 0.0, a0))
    return values, a, np.maximum(b, top), lowered


@dataclass(frozen=True)
class DemandDistribution:
    """The demand of `n` rows: Poisson(`mean`) where `poisson`, else the quantile function through
    `knot_values` (n × K) at `knot_levels` (K: 0, the quantile levels, 1).

    Examples
    --------
    >>> d = DemandDistribution.build(np.array([5.0]), np.array([0.1, 0.5, 0.9]), np.array([[2.0, 4.0, 7.0]]))
    >>> round(float(d.distribution_mean()[0]), 9)
    5.0
    >>> float(d.quantile(np.array([0.5]))[0])
    4.0
    """

    mean: np.ndarray
    poisson: np.ndarray
    knot_levels: np.ndarray
    knot_values: np.ndarray

    @property
    def size(self) -> int:
        return int(self.mean.size)

    @classmethod
    def build(
        cls, mean: np.ndarray, levels: np.ndarray | None = None, values: np.ndarray | None = None
    ) -> DemandDistribution:
        """Distributions from means and quantiles (levels (k,), values (n, k)); a row with a NaN: Poisson."""
        mean = np.maximum(np.nan_to_num(np.asarray(mean, dtype=float)), 0.0)
        n = mean.size
        if levels is None or values is None or len(levels) < MIN_QUANTILES:
            return cls(mean, np.ones(n, dtype=bool), np.array([0.0, 1.0]), np.full((n, 2), np.nan))
        levels = np.asarray(levels, dtype=float)
        values = np.asarray(values, dtype=float).reshape(n, levels.size)
        poisson = np.isnan(values).any(axis=1)
        knots = np.full((n, levels.size + 2), np.nan)
        rows = ~poisson
        if rows.any():
            fitted, a, b, _ = fit_tails(mean[rows], levels, valid_quantiles(values[rows]))
            knots[rows] = np.column_stack([a, fitted, b])
        return cls(mean, poisson, np.concatenate([[0.0], levels, [1.0]]), knots)

    @classmethod
    def from_frame(cls, frame: pl.DataFrame, mean_col: str = "mean") -> DemandDistribution:
        """Distributions of the rows of a forecasts frame (its ``qNN`` columns, if any)."""
        qcols = quantile_columns(frame.columns)
        mean = frame[mean_col].cast(pl.Float64).fill_null(0.0).to_numpy()
        if len(qcols) < MIN_QUANTILES:
            return cls.build(mean)
        values = frame.select(pl.col(list(qcols)).cast(pl.Float64)).to_numpy()
        return cls.build(mean, np.array(list(qcols.values())), values)

    def subset(self, rows: np.ndarray) -> DemandDistribution:
        return DemandDistribution(
            self.mean[rows], self.poisson[rows], self.knot_levels, self.knot_values[rows]
        )

    def distribution_mean(self) -> np.ndarray:
        """``∫ Q(u) du`` per row (the Poisson rows' mean): equals `mean` by construction."""
        pieces = np.diff(self.knot_levels) * (self.knot_values[:, 1:] + self.knot_values[:, :-1]) / 2
        return np.where(self.poisson, self.mean, np.nan_to_num(pieces.sum(axis=1)))

    def quantile(self, tau: np.ndarray) -> np.ndarray:
        """The tau-quantile of each row (`tau` per row)."""
        tau = np.clip(np.broadcast_to(np.asarray(tau, dtype=float), self.mean.shape), 0.0, 1.0)
        out = np.empty(self.size)
        if self.poisson.any():
            out[self.poisson] = poisson_quantile(self.mean[self.poisson], tau[self.poisson])
        rows = ~self.poisson
        if rows.any():
            out[rows] = _knot_quantile(self.knot_levels, self.knot_values[rows], tau[rows])
        return out

    def expected_sales(self, stock: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        """``E[min(D, stock)]`` per element; `rows` picks the row of each element (default: one per row)."""
        rows = np.arange(self.size) if rows is None else np.asarray(rows, dtype=np.int64)
        stock = np.maximum(np.asarray(stock, dtype=float), 0.0)
        out = np.empty(stock.shape)
        pois = self.poisson[rows]
        if pois.any():
            out[pois] = _poisson_sales(self.mean[rows[pois]], stock[pois])
        if (~pois).any():
            out[~pois] = _knot_sales(self.knot_levels, self.knot_values[rows[~pois]], stock[~pois])
        # exact in theory; the clip removes float noise so E[min(D, y)] <= min(mean, y) holds to the bit
        return np.minimum(np.minimum(out, stock), self.mean[rows])


def poisson_quantile(mean: np.ndarray, tau: np.ndarray) -> np.ndarray:
    """The tau-quantile of Poisson(mean) (0 where mean <= 0 or tau <= 0).

    Examples
    --------
    >>> poisson_quantile(np.array([2.0]), np.array([0.5])).tolist()
    [2.0]
    """
    mean = np.asarray(mean, dtype=float)
    tau = np.asarray(tau, dtype=float)
    from scipy import stats  # imported here: scipy.stats is slow to import

    out = stats.poisson.ppf(np.clip(tau, 0.0, 1.0 - 1e-12), np.maximum(mean, 0.0))
    out = np.where((mean <= 0) | (tau <= 0) | ~np.isfinite(out), 0.0, out)
    return np.asarray(out, dtype=float)


def _poisson_sales(mean: np.ndarray, stock: np.ndarray) -> np.ndarray:
    from scipy import stats  # imported here: scipy.stats is slow to import

    whole = np.floor(stock)
    at_least = stats.poisson.sf(whole - 1, mean)
    below = stats.poisson.cdf(whole - 2, mean)
    # a fraction of a unit on top sells when demand exceeds the whole units
    part = (stock - whole) * stats.poisson.sf(whole, mean)
    return np.asarray(whole * at_least + mean * below + part, dtype=float)


def _knot_quantile(levels: np.ndarray, values: np.ndarray, tau: np.ndarray) -> np.ndarray:
    seg = np.clip(np.searchsorted(levels, tau, side="right") - 1, 0, levels.size - 2)
    rows = np.arange(values.shape[0])
    u0, u1 = levels[seg], levels[seg + 1]
    v0, v1 = values[rows, seg], values[rows, seg + 1]
    return np.asarray(v0 + (v1 - v0) * (tau - u0) / (u1 - u0), dtype=float)


def _knot_sales(levels: np.ndarray, values: np.ndarray, stock: np.ndarray) -> np.ndarray:
    """``∫_0^1 min(Q(u), y) du`` for piecewise-linear Q: each piece is below y, above it, or crosses it."""
    y = stock[:, None]
    width = np.diff(levels)[None, :]
    v0, v1 = values[:, :-1], values[:, 1:]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        below = np.clip((y - v0) / (v1 - v0), 0.0, 1.0)  # share of the piece where Q < y
    crossing = width * (below * (v0 + y) / 2 + (1 - below) * y)
    piece = np.where(y >= v1, width * (v0 + v1) / 2, np.where(y <= v0, width * y, crossing))
    return np.asarray(piece.sum(axis=1), dtype=float)


def coherent_forecasts(
    forecasts: pl.DataFrame, *, decimals: int | None = None, mean_col: str = "mean"
) -> tuple[pl.DataFrame, Coherence]:
    """Forecast rows whose mean and quantiles form one distribution (module docstring).

    Means and quantiles below 0 become 0, crossing quantiles are sorted and quantiles that cannot hold the
    mean are scaled down; with `decimals`, the values are also rounded (quantiles scaled down are rounded
    down, so every rounded row still holds its mean; a row that held its mean before rounding keeps its
    rounded quantiles and its mean goes up by at most one step of the grid instead). Rows with a null mean or
    quantile keep their nulls.

    Examples
    --------
    >>> rows = pl.DataFrame({"mean": [1.45, 5.0], "q10": [2.0, 1.0], "q50": [3.0, 6.0], "q90": [4.0, 4.0]})
    >>> fixed, info = coherent_forecasts(rows, decimals=2)  # row 1 cannot hold 1.45 (at least 2.9): halved
    >>> fixed["q10"].to_list(), fixed["q50"].to_list(), fixed["q90"].to_list(), info.lowered, info.reordered
    ([1.0, 1.0], [1.5, 4.0], [2.0, 6.0], 1, 1)
    """
    qcols = quantile_columns(forecasts.columns)
    if forecasts.height == 0 or mean_col not in forecasts.columns:
        return forecasts, Coherence()
    mean_expr = pl.col(mean_col).cast(pl.Float64).clip(lower_bound=0.0)
    if decimals is not None:
        mean_expr = mean_expr.round(decimals)
    out = forecasts.with_columns(mean_expr)
    if len(qcols) < MIN_QUANTILES:
        rounded = [pl.col(q).cast(pl.Float64).clip(lower_bound=0.0) for q in qcols]
        if decimals is not None:
            rounded = [expr.round(decimals) for expr in rounded]
        return out.with_columns(rounded), Coherence(rows=out.height)
    names, levels = list(qcols), np.array(list(qcols.values()))
    raw = out.select(pl.col(names).cast(pl.Float64)).to_numpy()
    mean = out[mean_col].to_numpy().astype(float)
    rows = ~(np.isnan(raw).any(axis=1) | np.isnan(mean))
    clipped = np.maximum(raw[rows], 0.0)
    valid = valid_quantiles(clipped)
    reordered = int((valid != clipped).any(axis=1).sum())
    if decimals is not None:
        exact = np.maximum(forecasts[mean_col].cast(pl.Float64).to_numpy()[rows], 0.0)
        held = exact >= lowest_mean(levels, valid) * (1 - 1e-12) - 1e-12
        valid = np.round(valid, decimals)
        # a row that held its mean before rounding keeps its quantiles: its mean goes up to the grid step
        # that the rounded quantiles hold (at most one step), rather than every quantile being scaled down
        floor = lowest_mean(levels, valid)
        step = 10.0**decimals
        bump = held & (mean[rows] < floor * (1 - 1e-12) - 1e-12)
        mean[np.flatnonzero(rows)[bump]] = np.ceil(floor[bump] * step - 1e-9) / step
    fitted, _, _, lowered = fit_tails(mean[rows], levels, valid, decimals)
    values = raw.copy()
    values[rows] = fitted
    columns = [pl.Series(name, values[:, i], dtype=pl.Float64) for i, name in enumerate(names)]
    out = out.with_columns(pl.Series(mean_col, mean, dtype=pl.Float64), *columns)
    out = out.with_columns(pl.col(names).fill_nan(None), pl.col(mean_col).fill_nan(None))
    return out, Coherence(rows=out.height, reordered=reordered, lowered=int(lowered.sum()))
