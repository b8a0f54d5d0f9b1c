"""The planners' markdown rules, to compare the optimiser with: week by week, from what is known that week.

- **sell-through** (`SellThroughRule`): step ``depth`` ladder levels down whenever the share of the stock
  sold since the plan began lags the target curve ``target_end × (weeks elapsed / weeks of season left)``;
- **fixed** (`FixedRule`): a first step of ``depth`` levels when the article has lived ``share`` of its
  life, a second one halfway from there to the season's end.

Both keep the planners' rules (`apply_step`: never back up, at most K steps, at least M weeks between
steps, within the ladder). `follow` plays a rule through a `MarkdownProblem` with expected stock, for the
plan's report; the replay plays it on drawn demand.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from forecast.markdown.planner import MarkdownProblem


@dataclass
class RuleState:
    """What a rule sees at the start of a week, per unit."""

    level: np.ndarray
    steps: np.ndarray
    held: np.ndarray  # weeks the current price has held
    sold_share: np.ndarray  # units sold since the plan began / stock when it began
    season_share: np.ndarray  # weeks elapsed since the plan began / weeks of season then left
    life_share: np.ndarray  # weeks since launch / weeks of life


@dataclass(frozen=True)
class SellThroughRule:
    target_end: float = 0.9
    depth: int = 1
    name: str = "sell_through"

    def wants(self, state: RuleState) -> tuple[np.ndarray, np.ndarray]:
        """Units that want to step this week, and by how many levels."""
        lagging = state.sold_share < self.target_end * state.season_share
        return lagging, np.full(state.level.shape, self.depth)


@dataclass(frozen=True)
class FixedRule:
    share: float = 0.7
    depth: int = 2
    name: str = "fixed"

    def wants(self, state: RuleState) -> tuple[np.ndarray, np.ndarray]:
        second = self.share + (1.0 - self.share) / 2
        due = np.where(state.life_share >= second, 2, np.where(state.life_share >= self.share, 1, 0))
        return due > state.steps, np.full(state.level.shape, self.depth)


Rule = SellThroughRule | FixedRule


def apply_step(
    state: RuleState, want: np.ndarray, depth: np.ndarray, n_levels: int, max_steps: int, gap: int
) -> np.ndarray:
    """This week's level: a step where wanted and allowed, else the current level; updates `state`."""
    allowed = want & (state.steps < max_steps) & (state.held >= gap) & (state.level < n_levels - 1)
    new = np.where(allowed, np.minimum(state.level + np.maximum(depth, 1), n_levels - 1), state.level)
    moved = new > state.level
    state.steps = state.steps + moved
    state.held = np.where(moved, 1, state.held + 1)
    state.level = new
    return new


def follow(
    rule: Rule, problem: MarkdownProblem, life_share: np.ndarray, max_steps: int, gap: int
) -> np.ndarray:
    """The levels (U, T) a rule sets when the stock goes down by its expected sales each week."""
    n_units, n_weeks = problem.units, problem.weeks
    state = RuleState(
        level=problem.level.copy(),
        steps=problem.steps_used.copy(),
        held=problem.weeks_held.copy(),
        sold_share=np.zeros(n_units),
        season_share=np.zeros(n_units),
        life_share=life_share[:, 0],
    )
    season = np.maximum(problem.open_weeks.sum(axis=1), 1)
    stock = problem.stock.astype(float).copy()
    levels = np.zeros((n_units, n_weeks), dtype=np.int64)
    for t in range(n_weeks):
        state.season_share, state.life_share = t / season, life_share[:, t]
        want, depth = rule.wants(state)
        levels[:, t] = apply_step(state, want, depth, problem.discounts.size, max_steps, gap)
        rows = problem.rows(levels)[:, t]
        sold = np.where(problem.open_weeks[:, t], problem.demand.expected_sales(stock, rows), 0.0)
        stock = stock - sold
        state.sold_share = 1.0 - stock / np.maximum(problem.stock, 1e-9)
    return levels
