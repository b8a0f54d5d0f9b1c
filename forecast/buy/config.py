"""Settings of the pre-season buy: the ``[buy]`` table of a pipeline."""

from __future__ import annotations

from dataclasses import dataclass

from forecast.errors import ConfigError

MAX_LEAD_WEEKS = 104


@dataclass
class BuyConfig:
    """How new articles are bought (`forecast.buy`).

    Prices and costs come from the catalogue (``list_price``, ``unit_cost``, ``salvage_value``) and fall
    back to these defaults: ``default_price`` per unit, ``unit_cost_ratio`` × price, ``salvage_ratio`` ×
    price for a unit left at the season's end. ``horizon``: season weeks of an article without an
    ``end_date`` (default: the pipeline's forecast horizon). ``case_pack`` and ``min_order_units`` apply where
    the catalogue has no ``case_pack`` / ``min_order_units``; ``budget`` caps the purchase cost of all the
    articles bought together (None: no cap). ``refit_weeks``: the season model is refitted for every block
    of this many weeks of decision dates. ``first_delivery_weeks``: weeks of store demand the first delivery
    covers when the buy is split over the stores.

    Examples
    --------
    >>> BuyConfig(lead_weeks=-1)
    Traceback (most recent call last):
    ...
    forecast.errors.ConfigError: `buy.lead_weeks` must be 0 to 104 weeks, got -1; fix: ...
    """

    lead_weeks: int = 0
    horizon: int | None = None
    default_price: float | None = None
    unit_cost_ratio: float | None = None
    salvage_ratio: float = 0.0
    case_pack: int = 1
    min_order_units: int = 0
    budget: float | None = None
    refit_weeks: int = 4
    levels: int = 40
    analogues: int = 11
    seed: int = 0
    time_limit_s: float = 30.0
    first_delivery_weeks: int = 2

    def __post_init__(self) -> None:
        if not 0 <= self.lead_weeks <= MAX_LEAD_WEEKS:
            msg = (
                f"`buy.lead_weeks` must be 0 to {MAX_LEAD_WEEKS} weeks, got {self.lead_weeks!r}; fix: decide "
                "the buy 0 or more weeks before launch"
            )
            raise ConfigError(msg)
        if self.horizon is not None and not 1 <= self.horizon <= MAX_LEAD_WEEKS:
            msg = f"`buy.horizon` must be 1 to {MAX_LEAD_WEEKS} weeks, got {self.horizon!r}"
            raise ConfigError(msg)
        if self.default_price is not None and not 0 < self.default_price <= 1e9:
            msg = f"`buy.default_price` must be > 0 and <= 1e9, got {self.default_price!r}"
            raise ConfigError(msg)
        ratios = {"unit_cost_ratio": self.unit_cost_ratio, "salvage_ratio": self.salvage_ratio}
        for name, value in ratios.items():
            if value is not None and not 0 <= value < 1:
                msg = f"`buy.{name}` must be in [0, 1) (a share of the price), got {value!r}"
                raise ConfigError(msg)
        if self.case_pack < 1 or self.min_order_units < 0 or (self.budget or 0) < 0:
            msg = "`buy.case_pack` must be >= 1, `min_order_units` and `budget` >= 0"
            raise ConfigError(msg)
        if not 1 <= self.refit_weeks <= 52 or not 4 <= self.levels <= 1000 or not 1 <= self.analogues <= 500:
            msg = "`buy.refit_weeks` must be 1 to 52, `levels` 4 to 1000 and `analogues` 1 to 500"
            raise ConfigError(msg)
        if not 0 < self.time_limit_s <= 86_400 or not 1 <= self.first_delivery_weeks <= MAX_LEAD_WEEKS:
            msg = "`buy.time_limit_s` must be in (0, 86400] and `first_delivery_weeks` 1 to 104"
            raise ConfigError(msg)
        if not 0 <= self.seed <= 2**31 - 1:
            msg = f"`buy.seed` must be 0 to 2147483647, got {self.seed!r}"
            raise ConfigError(msg)
