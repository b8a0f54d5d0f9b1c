"""The declarative feature spec: which features the engine builds, read from `FeaturesConfig`."""

from __future__ import annotations

from dataclasses import dataclass

from forecast.config import FeaturesConfig
from forecast.features.seasonal import SEASON_WEEKS


@dataclass(frozen=True)
class FeatureSpec:
    """What `forecast.features.design` builds for each series × origin × horizon row.

    Parameters
    ----------
    lags
        ``f_lag_k`` for each ``k < 52``: units of week ``origin - k + 1``. A year back is the aligned
        seasonal value instead.
    windows
        ``f_roll_mean_w``: mean units of the ``w`` weeks ending at the origin.
    seasonal
        ``f_seasonal_52`` (the holiday-aligned week a year before the target week), ``f_seasonal_smooth``,
        ``f_seasonal_104``.
    scale
        Divide every value feature by the series level at the origin (``scale``: mean absolute units over
        the 52 weeks to the origin, at least 1). Off, value features are in units and ``scale`` is 1.
    calendar
        ``f_cal_*`` columns of the target week (see `forecast.features.calendar`).
    hierarchy
        ``f_article_seasonal`` and ``f_cat_store_seasonal``: the group's total at the aligned week over the
        group's level at the origin (see `forecast.features.hierarchy`).
    prices
        The target week's price features (`forecast.features.price`) when the panel has prices.
    """

    lags: tuple[int, ...] = (1, 2, 3, 4, 8)
    windows: tuple[int, ...] = (4, 8, 13, 26)
    seasonal: bool = True
    scale: bool = True
    calendar: bool = True
    hierarchy: bool = True
    prices: bool = True

    @classmethod
    def from_config(cls, config: FeaturesConfig | None, **overrides: bool) -> FeatureSpec:
        """The spec a pipeline's ``[features]`` table asks for (a lag of 52 or more is the seasonal value).

        Examples
        --------
        >>> FeatureSpec.from_config(FeaturesConfig(lags=[1, 2, 52], rolling_windows=[4])).lags
        (1, 2)
        """
        config = config or FeaturesConfig()
        return cls(
            lags=tuple(sorted({k for k in config.lags if k < SEASON_WEEKS})),
            windows=tuple(sorted(set(config.rolling_windows))),
            hierarchy=config.hierarchy,
            **overrides,
        )
