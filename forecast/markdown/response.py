"""Demand at each ladder price: a base forecast × the lift of the discount, fitted on past markdowns.

**Lift.** Demand at discount d is ``(1 − d)^(−β)`` times demand at the list price (a constant price
elasticity β ≥ 0, so a deeper discount never lowers demand). β is fitted per group (the catalogue's
``category`` by default) on the chain-wide weekly sales of every article that sold both before and after a
markdown: within each article, log sales and log(price / list price) are first freed of the article's own
level and life-cycle trend (a line in the article's age, weeks of its ramp-up left out), so the fall of
demand late in life, when markdowns happen, is not read as a weak response; β is then the pooled slope of
the group, shrunk towards the slope of all groups by ``SHRINK`` weeks' worth of evidence. A group with no
markdown history takes the pooled slope, and data with none at all ``DEFAULT_ELASTICITY``.
`article_elasticity` shrinks each article's own slope towards its group's, for articles already marked down.

**Ladder demand.** A forecast row is taken to be at the price it assumed (its ``price`` column, else the
article's last known price): demand at ladder discount d_l is its distribution scaled by
``lift(d_l) / lift(d_assumed)`` (`scaled_ladder`: a Poisson row keeps Poisson with the scaled mean, a
quantile row has every quantile scaled). A price-aware forecaster plugs in by building the ladder rows itself.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from forecast.distribution import DemandDistribution

DEFAULT_ELASTICITY = 2.0  # a common mid value for fashion markdowns when the data has no markdown at all
MAX_ELASTICITY = 6.0
RAMP_WEEKS = 6  # first weeks of life, left out: sales still ramp up, which a line in age misreads
MIN_WEEKS = 4  # weeks an article needs (after its ramp-up) to enter the fit
ARTICLE_PRIOR = 0.5  # the group's β counts as this much of an article's own price variation
SHRINK = 0.05  # a group's slope borrows this share of all groups' evidence towards the pooled slope


def lift(discount: np.ndarray, elasticity: np.ndarray) -> np.ndarray:
    """Demand multiplier of a discount (share of the list price) against the list price.

    Examples
    --------
    >>> lift(np.array([0.0, 0.5]), np.array([2.0, 2.0])).tolist()
    [1.0, 4.0]
    """
    keep = np.clip(1.0 - np.asarray(discount, dtype=float), 1e-6, 1.0)
    return np.asarray(keep ** (-np.asarray(elasticity, dtype=float)), dtype=float)


def chain_weeks(panel: pl.DataFrame, articles: pl.DataFrame | None, group: str = "category") -> pl.DataFrame:
    """Chain-wide weekly sales per article with its discount and age (weeks since its first week)."""
    weekly = panel.group_by("article_id", "week").agg(
        pl.col("units").clip(lower_bound=0.0).sum(),
        (1.0 - pl.col("price").mean() / pl.col("list_price").mean()).clip(0.0, 0.95).alias("discount"),
    )
    if group in panel.columns:
        groups = panel.select("article_id", pl.col(group).cast(pl.Utf8).alias("group")).unique("article_id")
    elif articles is not None and group in articles.columns:
        groups = articles.select("article_id", pl.col(group).cast(pl.Utf8).alias("group"))
    else:
        groups = weekly.select("article_id").unique().with_columns(pl.lit("all").alias("group"))
    first = pl.col("week").min().over("article_id")
    return (
        weekly.join(groups, on="article_id", how="left")
        .with_columns(
            pl.col("group").fill_null("all"), ((pl.col("week") - first).dt.total_days() // 7).alias("age")
        )
        .drop_nulls("discount")
        .sort("article_id", "week")
    )


def fit_elasticity(weeks: pl.DataFrame) -> pl.DataFrame:
    """β per group from `chain_weeks` rows (module docstring): ``group``, ``elasticity``, ``articles``.

    Examples
    --------
    >>> rows = pl.DataFrame({"article_id": ["a"] * 8, "group": ["g"] * 8, "age": list(range(3, 11)),
    ...     "discount": [0.0] * 4 + [0.5] * 4, "units": [100.0] * 4 + [400.0] * 4})
    >>> round(fit_elasticity(rows).filter(pl.col("group") == "g")["elasticity"].item(), 1)
    2.0
    """
    rows = weeks.filter(pl.col("age") >= RAMP_WEEKS).with_columns(
        pl.col("units").add(0.5).log().alias("y"), (1.0 - pl.col("discount")).log().alias("x")
    )
    moved = rows.group_by("article_id").agg(pl.len().alias("n"), pl.col("x").std().alias("sx"))
    keep = moved.filter((pl.col("n") >= MIN_WEEKS) & (pl.col("sx") > 1e-6))["article_id"]
    rows = rows.filter(pl.col("article_id").is_in(keep.implode()))
    if rows.height == 0:
        return pl.DataFrame({"group": ["all"], "elasticity": [DEFAULT_ELASTICITY], "articles": [0]})
    resid = [_residual(pl.col(c)).alias(f"r{c}") for c in ("x", "y")]
    rows = rows.with_columns(resid)
    by = rows.group_by("group").agg(
        (pl.col("rx") * pl.col("ry")).sum().alias("sxy"),
        (pl.col("rx") ** 2).sum().alias("sxx"),
        pl.col("article_id").n_unique().alias("articles"),
    )
    sxy, sxx = float(by["sxy"].sum()), float(by["sxx"].sum())
    pooled = float(np.clip(-sxy / sxx, 0.0, MAX_ELASTICITY)) if sxx > 0 else DEFAULT_ELASTICITY
    prior = SHRINK * sxx
    groups = by.select(
        "group",
        ((-pl.col("sxy") + prior * pooled) / (pl.col("sxx") + prior))
        .clip(0.0, MAX_ELASTICITY)
        .alias("elasticity"),
        pl.col("articles").cast(pl.Int64),
    )
    extra = pl.DataFrame({"group": ["all"], "elasticity": [pooled], "articles": [int(by["articles"].sum())]})
    return pl.concat([groups.filter(pl.col("group") != "all"), extra]).sort("group")


def article_elasticity(
    weeks: pl.DataFrame, fitted: pl.DataFrame, prior: float = ARTICLE_PRIOR
) -> pl.DataFrame:
    """β per article: its own slope (as in `fit_elasticity`) shrunk towards its group's β, the group's
    counting as `prior` units of the article's price variation (Σ of its residual log-price squared); an
    article without price variation takes its group's. Columns ``article_id``, ``elasticity``.
    """
    rows = weeks.filter(pl.col("age") >= RAMP_WEEKS).with_columns(
        pl.col("units").add(0.5).log().alias("y"), (1.0 - pl.col("discount")).log().alias("x")
    )
    rows = rows.filter(pl.len().over("article_id") >= MIN_WEEKS)
    rows = rows.with_columns([_residual(pl.col(c)).alias(f"r{c}") for c in ("x", "y")])
    per = rows.group_by("article_id", "group").agg(
        (pl.col("rx") * pl.col("ry")).sum().alias("sxy"), (pl.col("rx") ** 2).sum().alias("sxx")
    )
    group_beta = pl.Series(elasticity_for(per["group"], fitted))
    shrunk = (-pl.col("sxy") + prior * pl.col("_group")) / (pl.col("sxx") + prior)
    return per.with_columns(group_beta.alias("_group")).select(
        "article_id",
        shrunk.fill_nan(None).fill_null(pl.col("_group")).clip(0.0, MAX_ELASTICITY).alias("elasticity"),
    )


def _residual(column: pl.Expr) -> pl.Expr:
    """`column` minus its least-squares line in ``age`` within each article."""
    age = pl.col("age").cast(pl.Float64)
    da = age - age.mean().over("article_id")
    dc = column - column.mean().over("article_id")
    slope = (da * dc).sum().over("article_id") / (da**2).sum().over("article_id")
    return dc - slope.fill_nan(0.0) * da


def elasticity_for(groups: pl.Series, fitted: pl.DataFrame) -> np.ndarray:
    """β of each entry of `groups`: its group's, else the pooled (``all``) one."""
    pooled = fitted.filter(pl.col("group") == "all")["elasticity"]
    default = float(pooled[0]) if pooled.len() else DEFAULT_ELASTICITY
    table = dict(zip(fitted["group"].to_list(), fitted["elasticity"].to_list(), strict=True))
    return np.array(
        [table.get(g, default) if g is not None else default for g in groups.to_list()], dtype=float
    )


def scaled_ladder(base: DemandDistribution, factor: np.ndarray) -> DemandDistribution:
    """Ladder rows from base rows: row ``r·L + l`` is base row `r` scaled by ``factor[r, l]`` (≥ 0).

    Examples
    --------
    >>> levels, values = np.array([0.1, 0.5, 0.9]), np.array([[1.0, 2.0, 3.0]])
    >>> base = DemandDistribution.build(np.array([2.0]), levels, values)
    >>> ladder = scaled_ladder(base, np.array([[1.0, 2.0]]))
    >>> ladder.mean.tolist(), ladder.knot_values[1, 1:4].tolist()
    ([2.0, 4.0], [2.0, 4.0, 6.0])
    """
    n_levels = factor.shape[1]
    scale = np.maximum(factor, 0.0).ravel()
    rows = np.repeat(np.arange(base.size), n_levels)
    return DemandDistribution(
        mean=base.mean[rows] * scale,
        poisson=base.poisson[rows],
        knot_levels=base.knot_levels,
        knot_values=base.knot_values[rows] * scale[:, None],
    )
