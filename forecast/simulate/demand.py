"""Expected demand of the synthetic retailer: holidays, the yearly cycle, article life cycles and markdowns.

Mean weekly demand of article a in store s in week t is

    popularity[a] × scale[s] × region_fit[a, s] × life_cycle[a, t] × markdown_lift[a, t] × week_factor[t]
    × warmth_fit[a, t]

with life_cycle = (1 - exp(-(age + 1) / ramp)) × exp(-age / decay) inside the article's life (0 outside),
markdown_lift = (price / list_price) ^ -elasticity, and week_factor the shopping-calendar peaks.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np

from forecast.calendar import holiday_dates
from forecast.simulate.catalogue import REGION_WARMTH, Articles, Stores

# multiplicative demand peaks of the shopping calendar, keyed by the Monday of the week
BLACK_FRIDAY_LIFT = 1.6
CHRISTMAS_RUN_UP_LIFT = (1.3, 1.5)  # the two weeks before Christmas week
CHRISTMAS_WEEK_LIFT = 1.15
BOXING_WEEK_LIFT = 1.2
EASTER_LIFT = 1.25


def monday_of(day: date) -> date:
    """The Monday that starts the week holding `day`."""
    return day - timedelta(days=day.weekday())


def holiday_lifts(year: int) -> dict[date, float]:
    """Demand lift per week (keyed by its Monday) for the holidays of `year`."""
    days = holiday_dates(year)
    christmas = monday_of(days["christmas"])
    return {
        monday_of(days["easter"]): EASTER_LIFT,
        monday_of(days["black_friday"]): BLACK_FRIDAY_LIFT,
        christmas - timedelta(weeks=2): CHRISTMAS_RUN_UP_LIFT[0],
        christmas - timedelta(weeks=1): CHRISTMAS_RUN_UP_LIFT[1],
        christmas: CHRISTMAS_WEEK_LIFT,
        christmas + timedelta(weeks=1): BOXING_WEEK_LIFT,
    }


def week_factor(start: date, weeks: int, *, seasonal: bool = True) -> np.ndarray:
    """Chain-wide demand multiplier per week: a mild yearly wave (busy December) and holidays."""
    mondays = [start + timedelta(weeks=i) for i in range(weeks)]
    lifts: dict[date, float] = {}
    for year in range(start.year - 1, mondays[-1].year + 2):
        lifts.update(holiday_lifts(year))
    factor = np.array([lifts.get(m, 1.0) for m in mondays])
    if seasonal:
        day_of_year = np.array([m.timetuple().tm_yday for m in mondays], dtype=float)
        factor = factor * (1.0 + 0.08 * np.cos(2 * np.pi * (day_of_year - 355) / 365.25))
    return factor


def warmth(start: date, weeks: int) -> np.ndarray:
    """Weather proxy per week in [-1, 1]: +1 in mid-July, -1 in mid-January."""
    day_of_year = np.array([(start + timedelta(weeks=i)).timetuple().tm_yday for i in range(weeks)], float)
    return np.cos(2 * np.pi * (day_of_year - 200) / 365.25)


def ages(articles: Articles, t: np.ndarray) -> np.ndarray:
    """Article age in weeks at week indexes `t`: shape (articles, len(t))."""
    return t[None, :] - articles.launch[:, None]


def discount(articles: Articles, age: np.ndarray) -> np.ndarray:
    """Planned markdown (share of list price) at each age: none, then a first and a deeper second step."""
    first = age >= articles.markdown_age[:, None]
    second = age >= (articles.markdown_age + articles.markdown_step_weeks)[:, None]
    marked = articles.markdown_age < articles.life_weeks
    d = np.where(first, articles.first_discount[:, None], 0.0)
    d = np.where(second, articles.second_discount[:, None], d)
    return np.where(marked[:, None], d, 0.0)


def selling_price(articles: Articles, age: np.ndarray) -> np.ndarray:
    """Price per unit in EUR at each age, rounded to cents."""
    return np.round(articles.list_price[:, None] * (1.0 - discount(articles, age)), 2)


def article_week_mean(articles: Articles, start: date, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Chain-wide demand curve of every article at week indexes `t` for a reference store.

    Returns
    -------
    (mean, price): arrays of shape (articles, len(t)); mean is 0 outside the article's life.
    """
    age = ages(articles, t)
    alive = (age >= 0) & (age < articles.life_weeks[:, None])
    a = np.maximum(age, 0).astype(float)
    shape = (1.0 - np.exp(-(a + 1.0) / articles.ramp_weeks[:, None])) * np.exp(
        -a / articles.decay_weeks[:, None]
    )
    price = selling_price(articles, age)
    lift = (price / articles.list_price[:, None]) ** -articles.elasticity[:, None]
    weeks = int(t.max()) + 1 if t.size else 0
    calendar = week_factor(start, weeks)[t] if weeks else np.ones(0)
    weather = warmth(start, weeks)[t] if weeks else np.ones(0)
    fit = 1.0 + 0.35 * articles.warmth[:, None] * weather[None, :]
    mean = articles.popularity[:, None] * shape * lift * calendar[None, :] * fit
    return np.where(alive, mean, 0.0), price


def store_fit(articles: Articles, stores: Stores) -> np.ndarray:
    """Store × article demand scale, shape (articles, stores): size and how the region's climate suits it."""
    regional = 1.0 + 0.15 * articles.warmth[:, None] * REGION_WARMTH[stores.region][None, :]
    return stores.scale[None, :] * regional
