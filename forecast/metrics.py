"""Accuracy metrics: frames in, numbers (or frames) out.

Every metric takes a frame and the names of its columns, with defaults matching the forecasts contract
(``units`` = actual, ``mean`` = point forecast, ``q10``/``q50``/``q90``... = quantiles). Each metric is also
available as a Polars expression (``*_expr``) so `accuracy` can compute all of them per group in one pass.

Definitions (y = actual, f = forecast, n = rows):

- WAPE = Σ|y − f| / Σ|y|   (NaN when Σ|y| = 0)
- MAE = Σ|y − f| / n;  RMSE = sqrt(Σ(y − f)² / n)
- bias = Σ(f − y) / n   (positive = over-forecast)
- MASE = mean over series of MAE_series / scale_series, where scale_series is the in-sample MAE of the
  seasonal naive forecast (lag `season_length`) on the series' training history when that history is longer
  than `season_length` weeks, else of the naive forecast (lag 1). Series whose scale is 0 (a constant or
  one-week history) are left out of the mean, since their ratio is undefined.
- pinball = mean over the quantile columns present of mean_rows(max(q·(y − f_q), (q − 1)·(y − f_q)))
- coverage_80 = share of rows with q10 <= y <= q90
- WMAE = Σ w·|y − f| / Σ w  (Walmart's competition metric uses w = 5 on holiday weeks, else 1)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import polars as pl

from forecast.contracts import SERIES, quantile_columns

ID_COLS = tuple(SERIES)


def _require(df: pl.DataFrame, *columns: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        msg = f"metric input lacks column(s) {missing}; columns present: {df.columns}"
        raise ValueError(msg)


def _scalar(df: pl.DataFrame, expr: pl.Expr) -> float:
    if df.height == 0:
        return math.nan
    value = df.select(expr.cast(pl.Float64)).item()
    return math.nan if value is None else float(value)


# ---------------------------------------------------------------- expressions


def wape_expr(target_col: str = "units", pred_col: str = "mean") -> pl.Expr:
    """Σ|y − f| / Σ|y| as an expression (NaN when Σ|y| is 0)."""
    denom = pl.col(target_col).abs().sum()
    err = (pl.col(target_col) - pl.col(pred_col)).abs().sum()
    return pl.when(denom > 0).then(err / denom).otherwise(float("nan")).alias("wape")


def mae_expr(target_col: str = "units", pred_col: str = "mean") -> pl.Expr:
    """Mean absolute error as an expression."""
    return (pl.col(target_col) - pl.col(pred_col)).abs().mean().alias("mae")


def rmse_expr(target_col: str = "units", pred_col: str = "mean") -> pl.Expr:
    """Root mean squared error as an expression."""
    return (pl.col(target_col) - pl.col(pred_col)).pow(2).mean().sqrt().alias("rmse")


def bias_expr(target_col: str = "units", pred_col: str = "mean") -> pl.Expr:
    """Mean of forecast minus actual (positive = over-forecast) as an expression."""
    return (pl.col(pred_col) - pl.col(target_col)).mean().alias("bias")


def pinball_expr(quantiles: dict[str, float], target_col: str = "units") -> pl.Expr:
    """Mean pinball loss over the given quantile columns (``{"q10": 0.1, ...}``) as an expression."""
    if not quantiles:
        return pl.lit(float("nan")).alias("pinball")
    losses = []
    for name, level in quantiles.items():
        diff = pl.col(target_col) - pl.col(name)
        losses.append(pl.max_horizontal(level * diff, (level - 1) * diff).mean())
    return (pl.sum_horizontal(losses) / len(losses)).alias("pinball")


def coverage_80_expr(target_col: str = "units", lo_col: str = "q10", hi_col: str = "q90") -> pl.Expr:
    """Share of actuals inside [q10, q90] as an expression."""
    y = pl.col(target_col)
    return ((y >= pl.col(lo_col)) & (y <= pl.col(hi_col))).cast(pl.Float64).mean().alias("coverage_80")


def wmae_expr(target_col: str = "units", pred_col: str = "mean", weight_col: str = "weight") -> pl.Expr:
    """Σ w·|y − f| / Σ w as an expression."""
    w = pl.col(weight_col)
    return ((w * (pl.col(target_col) - pl.col(pred_col)).abs()).sum() / w.sum()).alias("wmae")


# ---------------------------------------------------------------- frame functions


def wape(df: pl.DataFrame, target_col: str = "units", pred_col: str = "mean") -> float:
    """Weighted absolute percentage error Σ|y − f| / Σ|y|.

    Examples
    --------
    >>> wape(pl.DataFrame({"units": [2.0, 4.0], "mean": [3.0, 2.0]}))
    0.5
    """
    _require(df, target_col, pred_col)
    return _scalar(df, wape_expr(target_col, pred_col))


def mae(df: pl.DataFrame, target_col: str = "units", pred_col: str = "mean") -> float:
    """Mean absolute error."""
    _require(df, target_col, pred_col)
    return _scalar(df, mae_expr(target_col, pred_col))


def rmse(df: pl.DataFrame, target_col: str = "units", pred_col: str = "mean") -> float:
    """Root mean squared error."""
    _require(df, target_col, pred_col)
    return _scalar(df, rmse_expr(target_col, pred_col))


def bias(df: pl.DataFrame, target_col: str = "units", pred_col: str = "mean") -> float:
    """Mean forecast error f − y (positive = over-forecast)."""
    _require(df, target_col, pred_col)
    return _scalar(df, bias_expr(target_col, pred_col))


def pinball(df: pl.DataFrame, target_col: str = "units", quantile_cols: Sequence[str] | None = None) -> float:
    """Pinball loss averaged over the quantile columns present (or the ones named)."""
    quantiles = quantile_columns(quantile_cols if quantile_cols is not None else df.columns)
    _require(df, target_col, *quantiles)
    return _scalar(df, pinball_expr(quantiles, target_col))


def coverage_80(
    df: pl.DataFrame, target_col: str = "units", lo_col: str = "q10", hi_col: str = "q90"
) -> float:
    """Share of actuals within [q10, q90] (0.8 for a calibrated forecast)."""
    _require(df, target_col, lo_col, hi_col)
    return _scalar(df, coverage_80_expr(target_col, lo_col, hi_col))


def wmae(
    df: pl.DataFrame, target_col: str = "units", pred_col: str = "mean", weight_col: str = "weight"
) -> float:
    """Weighted mean absolute error Σ w·|y − f| / Σ w."""
    _require(df, target_col, pred_col, weight_col)
    return _scalar(df, wmae_expr(target_col, pred_col, weight_col))


def mase_scale(
    train_df: pl.DataFrame,
    *,
    season_length: int = 52,
    target_col: str = "units",
    id_cols: Sequence[str] = ID_COLS,
    time_col: str = "week",
) -> pl.DataFrame:
    """Per-series MASE scale: in-sample MAE of the seasonal naive (history > season) or naive forecast.

    Returns the id columns and ``mase_scale``. The history must be regular (one row per week, like the panel).
    """
    ids = list(id_cols)
    y = pl.col(target_col)
    return (
        train_df.lazy()
        .sort([*ids, time_col])
        .group_by(ids)
        .agg(
            pl.len().alias("_n"),
            (y - y.shift(season_length)).abs().mean().alias("_seasonal"),
            (y - y.shift(1)).abs().mean().alias("_naive"),
        )
        .select(
            *ids,
            pl.when(pl.col("_n") > season_length)
            .then(pl.col("_seasonal"))
            .otherwise(pl.col("_naive"))
            .alias("mase_scale"),
        )
        .collect()
    )


def _mase_by(
    df: pl.DataFrame, by: Sequence[str], target_col: str, pred_col: str, id_cols: Sequence[str]
) -> pl.DataFrame:
    """MASE per group of `by` from a frame with a ``mase_scale`` column (zero/null scales skipped)."""
    scale = pl.col("mase_scale")
    ratio = ((pl.col(target_col) - pl.col(pred_col)).abs() / scale).alias("_ratio")
    keys = list(dict.fromkeys([*by, *id_cols]))
    per_series = df.filter(scale > 0).group_by(keys).agg(ratio.mean())
    groups = df.select(list(by)).unique(maintain_order=True) if by else None
    if not by:
        return per_series.select(pl.col("_ratio").mean().alias("mase"))
    out = per_series.group_by(list(by)).agg(pl.col("_ratio").mean().alias("mase"))
    assert groups is not None
    return groups.join(out, on=list(by), how="left")


def mase(
    df: pl.DataFrame,
    train_df: pl.DataFrame,
    *,
    season_length: int = 52,
    target_col: str = "units",
    pred_col: str = "mean",
    id_cols: Sequence[str] = ID_COLS,
    time_col: str = "week",
) -> float:
    """Mean absolute scaled error, averaged over series (see the module docstring for the scale)."""
    _require(df, target_col, pred_col, *id_cols)
    scales = mase_scale(
        train_df, season_length=season_length, target_col=target_col, id_cols=id_cols, time_col=time_col
    )
    joined = df.join(scales, on=list(id_cols), how="left")
    if joined.height == 0:
        return math.nan
    value = _mase_by(joined, [], target_col, pred_col, id_cols).item()
    return math.nan if value is None else float(value)


def accuracy(
    df: pl.DataFrame,
    by: Sequence[str] = ("model",),
    *,
    target_col: str = "units",
    pred_col: str = "mean",
    id_cols: Sequence[str] = ID_COLS,
) -> pl.DataFrame:
    """All accuracy metrics per group of `by`: wape, mae, rmse, bias, mase, pinball, coverage_80.

    MASE needs a ``mase_scale`` column (see `mase_scale`); without it MASE is NaN. Coverage needs q10 and q90.
    """
    quantiles = quantile_columns(df.columns)
    exprs = [
        wape_expr(target_col, pred_col),
        mae_expr(target_col, pred_col),
        rmse_expr(target_col, pred_col),
        bias_expr(target_col, pred_col),
        pinball_expr(quantiles, target_col),
        coverage_80_expr(target_col)
        if {"q10", "q90"} <= set(df.columns)
        else pl.lit(float("nan")).alias("coverage_80"),
    ]
    out = df.group_by(list(by), maintain_order=True).agg(exprs)
    if "mase_scale" in df.columns:
        out = out.join(_mase_by(df, by, target_col, pred_col, id_cols), on=list(by), how="left")
    else:
        out = out.with_columns(pl.lit(float("nan")).alias("mase"))
    out = out.select(*by, "wape", "mae", "rmse", "bias", "mase", "pinball", "coverage_80")
    return out.with_columns(
        pl.col(c).cast(pl.Float64).fill_null(float("nan")) for c in out.columns[len(by) :]
    )
