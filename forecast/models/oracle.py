"""The oracle: forecasts with the simulator's expected demand, the floor no model can beat on simulated data.

The synthetic retailer draws each article × store × week's demand as Poisson(rate × Gamma(k, 1/k)), i.e.
negative binomial with mean ``rate`` and shape ``k`` (`forecast.simulate.retail.DISPERSION`). The oracle knows
the rate (``true_demand.expected_demand``): its mean is the rate and its quantiles those of that negative
binomial. It is backtested beside the models so a reader sees how far they are from the best possible
forecast, and it never becomes champion (it needs what no retailer knows).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

import numpy as np
import polars as pl
from scipy.stats import nbinom

from forecast.contracts import SERIES
from forecast.models.base import Forecaster

ORACLE = "oracle"


class OracleForecaster(Forecaster):
    """Forecasts the known expected demand.

    The one model whose constructor takes data: what it knows is the simulator's truth, which no panel,
    catalogue or exogenous table carries.

    Parameters
    ----------
    expected : article_id, store_id, week, expected_demand (weeks absent = no demand).
    quantiles : quantile levels (0.1, 0.5 and 0.9 are always included).
    dispersion : shape ``k`` of the negative binomial the demand is drawn from.
    """

    default_name = ORACLE

    def __init__(self, expected: pl.DataFrame, quantiles: Sequence[float], dispersion: float) -> None:
        self.expected = expected
        self.quantiles = quantiles
        self.dispersion = dispersion

    def fit(
        self,
        panel: pl.DataFrame,
        origin: date,
        *,
        articles: pl.DataFrame | None = None,
        exog: pl.DataFrame | None = None,
    ) -> OracleForecaster:
        """Remember the origin and the series of `panel` (it learns nothing from them)."""
        del articles, exog
        self.origin_ = origin
        self.series_ = panel.select(SERIES).unique().sort(SERIES)
        return self

    def predict(self, horizon: int, series: pl.DataFrame | None = None) -> pl.DataFrame:
        """Weeks origin+1..origin+`horizon` of `series` (default: every series of the fitted panel)."""
        self.check_fitted()
        weeks = pl.DataFrame(
            {
                "week": [self.origin_ + timedelta(weeks=h) for h in range(1, horizon + 1)],
                "horizon": list(range(1, horizon + 1)),
            },
            schema={"week": pl.Date, "horizon": pl.Int32},
        )
        keys = (series if series is not None else self.series_).select(SERIES)
        rate = self.expected.select(*SERIES, "week", pl.col("expected_demand").cast(pl.Float64))
        grid = keys.join(weeks, how="cross").join(rate, on=[*SERIES, "week"], how="left")
        mean = grid.get_column("expected_demand").fill_null(0.0).to_numpy()
        k = self.dispersion
        quantiles = np.column_stack([nbinom.ppf(q, k, k / (k + mean)) for q in self.levels])
        return self.forecast_frame(grid, mean, quantiles)


def build_oracle(true_demand: pl.DataFrame | None, quantiles: list[float]) -> OracleForecaster | None:
    """The oracle when the data carries the expected demand (synthetic data), else None."""
    if true_demand is None or "expected_demand" not in true_demand.columns:
        return None
    from forecast.simulate.retail import DISPERSION

    return OracleForecaster(true_demand, quantiles, DISPERSION)
