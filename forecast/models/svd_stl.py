"""Cross-store denoising plus a local seasonal model per series ("stlf.svd", after the Walmart 2014 winner).

For each article (a Walmart department), the weeks × stores matrix of history up to the origin (zero where a
store has no row) is replaced by its rank-`rank` truncated SVD: what the stores share (the department's
seasonal shape and trend) is kept, store-specific noise is dropped. Each store's denoised series is then
forecast on its own:

- with at least two seasons of history, by statsforecast ``MSTL(season_length, trend_forecaster=AutoETS(
  model="ZZN"))`` (STL decomposition, the seasonal part repeated, an ETS on the deseasonalised rest);
- with less, by the seasonal naive (the denoised week one season earlier), or the last week when even one
  season is missing.

Christmas shift: weekly models copy last year's pre-Christmas weeks, but Christmas falls on a later weekday
each year, so more shopping days fall into the week holding Christmas. For each Christmas in the forecast
window, with ``d`` = the days of the Christmas week before Christmas in the target year minus the same in the
source years (mean over the years the model copies: the last one for the seasonal naive, every full year in
history for MSTL), the five weeks ending with the Christmas week are shifted: each of weeks 2..5 gives
``d / 7`` of itself to the next week and receives ``d / 7`` of the previous one (week 1 is left whole). As in
the original, the shift applies only to articles whose weeks 2..4 peak, i.e. their mean across stores exceeds
that of weeks 1 and 5 by `shift_threshold`; a negative ``d`` leaves the forecast as it is.

Quantiles come from each series' own errors: q_tau = point forecast + the tau-quantile of the series'
in-sample errors of the seasonal naive on the raw (not denoised) history (the last `residual_weeks` weeks).
Everything is clipped at 0 and the quantiles are sorted.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from datetime import date, timedelta

import numpy as np
import polars as pl

from forecast.contracts import SERIES
from forecast.models.base import Forecaster, quantile_column


class SVDSTLForecaster(Forecaster):
    """Per-article rank-k SVD denoising of the stores' history, then MSTL/ETS (or seasonal naive) per series.

    Parameters
    ----------
    quantiles : quantile levels to forecast (0.1, 0.5 and 0.9 are always included).
    seed : accepted for the common model interface (the model is deterministic).
    rank : SVD components kept per article (12 in the original).
    season_length : weeks per season.
    christmas_shift : move part of the pre-Christmas weeks by the weekday difference of Christmas.
    shift_threshold : ratio weeks 2..4 / weeks 1 and 5 an article needs for the shift.
    residual_weeks : recent weeks whose seasonal-naive errors give the quantiles.
    active_weeks : by default, forecast the series that sold within this many weeks before the origin.
    alias : the model's name in the forecasts (default ``"stlf_svd"``).

    Examples
    --------
    >>> SVDSTLForecaster().name
    'stlf_svd'
    """

    default_name = "stlf_svd"

    def __init__(
        self,
        quantiles: Sequence[float] = (0.1, 0.5, 0.9),
        seed: int = 42,
        *,
        rank: int = 12,
        season_length: int = 52,
        christmas_shift: bool = True,
        shift_threshold: float = 1.1,
        residual_weeks: int = 52,
        active_weeks: int = 8,
        alias: str | None = None,
    ) -> None:
        self.quantiles = quantiles
        self.seed = seed
        self.rank = rank
        self.season_length = season_length
        self.christmas_shift = christmas_shift
        self.shift_threshold = shift_threshold
        self.residual_weeks = residual_weeks
        self.active_weeks = active_weeks
        self.alias = alias

    def fit(
        self,
        panel: pl.DataFrame,
        origin: date,
        *,
        articles: pl.DataFrame | None = None,
        exog: pl.DataFrame | None = None,
    ) -> SVDSTLForecaster:
        """Denoise the history up to `origin`, article by article; returns self."""
        del articles, exog  # the articles are the panel's; no exogenous input
        data = panel.collect() if isinstance(panel, pl.LazyFrame) else panel
        rows = data.filter(pl.col("week") <= origin).select(
            pl.col("article_id").cast(pl.Utf8), pl.col("store_id").cast(pl.Utf8), "week", "units"
        )
        start = rows["week"].min()
        if not isinstance(start, date):
            msg = f"panel has no week on or before the origin {origin.isoformat()!r}"
            raise ValueError(msg)
        self.start_ = start
        self.is_end_ = start.isoweekday() != 1
        weeks = (origin - start).days // 7 + 1
        keys = rows.select(SERIES).unique().sort(SERIES)
        cells = rows.join(keys.with_row_index("row"), on=SERIES).select(
            "row", ((pl.col("week") - pl.lit(start)).dt.total_days() // 7).alias("col"), "units"
        )
        raw = np.zeros((keys.height, weeks))
        raw[cells["row"].to_numpy(), cells["col"].to_numpy()] = (
            cells["units"].cast(pl.Float64).fill_null(0.0).to_numpy()
        )
        self.keys_, self.raw_ = keys, raw
        self.denoised_ = raw.copy()
        owners = keys["article_id"].to_numpy()
        for article in np.unique(owners):
            members = np.flatnonzero(owners == article)
            self.denoised_[members] = low_rank(raw[members], self.rank)
        self.origin_ = origin
        return self

    def christmas_source_years(self) -> list[int]:
        """The year whose Christmas a blend copies: the last full one in the fitted history."""
        self.check_fitted()
        return self._full_years()[-1:]

    def predict(self, horizon: int, series: pl.DataFrame | None = None) -> pl.DataFrame:
        """Forecast weeks origin+1..origin+`horizon` for `series` (default: series sold in `active_weeks`)."""
        self.check_fitted()
        if horizon < 1:
            msg = f"`horizon` must be at least 1 week, got {horizon!r}"
            raise ValueError(msg)
        if series is None:
            recent = (self.raw_[:, -self.active_weeks :] != 0).any(axis=1)
            wanted = self.keys_.filter(pl.Series(recent))
        else:
            wanted = self.keys_.join(
                series.select(pl.col(c).cast(pl.Utf8) for c in SERIES).unique(), on=SERIES, how="semi"
            )
        point, source_years = self._point(horizon)
        out = self._frame(wanted, point, self._quantiles(point), horizon)
        if not self.christmas_shift:
            return out
        columns = ["mean", *[quantile_column(q) for q in self.levels]]
        return shift_christmas(out, columns, start=self.start_, source_years=source_years)

    def _point(self, horizon: int) -> tuple[np.ndarray, list[int]]:
        """Point forecasts of every fitted series and the years whose Christmas the seasonal part copies."""
        y, season = self.denoised_, self.season_length
        weeks = y.shape[1]
        if weeks >= 2 * season:
            return _mstl(y, horizon, season), self._full_years()
        if weeks >= season:
            steps = np.arange(horizon)
            return y[:, weeks - season + steps % season], self._full_years()[-1:]
        return np.repeat(y[:, -1:], horizon, axis=1), []

    def _full_years(self) -> list[int]:
        """Years whose Christmas week lies inside the history."""
        years = []
        for year in range(self.start_.year, self.origin_.year + 1):
            first = _week_start(date(year, 12, 25), self.start_, self.is_end_)
            if first >= self._first_day(self.start_) and first + timedelta(days=6) <= self._last_day():
                years.append(year)
        return years

    def _first_day(self, label: date) -> date:
        return label - timedelta(days=6) if self.is_end_ else label

    def _last_day(self) -> date:
        return self._first_day(self.origin_) + timedelta(days=6)

    def _quantiles(self, point: np.ndarray) -> np.ndarray:
        """Series × horizon × level: point + quantiles of the recent seasonal-naive errors (raw data)."""
        raw, season = self.raw_, self.season_length
        levels = self.levels
        if raw.shape[1] > season:
            errors = raw[:, season:] - raw[:, :-season]
        else:
            errors = raw[:, 1:] - raw[:, :-1] if raw.shape[1] > 1 else np.zeros((raw.shape[0], 1))
        errors = errors[:, -self.residual_weeks :]
        offsets = np.quantile(errors, levels, axis=1).T  # series × level
        offsets -= offsets[:, [levels.index(0.5)]]  # centred on the point forecast
        values = np.maximum(point[:, :, None] + offsets[:, None, :], 0.0)
        return np.sort(values, axis=2)

    def _frame(
        self, wanted: pl.DataFrame, point: np.ndarray, quant: np.ndarray, horizon: int
    ) -> pl.DataFrame:
        rows = self.keys_.with_row_index("row").join(wanted, on=SERIES, how="semi")["row"].to_numpy()
        n = len(rows)
        keys = self.keys_[rows]
        grid = pl.DataFrame(
            {
                "article_id": np.repeat(keys["article_id"].to_numpy(), horizon),
                "store_id": np.repeat(keys["store_id"].to_numpy(), horizon),
                "week": pl.Series(
                    [self.origin_ + timedelta(weeks=int(h)) for h in range(1, horizon + 1)] * n, dtype=pl.Date
                ),
                "horizon": np.tile(np.arange(1, horizon + 1), n),
            },
            schema_overrides={"article_id": pl.Utf8, "store_id": pl.Utf8},
        )
        mean = np.maximum(point[rows], 0.0).reshape(-1)
        out = self.forecast_frame(grid, mean, quant[rows].reshape(n * horizon, -1))
        return out.sort(*SERIES, "horizon")


def low_rank(matrix: np.ndarray, rank: int) -> np.ndarray:
    """Rank-`rank` truncated SVD of a stores × weeks block (uncentred, as in the original)."""
    if matrix.shape[0] <= rank:
        return matrix.copy()
    u, s, vt = np.linalg.svd(matrix, full_matrices=False)
    return (u[:, :rank] * s[:rank]) @ vt[:rank]


def _mstl(y: np.ndarray, horizon: int, season: int) -> np.ndarray:
    """MSTL with an AutoETS(ZZN) trend per row of `y`; a row where it fails gets its seasonal naive."""
    from statsforecast.models import MSTL, AutoETS

    out = np.empty((y.shape[0], horizon))
    steps = np.arange(horizon)
    for i, series in enumerate(y):
        fallback = series[len(series) - season + steps % season]
        if not np.any(series):
            out[i] = 0.0
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = MSTL(season_length=season, trend_forecaster=AutoETS(model="ZZN"))
                values = model.forecast(y=series.astype(np.float64), h=horizon)["mean"]
            out[i] = values if np.all(np.isfinite(values)) else fallback
        except Exception:  # noqa: BLE001 - any numerical failure of one series falls back to seasonal naive
            out[i] = fallback
    return out


def _week_start(day: date, start: date, is_end: bool) -> date:
    """First day of the panel week holding `day` (weeks labelled by their last day when `is_end`)."""
    first_of_start = start - timedelta(days=6) if is_end else start
    return day - timedelta(days=(day - first_of_start).days % 7)


def _days_before_christmas(year: int, start: date, is_end: bool) -> int:
    """Days of the week holding Christmas of `year` that come before Christmas (0..6)."""
    christmas = date(year, 12, 25)
    return (christmas - _week_start(christmas, start, is_end)).days


def shift_christmas(
    frame: pl.DataFrame,
    columns: Sequence[str],
    *,
    start: date,
    source_years: Sequence[int],
    threshold: float = 1.1,
) -> pl.DataFrame:
    """Christmas shift (see the module notes) of a forecasts frame's `columns`, weeks labelled like `start`.

    `source_years` are the years whose Christmas the forecast copies; an article is shifted when its first
    column peaks in weeks 2..4 (mean over its stores above `threshold` × that of weeks 1 and 5).
    """
    if not source_years or frame.height == 0:
        return frame
    is_end = start.isoweekday() != 1
    span = timedelta(days=6)
    out = frame
    for year in sorted({w.year for w in frame["week"].unique().to_list()}):
        christmas = date(year, 12, 25)
        first = _week_start(christmas, start, is_end)
        label = first + span if is_end else first
        weeks = [label - timedelta(weeks=4 - k) for k in range(5)]
        shift = _days_before_christmas(year, start, is_end) - float(
            np.mean([_days_before_christmas(y, start, is_end) for y in source_years])
        )
        if shift <= 0 or not set(weeks) <= set(frame["week"].to_list()):
            continue
        out = _shift_weeks(out, columns, weeks, min(shift, 7.0) / 7.0, threshold)
    return out


def _shift_weeks(
    frame: pl.DataFrame, columns: Sequence[str], weeks: list[date], share: float, threshold: float
) -> pl.DataFrame:
    rank = pl.col("week").replace_strict(weeks, list(range(1, 6)), default=None, return_dtype=pl.Int32)
    ranked = frame.with_columns(rank.alias("_k"))
    lead = columns[0]
    edge = pl.col(lead).filter(pl.col("_k").is_in([1, 5])).mean()
    middle = pl.col(lead).filter(pl.col("_k").is_in([2, 3, 4])).mean()
    decision = (
        ranked.filter(pl.col("_k").is_not_null())
        .group_by("article_id")
        .agg(((edge > 0) & (middle > threshold * edge)).alias("_shift"))
    )
    ranked = ranked.join(decision, on="article_id", how="left").sort(*SERIES, "week")
    moved = (pl.col("_k") >= 2) & pl.col("_shift").fill_null(False)
    previous = {c: pl.col(c).shift(1).over(SERIES) for c in columns}
    return ranked.with_columns(
        pl.when(moved).then((1 - share) * pl.col(c) + share * previous[c]).otherwise(pl.col(c)).alias(c)
        for c in columns
    ).drop("_k", "_shift")
