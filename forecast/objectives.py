"""The business objectives a pipeline can rank its models by, and which way each one is better.

`[backtest] objective` names one of `OBJECTIVES` (a leaderboard column); the backtest sorts the leaderboard
by it, and the model registry promotes a new champion only when it is strictly better on it.
"""

from __future__ import annotations

# objective -> True when a larger value is better
OBJECTIVES: dict[str, bool] = {
    "profit": True,
    "revenue": True,
    "wape": False,
    "mae": False,
    "lost_sales_cost": False,
}
MAXIMISE: tuple[str, ...] = tuple(name for name, larger in OBJECTIVES.items() if larger)


def better(new: float, old: float, objective: str) -> bool:
    """True when `new` is strictly better than `old` on `objective`.

    Examples
    --------
    >>> better(10.0, 9.0, "profit"), better(0.3, 0.2, "wape")
    (True, False)
    """
    return new > old if OBJECTIVES[objective] else new < old
