"""The ``[markdown]`` section of a pipeline: the discount ladder, the planners' rules, the money defaults."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from forecast.errors import ConfigError

LEVELS = ("chain", "cluster")
MAX_WEEKS = 52


@dataclass
class MarkdownConfig:
    """Settings of `forecast markdown` and of the markdown step of `forecast run`.

    ``ladder`` lists the discounts a price may take, in percent of the list price; ``max_steps`` is the
    number of price changes allowed to the season's end, ``min_weeks_between`` the weeks a price must hold
    before the next step, ``max_depth`` the deepest discount allowed (percent; None: the ladder's deepest).
    ``level`` plans one price per article chain-wide (``chain``, rows labelled ``ALL``) or per store cluster
    (``cluster``, the stores table's ``cluster`` column). The articles planned are those whose catalogue
    ``end_date`` falls within ``weeks`` weeks of the first forecast week, plus those named in ``articles``.
    Money: ``holding_cost_ratio`` × list price per unit held for a week, ``salvage_ratio`` × unit cost per
    unit left at the season's end where the catalogue has no ``salvage_value``; the purchase cost is sunk.
    ``check_units`` units (article × cluster) are re-evaluated by ``samples`` Monte-Carlo seasons each, to
    report the gap of the expected-stock approximation. ``apply_to_plans`` makes `forecast run` plan the
    markdowns before allocating, so the allocation and replenishment read demand and price at the
    recommended prices (`forecast.markdown.apply`); off, they read the forecasts as they are.

    Examples
    --------
    >>> MarkdownConfig(ladder=[0, 20, 40], max_steps=2).discounts().tolist()
    [0.0, 0.2, 0.4]
    >>> MarkdownConfig(ladder=[])
    Traceback (most recent call last):
    ...
    forecast.errors.ConfigError: `markdown.ladder` must list at least one discount, got []; ...
    """

    ladder: list[float] = field(default_factory=lambda: [0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0])
    max_steps: int = 2
    min_weeks_between: int = 2
    max_depth: float | None = None
    level: str = "chain"
    weeks: int = 8
    articles: list[str] = field(default_factory=list)
    holding_cost_ratio: float = 0.01
    salvage_ratio: float = 0.3
    samples: int = 200
    check_units: int = 500
    seed: int = 0
    apply_to_plans: bool = False

    def __post_init__(self) -> None:
        self._check_ladder()
        if not isinstance(self.apply_to_plans, bool):
            msg = f"`markdown.apply_to_plans` must be true or false, got {self.apply_to_plans!r}"
            raise ConfigError(msg)
        if self.max_steps < 0 or self.min_weeks_between < 0:
            msg = (
                f"`markdown.max_steps` and `min_weeks_between` must be >= 0, got {self.max_steps!r}, "
                f"{self.min_weeks_between!r}; fix: use 0 or more"
            )
            raise ConfigError(msg)
        if self.level not in LEVELS:
            msg = f"`markdown.level` must be one of {LEVELS}, got {self.level!r}"
            raise ConfigError(msg)
        if not 1 <= self.weeks <= MAX_WEEKS:
            msg = f"`markdown.weeks` must be between 1 and {MAX_WEEKS}, got {self.weeks!r}"
            raise ConfigError(msg)
        if self.holding_cost_ratio < 0 or self.salvage_ratio < 0:
            msg = (
                "`markdown.holding_cost_ratio` and `salvage_ratio` must be >= 0, got "
                f"{self.holding_cost_ratio!r}, {self.salvage_ratio!r}"
            )
            raise ConfigError(msg)
        if self.samples < 1 or self.check_units < 0 or self.seed < 0:
            msg = "`markdown.samples` must be >= 1, `check_units` and `seed` >= 0"
            raise ConfigError(msg)

    def _check_ladder(self) -> None:
        if not self.ladder:
            msg = "`markdown.ladder` must list at least one discount, got []; fix: e.g. [0, 10, 20, 30]"
            raise ConfigError(msg)
        bad = [d for d in self.ladder if not 0 <= d < 100]
        if bad:
            msg = (
                f"`markdown.ladder` discounts must be percentages in [0, 100), got {bad[0]!r}; "
                "fix: a discount of 100% or more gives the article away"
            )
            raise ConfigError(msg)
        if len(set(self.ladder)) != len(self.ladder):
            msg = f"`markdown.ladder` lists a discount twice: {self.ladder!r}; fix: list each once"
            raise ConfigError(msg)
        if self.max_depth is not None and not 0 <= self.max_depth < 100:
            msg = f"`markdown.max_depth` must be a percentage in [0, 100), got {self.max_depth!r}"
            raise ConfigError(msg)

    def discounts(self) -> np.ndarray:
        """The ladder as shares of the list price, sorted, cut at ``max_depth``."""
        steps = sorted(d for d in self.ladder if self.max_depth is None or d <= self.max_depth)
        return np.array(steps or [min(self.ladder)], dtype=float) / 100.0
