"""The replay core: weeks of a retailer's stock met with TRUE demand, one policy object per way of deciding.

A replay runs on data whose true demand is known (the synthetic retailer) and judges decisions by the money
they make, not by forecast error. This module holds what every replay shares:

`Market`
    The facts every policy shares: replay weeks, article and store ids, the true demand source, planned
    price, unit cost, holding cost and salvage value per unit (`forecast.costs`), season ends, packs, cases,
    supplier lead times, store capacities and the starting stock.
`StockState`
    What one policy has reached, per article × store: store stock, shipments in transit to the stores,
    DC stock and supplier orders in transit to the DC.
`Policy`
    Anything with a ``name`` and ``decide(view) -> Decision``: called once per week with a `WeekView` (the
    market, the week's index, the policy's state and the week's forecast); returns this week's shipments
    (stores × articles), supplier orders (articles) and, optionally, this week's price per article.
`DemandSource`
    ``demand(week, price) -> (stores, articles)``: the true demand of a replay week at the price charged.
    `RecordedDemand` replays the simulator's recorded demand and ignores the price; a replay that changes
    prices (markdowns) plugs in a source that answers to them.
The money ledger (`LEDGER_COLUMNS`)
    Per policy and week: revenue, units sold, demanded and lost, holding cost, purchase cost of the orders,
    shipping cost, units left at a season's end and their salvage value, units shipped and ordered. The
    summary's ``profit`` is `forecast.business.trading_profit` of the sums.

The week loop (`run_policies`), for each week and each policy: deliveries due this week land at the stores
and the DC; the policy decides; shipments are cut to the stores' free room and the DC's stock and leave the
DC (arriving ``STORE_LEAD`` weeks later); orders arrive after the article's supplier lead time; the week's
true demand is met (sales = min(demand, store stock), the rest is lost); units left in the stores pay
holding; articles whose season ends this week are salvaged. At the end, everything left (stores, DC, in
transit) is valued at salvage. Every policy meets the same demand from the same starting state.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Protocol

import numpy as np
import polars as pl

from forecast.business import trading_profit
from forecast.errors import ConfigError

STORE_LEAD = 1
SEASON_OPEN = 10_000  # `Market.season_last` of an article whose season outlasts the replay
LEDGER_COLUMNS = (
    "revenue",
    "sales_units",
    "demand_units",
    "lost_sales_units",
    "holding_cost",
    "purchase_cost",
    "ship_cost",
    "leftover_units",
    "leftover_value",
    "shipped_units",
    "ordered_units",
)
Progress = Callable[[str], None]


@dataclass
class ReplayResult:
    """Outcome of a replay.

    weekly: one row per policy (and model, where several are compared) × week.
    summary: one row per policy (× model): the weekly sums and the replay's ratios.
    forecasts: the forecasts the policies read, where the replay keeps them.
    """

    weekly: pl.DataFrame
    summary: pl.DataFrame
    forecasts: pl.DataFrame | None = None


def replay_weeks(panel: pl.DataFrame, weeks: int) -> list[tuple[date, date]]:
    """(origin, target week) of the last `weeks` weeks of `panel`, oldest first: each target week is
    forecast from the week before it, with no later data."""
    all_weeks = panel.get_column("week").unique().sort().to_list()
    if weeks < 1 or weeks >= len(all_weeks):
        msg = f"`weeks` must be between 1 and {len(all_weeks) - 1} for this panel, got {weeks!r}"
        raise ConfigError(msg)
    return [(all_weeks[i - 1], all_weeks[i]) for i in range(len(all_weeks) - weeks, len(all_weeks))]


class DemandSource(Protocol):
    def __call__(self, week: int, price: np.ndarray) -> np.ndarray:
        """True demand (stores × articles) of replay week `week` when the articles sell at `price`."""
        ...


@dataclass
class RecordedDemand:
    """The recorded true demand (stores × articles × weeks); the price charged does not change it."""

    demand: np.ndarray

    def __call__(self, week: int, price: np.ndarray) -> np.ndarray:
        del price
        return self.demand[:, :, week]


@dataclass
class Market:
    """The facts every policy of a replay shares (arrays indexed by store, article and replay week)."""

    weeks: list[date]
    article_ids: np.ndarray
    store_ids: np.ndarray
    demand: np.ndarray  # (stores, articles, weeks) recorded true demand, what policies may not see
    price: np.ndarray  # (articles, weeks) planned price
    unit_cost: np.ndarray  # (articles,)
    holding: np.ndarray  # (articles, weeks) per unit left in a store at a week's end
    salvage: np.ndarray  # (articles,) per unit left at the season's (or the replay's) end
    season_last: np.ndarray  # (articles,) last selling week's index; `SEASON_OPEN` past the replay
    pack: np.ndarray  # (articles,) units per pack a store receives
    case: np.ndarray  # (articles,) units per case a supplier delivers
    supplier_lead: np.ndarray  # (articles,) weeks from order to DC arrival
    capacity: np.ndarray  # (stores,) units a store holds at most
    on_hand: np.ndarray  # (stores, articles) store stock at the start
    dc_start: np.ndarray  # (articles,) DC stock at the start
    true_demand: DemandSource | None = None  # default: `RecordedDemand` of `demand`

    def demand_at(self, week: int, price: np.ndarray) -> np.ndarray:
        source = self.true_demand or RecordedDemand(self.demand)
        return source(week, price)


@dataclass
class StockState:
    """Where one policy's stock is: stores × articles, in transit by arrival week, and at the DC."""

    store: np.ndarray  # (stores, articles)
    store_pipe: np.ndarray  # (stores, articles, weeks + pad) arrivals by week
    dc: np.ndarray  # (articles,)
    dc_pipe: np.ndarray  # (articles, weeks + pad) arrivals by week

    @classmethod
    def start(cls, market: Market, pad: int = 10) -> StockState:
        """The market's starting stock, nothing in transit; `pad` weeks past the replay hold late arrivals."""
        n_s, n_a = market.on_hand.shape
        weeks = len(market.weeks) + pad
        return cls(
            market.on_hand.copy(), np.zeros((n_s, n_a, weeks)), market.dc_start.copy(), np.zeros((n_a, weeks))
        )

    def land(self, week: int) -> None:
        """Deliveries due in `week` reach the stores and the DC (before anything is decided)."""
        self.store += self.store_pipe[:, :, week]
        self.store_pipe[:, :, week] = 0
        self.dc += self.dc_pipe[:, week]
        self.dc_pipe[:, week] = 0


@dataclass
class WeekView:
    """What a policy sees when it decides: the market, the week's index, its own state and the forecast
    (``article_id, store_id, horizon, week, mean, qNN``; horizon 1 is this week)."""

    market: Market
    week: int
    state: StockState
    forecast: pl.DataFrame


@dataclass
class Decision:
    """One week's decision: units shipped to the stores (stores × articles), units ordered from the
    suppliers (articles) and, when the policy sets prices, this week's price per article."""

    shipments: np.ndarray
    orders: np.ndarray
    price: np.ndarray | None = None


class Policy(Protocol):
    name: str

    def decide(self, view: WeekView) -> Decision: ...


def run_policies(
    market: Market,
    policies: Sequence[Policy],
    forecast_at: Callable[[int], pl.DataFrame],
    *,
    progress: Progress | None = None,
) -> pl.DataFrame:
    """The week loop (module docstring): the ledger, one row per policy × week, then one closing row per
    policy with ``week`` null (what is left at the end, valued at salvage).

    `forecast_at(w)` gives the forecast of replay week `w` (made from the week before, no later data).
    """
    say = progress or (lambda _line: None)
    states = {p.name: StockState.start(market) for p in policies}
    rows: list[dict[str, object]] = []
    for w, week in enumerate(market.weeks):
        forecast = forecast_at(w)
        for policy in policies:
            state = states[policy.name]
            state.land(w)
            decision = policy.decide(WeekView(market, w, state, forecast))
            rows.append({"policy": policy.name, "week": week, **settle_week(market, state, w, decision)})
        say(f"week {week}: {len(policies)} policies settled")
    for name, state in states.items():
        rows.append({"policy": name, "week": None, **close(market, state)})
    return pl.DataFrame(rows)


def settle_week(market: Market, state: StockState, w: int, decision: Decision) -> dict[str, float]:
    """Send the shipments and orders, meet the week's true demand, salvage the seasons that end: the
    week's ledger row."""
    shipments = _fit_rooms(
        decision.shipments, market.capacity - state.store.sum(axis=1) - state.store_pipe.sum(axis=(1, 2))
    )
    sent = shipments.sum(axis=0)
    if (sent > state.dc + 1e-9).any():  # a policy may not send what the DC does not hold
        share = np.where(sent > state.dc, state.dc / np.maximum(sent, 1e-9), 1.0)
        shipments = np.floor(shipments * share[None, :])
    orders = decision.orders
    state.dc -= shipments.sum(axis=0)
    state.store_pipe[:, :, w + STORE_LEAD] += shipments
    state.dc_pipe[np.arange(orders.size), w + market.supplier_lead] += orders
    price = market.price[:, w] if decision.price is None else decision.price
    demand = market.demand_at(w, price)
    sales = np.minimum(demand, state.store)
    state.store -= sales
    ended = market.season_last == w
    left = state.store[:, ended].sum(axis=0) + state.dc[ended]
    ledger = {
        "revenue": float((sales * price[None, :]).sum()),
        "sales_units": float(sales.sum()),
        "demand_units": float(demand.sum()),
        "lost_sales_units": float((demand - sales).sum()),
        "holding_cost": float((state.store * market.holding[None, :, w]).sum()),
        "purchase_cost": float((orders * market.unit_cost).sum()),
        "ship_cost": 0.0,
        "leftover_units": float(state.store[:, ended].sum() + state.dc[ended].sum()),
        "leftover_value": float((left * market.salvage[ended]).sum()),
        "shipped_units": float(shipments.sum()),
        "ordered_units": float(orders.sum()),
    }
    state.store[:, ended] = 0
    state.dc[ended] = 0
    return ledger


def _fit_rooms(shipments: np.ndarray, room: np.ndarray) -> np.ndarray:
    """Scale a store's shipments down (whole units) when they exceed its free room."""
    want = shipments.sum(axis=1)
    factor = np.where(want > np.maximum(room, 0), np.maximum(room, 0) / np.maximum(want, 1), 1.0)
    return np.floor(shipments * factor[:, None])


def close(market: Market, state: StockState) -> dict[str, float]:
    """The closing ledger row: what is left (stores, DC, in transit) valued at salvage."""
    units = state.store.sum(axis=0) + state.dc + state.store_pipe.sum(axis=(0, 2)) + state.dc_pipe.sum(axis=1)
    out = dict.fromkeys(LEDGER_COLUMNS, 0.0)
    out["leftover_units"] = float(units.sum())
    out["leftover_value"] = float((units * market.salvage).sum())
    return out


def summarise_ledger(ledger: pl.DataFrame, by: Sequence[str] = ("policy",)) -> pl.DataFrame:
    """Sums per group of the ledger (closing rows included), ``profit`` (`forecast.business.trading_profit`)
    and ``fill_rate`` (units sold / units demanded)."""
    sums = [c for c in ledger.columns if c not in (*by, "week")]
    summary = ledger.group_by(list(by), maintain_order=True).agg(pl.col(sums).sum())
    money = trading_profit(
        pl.col("revenue"),
        salvage=pl.col("leftover_value"),
        purchase_cost=pl.col("purchase_cost"),
        holding_cost=pl.col("holding_cost"),
        ship_cost=pl.col("ship_cost"),
    )
    return summary.with_columns(
        money.alias("profit"), (pl.col("sales_units") / pl.col("demand_units")).alias("fill_rate")
    )
