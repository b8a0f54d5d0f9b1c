"""Master data of the synthetic retailer: the article catalogue (collections, drops, life cycles, prices) and
the store network (regions, sizes, clusters).

Everything is drawn from one `numpy.random.Generator`, in a fixed order, so a seed fixes the catalogue.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

# name, share in a spring/summer drop, share in an autumn/winter drop, demand base, list price range (EUR),
# warmth affinity (+ sells better in warm weeks and warm regions), pack sizes the DC ships it in
CATEGORIES: tuple[tuple[str, float, float, float, tuple[float, float], float, tuple[int, ...]], ...] = (
    ("tops", 0.30, 0.20, 1.00, (9.99, 29.99), 0.2, (4, 6, 10)),
    ("dresses", 0.25, 0.08, 0.75, (24.99, 69.99), 0.5, (2, 4)),
    ("trousers", 0.18, 0.17, 0.80, (24.99, 59.99), 0.0, (2, 4, 6)),
    ("knitwear", 0.05, 0.25, 0.80, (19.99, 59.99), -0.6, (2, 4)),
    ("outerwear", 0.07, 0.18, 0.55, (39.99, 149.99), -0.7, (1, 2)),
    ("accessories", 0.15, 0.12, 1.20, (4.99, 24.99), 0.0, (6, 10)),
)
CATEGORY_NAMES = tuple(c[0] for c in CATEGORIES)

# colour name, share of the catalogue, demand factor
COLOURS: tuple[tuple[str, float, float], ...] = (
    ("black", 0.24, 1.25),
    ("white", 0.12, 1.10),
    ("dark blue", 0.12, 1.05),
    ("beige", 0.09, 1.00),
    ("grey", 0.09, 0.95),
    ("light pink", 0.07, 0.90),
    ("light blue", 0.07, 0.90),
    ("red", 0.06, 0.80),
    ("dark green", 0.07, 0.85),
    ("off white", 0.07, 1.00),
)
COLOUR_NAMES = tuple(c[0] for c in COLOURS)

FABRICS: tuple[tuple[str, float], ...] = (
    ("cotton", 0.40),
    ("jersey", 0.20),
    ("denim", 0.10),
    ("wool", 0.10),
    ("viscose", 0.12),
    ("polyester", 0.08),
)
FABRIC_NAMES = tuple(f[0] for f in FABRICS)

# ISO weeks of the year when new collections land in the stores
SS_DROP_WEEKS = (5, 9, 13, 18, 23)
AW_DROP_WEEKS = (31, 35, 39, 44)

REGIONS = ("north", "south", "east", "west", "central")
REGION_WARMTH = np.array([-1.0, 1.0, 0.0, 0.0, 0.0])  # how warm the region's climate is
REFERENCE_SQM = 1200.0  # a store of this size has demand scale 1

DROP_LOOKBACK_WEEKS = 16  # articles can launch this long before the first week (alive at the start)
DROP_LOOKAHEAD_WEEKS = 16  # cold-start articles launch within this long after the last week


@dataclass
class Articles:
    """One entry per article (index = article number - 1); week indexes count from the first week (0)."""

    article_id: np.ndarray  # str
    category: np.ndarray  # int index into CATEGORIES
    colour: np.ndarray  # int index into COLOURS
    fabric: np.ndarray  # int index into FABRICS
    season: np.ndarray  # str "SS" | "AW"
    collection: np.ndarray  # str like "SS23"
    launch: np.ndarray  # int week index of the launch (negative: before the start, >= weeks: cold start)
    life_weeks: np.ndarray  # int weeks on sale
    ramp_weeks: np.ndarray  # float time constant of the ramp-up
    decay_weeks: np.ndarray  # float time constant of the decay
    markdown_age: np.ndarray  # int age (weeks) of the first markdown (= life_weeks: never marked down)
    markdown_step_weeks: np.ndarray  # int weeks between the first and the second markdown
    first_discount: np.ndarray  # float
    second_discount: np.ndarray  # float
    elasticity: np.ndarray  # float price elasticity (demand × (price/list)^-elasticity)
    popularity: np.ndarray  # float peak weekly demand of the article in a reference store, before effects
    list_price: np.ndarray  # float EUR
    unit_cost: np.ndarray  # float EUR
    pack_size: np.ndarray  # int
    warmth: np.ndarray  # float category warmth affinity

    def __len__(self) -> int:
        return int(self.article_id.shape[0])


@dataclass
class Stores:
    """One entry per store (index = store number - 1)."""

    store_id: np.ndarray  # str
    region: np.ndarray  # int index into REGIONS
    size_sqm: np.ndarray  # float
    cluster: np.ndarray  # str like "north_large"
    scale: np.ndarray  # float demand scale
    assortment: np.ndarray  # float probability that the store carries a given article
    cycle_weeks: np.ndarray  # int weeks between replenishments
    cycle_offset: np.ndarray  # int week index (mod cycle) of the replenishment

    def __len__(self) -> int:
        return int(self.store_id.shape[0])


def ids(prefix: str, n: int, width: int) -> np.ndarray:
    """Identifiers like ``A00001`` (width grows when `n` needs more digits)."""
    digits = max(width, len(str(n)))
    return np.array([f"{prefix}{i:0{digits}d}" for i in range(1, n + 1)], dtype=object)


def drop_schedule(start: date, weeks: int) -> list[tuple[int, str, str]]:
    """Collection drops around the simulated window as ``(week index, season, collection)``.

    Covers `DROP_LOOKBACK_WEEKS` before the first week to `DROP_LOOKAHEAD_WEEKS` after the last one.
    """
    drops = []
    for year in range(start.year - 1, start.year + weeks // 52 + 3):
        for season, woys in (("SS", SS_DROP_WEEKS), ("AW", AW_DROP_WEEKS)):
            for woy in woys:
                index = (date.fromisocalendar(year, woy, 1) - start).days // 7
                if -DROP_LOOKBACK_WEEKS <= index < weeks + DROP_LOOKAHEAD_WEEKS:
                    drops.append((index, season, f"{season}{year % 100:02d}"))
    return sorted(drops)


def _x99(rng: np.random.Generator, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Log-uniform list prices ending in .99."""
    raw = np.exp(rng.uniform(np.log(low), np.log(high)))
    return np.maximum(np.round(raw) - 0.01, 0.99)


def _assign_drops(
    rng: np.random.Generator, n: int, start: date, weeks: int, cold_start_share: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    drops = drop_schedule(start, weeks)
    inside = [d for d in drops if d[0] <= max(weeks - 3, 0)]
    future = [d for d in drops if d[0] >= weeks]
    n_cold = min(int(round(cold_start_share * n)), n - 1) if future else 0
    is_cold = np.zeros(n, dtype=bool)
    is_cold[rng.choice(n, size=n_cold, replace=False)] = True
    pick_inside = rng.integers(0, len(inside), size=n)
    pick_future = rng.integers(0, max(len(future), 1), size=n)
    chosen = [future[pick_future[i]] if is_cold[i] else inside[pick_inside[i]] for i in range(n)]
    launch = np.array([c[0] for c in chosen], dtype=np.int64)
    launch = launch + np.where(is_cold, 0, rng.integers(0, 2, size=n))
    season = np.array([c[1] for c in chosen], dtype=object)
    collection = np.array([c[2] for c in chosen], dtype=object)
    return launch, season, collection


def _category_for(rng: np.random.Generator, season: np.ndarray) -> np.ndarray:
    ss = np.array([c[1] for c in CATEGORIES])
    aw = np.array([c[2] for c in CATEGORIES])
    u = rng.random(season.shape[0])
    ss_pick = np.searchsorted(np.cumsum(ss / ss.sum()), u, side="right")
    aw_pick = np.searchsorted(np.cumsum(aw / aw.sum()), u, side="right")
    picked = np.where(season == "SS", ss_pick, aw_pick)
    return np.minimum(picked, len(CATEGORIES) - 1)


def _weighted(rng: np.random.Generator, weights: list[float], n: int) -> np.ndarray:
    p = np.asarray(weights, dtype=float)
    return rng.choice(len(weights), size=n, p=p / p.sum())


def make_articles(
    rng: np.random.Generator, n: int, start: date, weeks: int, cold_start_share: float
) -> Articles:
    """Draw `n` articles: drop, category, colour, fabric, life cycle, markdown plan, prices and popularity."""
    launch, season, collection = _assign_drops(rng, n, start, weeks, cold_start_share)
    category = _category_for(rng, season)
    colour = _weighted(rng, [c[1] for c in COLOURS], n)
    fabric = _weighted(rng, [f[1] for f in FABRICS], n)
    life = rng.integers(10, 27, size=n)
    # an article launched before the first week is still on sale for a while after it
    life = np.where(launch < 0, np.maximum(life, -launch + rng.integers(4, 10, size=n)), life)
    low = np.array([CATEGORIES[c][4][0] for c in category])
    high = np.array([CATEGORIES[c][4][1] for c in category])
    list_price = _x99(rng, low, high)
    unit_cost = np.round(list_price * rng.uniform(0.40, 0.60, size=n), 2)
    marked_down = rng.random(n) < 0.8
    markdown_age = np.where(marked_down, np.round(life * rng.uniform(0.55, 0.75, size=n)), life)
    first_discount = rng.choice([0.2, 0.3, 0.4], size=n)
    second_discount = np.minimum(first_discount + rng.choice([0.1, 0.2], size=n), 0.6)
    reference_price = np.sqrt(low * high)
    popularity = (
        np.array([CATEGORIES[c][3] for c in category])
        * np.array([COLOURS[c][2] for c in colour])
        * (list_price / reference_price) ** -0.6
        * rng.lognormal(0.0, 0.6, size=n)
        * 3.0
    )
    packs = [CATEGORIES[c][6] for c in category]
    pack_size = np.array([p[i % len(p)] for p, i in zip(packs, rng.integers(0, 60, size=n), strict=True)])
    return Articles(
        article_id=ids("A", n, 5),
        category=category,
        colour=colour,
        fabric=fabric,
        season=season,
        collection=collection,
        launch=launch,
        life_weeks=life.astype(np.int64),
        ramp_weeks=rng.uniform(0.8, 2.5, size=n),
        decay_weeks=life * rng.uniform(0.3, 0.6, size=n),
        markdown_age=markdown_age.astype(np.int64),
        markdown_step_weeks=rng.integers(2, 5, size=n),
        first_discount=first_discount,
        second_discount=second_discount,
        elasticity=rng.uniform(1.5, 3.0, size=n),
        popularity=popularity,
        list_price=list_price,
        unit_cost=unit_cost,
        pack_size=pack_size.astype(np.int64),
        warmth=np.array([CATEGORIES[c][5] for c in category]),
    )


def make_stores(rng: np.random.Generator, n: int) -> Stores:
    """Draw `n` stores: region, floor space, cluster, demand scale, assortment breadth and delivery cycle."""
    region = rng.integers(0, len(REGIONS), size=n)
    size_sqm = np.round(np.clip(rng.lognormal(np.log(REFERENCE_SQM), 0.6, size=n), 250, 5000), -1)
    band = np.where(size_sqm < 700, "small", np.where(size_sqm < 2000, "medium", "large"))
    cluster = np.array([f"{REGIONS[r]}_{b}" for r, b in zip(region, band, strict=True)], dtype=object)
    return Stores(
        store_id=ids("S", n, 3),
        region=region,
        size_sqm=size_sqm,
        cluster=cluster,
        scale=(size_sqm / REFERENCE_SQM) ** 0.9,
        assortment=np.clip(0.5 + 0.5 * size_sqm / 2500, 0.5, 1.0),
        cycle_weeks=rng.integers(2, 5, size=n),
        cycle_offset=rng.integers(0, 4, size=n),
    )


def week_dates(start: date, weeks: int) -> list[date]:
    """Monday of each week index ``0 .. weeks - 1``."""
    return [start + timedelta(weeks=i) for i in range(weeks)]
