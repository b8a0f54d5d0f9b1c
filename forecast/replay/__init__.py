"""Replays on data whose true demand is known: decisions judged by the money they make.

`forecast.replay.core` is the replay core (market, stock state, policy interface, week loop, money ledger,
result type); `forecast.replay.allocation` replays the allocation and stocking policies week by week;
`forecast.replenish.replay` replays the replenishment policies on the core.
"""

from forecast.allocation.sources import dc_stock_for_week
from forecast.replay.allocation import (
    MONEY_COLUMNS,
    POLICIES,
    RULES,
    WEEK_COLUMNS,
    StockingResult,
    replay_allocation,
    replay_forecasts,
    replay_models,
    replay_stocking,
    summarise_allocation,
)
from forecast.replay.core import Progress, ReplayResult, replay_weeks

__all__ = [
    "MONEY_COLUMNS",
    "POLICIES",
    "RULES",
    "WEEK_COLUMNS",
    "Progress",
    "ReplayResult",
    "StockingResult",
    "dc_stock_for_week",
    "replay_allocation",
    "replay_forecasts",
    "replay_models",
    "replay_stocking",
    "replay_weeks",
    "summarise_allocation",
]
