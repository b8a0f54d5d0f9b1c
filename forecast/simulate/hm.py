"""The synthetic retailer in the H&M Kaggle schema, streamed to disk in bounded memory.

`transactions_train.csv` has one line per unit sold
(``t_dat,customer_id,article_id,price,sales_channel_id``) and `articles.csv` the 25 catalogue columns of the
H&M data. Lines are generated week by week and written in chunks of at most ``max_chunk_lines``, so memory
depends on the catalogue and the chunk size, never on the number of lines.

Volume: the H&M original has 31,788,324 lines for 105,542 articles over 104 weeks, i.e.
`HM_LINES_PER_ARTICLE_WEEK` = 2.896 lines per article-week. Without ``target_lines`` the expected volume is
that rate × articles × weeks × stores / 12, so ``write_hm(out, 105542, 12, 104, seed)`` writes about 31.8M
lines. The demand curves are scaled once (a first pass sums the expected units), then drawn
negative-binomially, so the realised count is within a fraction of a percent of the target.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import IO

import numpy as np
import polars as pl

from forecast.io import atomic_path, write_csv
from forecast.simulate.catalogue import (
    CATEGORY_NAMES,
    COLOURS,
    FABRIC_NAMES,
    Articles,
    make_articles,
    make_stores,
)
from forecast.simulate.demand import article_week_mean, store_fit

HM_ARTICLES = 105_542
HM_WEEKS = 104
HM_LINES = 31_788_324
HM_LINES_PER_ARTICLE_WEEK = HM_LINES / (HM_ARTICLES * HM_WEEKS)
HM_REFERENCE_STORES = 12
HM_PRICE_DIVISOR = 590.0  # EUR per H&M price unit (the published prices are scaled)
HM_LINES_PER_CUSTOMER = 23  # 31.8M lines over 1.37M customers
ONLINE_SHARE = 0.7  # sales_channel_id 2
DAY_OF_WEEK_SHARE = np.array([0.12, 0.12, 0.13, 0.14, 0.16, 0.19, 0.14])
WEEK_BLOCK = 8  # weeks of demand curves held at once

TRANSACTION_COLUMNS = ["t_dat", "customer_id", "article_id", "price", "sales_channel_id"]
ARTICLE_COLUMNS = [
    "article_id", "product_code", "prod_name", "product_type_no", "product_type_name", "product_group_name",
    "graphical_appearance_no", "graphical_appearance_name", "colour_group_code", "colour_group_name",
    "perceived_colour_value_id", "perceived_colour_value_name", "perceived_colour_master_id",
    "perceived_colour_master_name", "department_no", "department_name", "index_code", "index_name",
    "index_group_no", "index_group_name", "section_no", "section_name", "garment_group_no",
    "garment_group_name", "detail_desc",
]  # fmt: skip

# per category: product_type_no, product_type_name, product_group_name, department_no, department_name,
# section_no, section_name, garment_group_no, garment_group_name
_TYPES: dict[str, tuple[tuple[int, str, str, int, str, int, str, int, str], ...]] = {
    "tops": (
        (255, "T-shirt", "Garment Upper body", 1676, "Jersey Basic", 16, "Womens Everyday Basics", 1002,
         "Jersey Basic"),
        (254, "Top", "Garment Upper body", 1636, "Jersey fancy", 15, "Womens Everyday Collection", 1005,
         "Jersey Fancy"),
        (258, "Blouse", "Garment Upper body", 1522, "Blouse", 15, "Womens Everyday Collection", 1010,
         "Blouses"),
    ),
    "dresses": (
        (265, "Dress", "Garment Full body", 1322, "Dress", 15, "Womens Everyday Collection", 1013,
         "Dresses Ladies"),
    ),
    "trousers": (
        (272, "Trousers", "Garment Lower body", 1722, "Trouser", 15, "Womens Everyday Collection", 1009,
         "Trousers"),
    ),
    "knitwear": (
        (252, "Sweater", "Garment Upper body", 1626, "Knitwear", 15, "Womens Everyday Collection", 1003,
         "Knitwear"),
        (245, "Cardigan", "Garment Upper body", 1626, "Knitwear", 15, "Womens Everyday Collection", 1003,
         "Knitwear"),
    ),
    "outerwear": (
        (262, "Jacket", "Garment Upper body", 1201, "Outwear", 19, "Womens Jackets", 1007, "Outdoor"),
        (263, "Coat", "Garment Upper body", 1201, "Outwear", 19, "Womens Jackets", 1007, "Outdoor"),
    ),
    "accessories": (
        (66, "Bag", "Accessories", 3941, "Accessories", 18, "Womens Trend", 1019, "Accessories"),
        (80, "Scarf", "Accessories", 3941, "Accessories", 18, "Womens Trend", 1019, "Accessories"),
    ),
}  # fmt: skip
# colour_group_code, colour_group_name, perceived value id/name, perceived master id/name (order of COLOURS)
_COLOURS: tuple[tuple[int, str, int, str, int, str], ...] = (
    (9, "Black", 4, "Dark", 5, "Black"),
    (10, "White", 3, "Light", 9, "White"),
    (73, "Dark Blue", 4, "Dark", 2, "Blue"),
    (13, "Beige", 2, "Medium Dusty", 11, "Beige"),
    (7, "Grey", 1, "Dusty Light", 12, "Grey"),
    (51, "Light Pink", 1, "Dusty Light", 4, "Pink"),
    (71, "Light Blue", 1, "Dusty Light", 2, "Blue"),
    (42, "Red", 7, "Medium", 18, "Red"),
    (93, "Dark Green", 4, "Dark", 19, "Green"),
    (11, "Off White", 3, "Light", 9, "White"),
)
_APPEARANCES = ((1010016, "Solid"), (1010001, "All over pattern"), (1010010, "Melange"), (1010017, "Stripe"))
_DENIM = (1010023, "Denim")
_NAMES = ("Luna", "Mira", "Nova", "Ella", "Iris", "Sol", "Vera", "Alba", "Juno", "Lia", "Maja", "Tove",
          "Saga", "Nora", "Ines", "Fay", "Elin", "Ava", "Lou", "Ida")  # fmt: skip
_DETAILS = ("a relaxed fit", "a slim fit", "a regular fit", "a soft brushed finish", "a subtle sheen",
            "contrasting details", "a classic cut", "a clean finish", "a textured weave",
            "a wide silhouette")  # fmt: skip

assert len(_COLOURS) == len(COLOURS)


@dataclass(frozen=True)
class HMWriteSummary:
    """What `write_hm` wrote."""

    transactions_path: Path
    articles_path: Path
    lines: int
    chunks: int
    max_chunk_lines: int
    articles: int
    customers: int


def default_target_lines(articles: int, stores: int, weeks: int) -> int:
    """Expected transaction lines at H&M's volume per article-week, scaled by stores / 12."""
    return int(round(HM_LINES_PER_ARTICLE_WEEK * articles * weeks * stores / HM_REFERENCE_STORES))


def write_hm(
    out_dir: str | Path,
    articles: int,
    stores: int,
    weeks: int,
    seed: int,
    target_lines: int | None = None,
    *,
    start: date = date(2018, 9, 17),
    max_chunk_lines: int = 1_000_000,
    progress: Callable[[int, int], None] | None = None,
) -> HMWriteSummary:
    """Write the synthetic retailer as H&M-format `transactions_train.csv` and `articles.csv` into `out_dir`.

    Parameters
    ----------
    out_dir
        Folder for the two files (created if missing); both are written atomically.
    articles, stores, weeks, seed
        Catalogue size, store count (scales the volume, see `default_target_lines`), weeks and seed.
    target_lines
        Expected number of transaction lines; default `default_target_lines(articles, stores, weeks)`.
    start
        Monday of the first week (the H&M original starts in September 2018).
    max_chunk_lines
        Largest number of lines held in memory and written at once.
    progress
        Called as ``progress(weeks_done, weeks)`` after each week.

    Examples
    --------
    >>> import tempfile
    >>> summary = write_hm(tempfile.mkdtemp(), articles=30, stores=2, weeks=4, seed=1)
    >>> summary.chunks >= 4
    True
    """
    if min(articles, stores, weeks, max_chunk_lines) < 1:
        msg = f"articles, stores, weeks and max_chunk_lines must be >= 1, got {articles, stores, weeks}"
        raise ValueError(msg)
    rng = np.random.default_rng(seed)
    catalogue = make_articles(rng, articles, start, weeks, cold_start_share=0.07)
    chain = (store_fit(catalogue, make_stores(rng, stores)) * 1.0).sum(axis=1)
    target = default_target_lines(articles, stores, weeks) if target_lines is None else target_lines
    expected = sum(float(block.sum()) for block, _ in _blocks(catalogue, chain, start, weeks))
    scale = target / expected if expected > 0 else 0.0
    customer_ids, customer_cdf = _customers(rng, max(100, target // HM_LINES_PER_CUSTOMER))
    article_ids = pl.Series(_hm_article_ids(rng, catalogue))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    articles_path = write_csv(_hm_articles(rng, catalogue, article_ids), out / "articles.csv")
    transactions_path = out / "transactions_train.csv"
    lines = chunks = biggest = 0
    with atomic_path(transactions_path) as tmp, tmp.open("wb") as handle:
        handle.write((",".join(TRANSACTION_COLUMNS) + "\n").encode())
        week = 0
        for block, price in _blocks(catalogue, chain, start, weeks):
            units = rng.poisson(block * scale * rng.gamma(1.5, 1 / 1.5, block.shape))
            for w in range(block.shape[1]):
                week_start = start + timedelta(weeks=week)
                frame = _week_lines(rng, units[:, w], price[:, w], week_start, customer_cdf)
                for lo in range(0, frame.height, max_chunk_lines):
                    chunk = frame.slice(lo, max_chunk_lines)
                    _write_chunk(handle, chunk, customer_ids, article_ids)
                    lines, chunks, biggest = lines + chunk.height, chunks + 1, max(biggest, chunk.height)
                week += 1
                if progress is not None:
                    progress(week, weeks)
    return HMWriteSummary(
        transactions_path=transactions_path,
        articles_path=articles_path,
        lines=lines,
        chunks=chunks,
        max_chunk_lines=biggest,
        articles=articles,
        customers=int(customer_ids.len()),
    )


def _blocks(
    catalogue: Articles, chain: np.ndarray, start: date, weeks: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Chain-wide mean units and price per article, `WEEK_BLOCK` weeks at a time."""
    for lo in range(0, weeks, WEEK_BLOCK):
        t = np.arange(lo, min(lo + WEEK_BLOCK, weeks))
        mean, price = article_week_mean(catalogue, start, t)
        yield mean * chain[:, None], price


def _customers(rng: np.random.Generator, n: int) -> tuple[pl.Series, np.ndarray]:
    """`n` customer ids (64 hex characters) and the cumulative share of lines each one buys (heavy-tailed)."""
    raw = rng.integers(0, 256, size=(n, 32), dtype=np.uint8)
    hexdigits = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
    text = np.empty((n, 64), dtype=np.uint8)
    text[:, 0::2] = hexdigits[raw >> 4]
    text[:, 1::2] = hexdigits[raw & 15]
    ids = pl.Series("customer_id", text.view("S64").ravel()).cast(pl.Utf8)
    activity = rng.gamma(0.5, 1.0, size=n)
    cdf = np.cumsum(activity) / activity.sum()
    return ids, cdf


def _week_lines(
    rng: np.random.Generator, units: np.ndarray, price_eur: np.ndarray, week_start: date, cdf: np.ndarray
) -> pl.DataFrame:
    """One line per unit sold this week, as indexes into the customer and article tables, sorted by day."""
    article = np.repeat(np.arange(units.shape[0]), units)
    n = article.shape[0]
    day = rng.choice(7, size=n, p=DAY_OF_WEEK_SHARE)
    customer = np.minimum(np.searchsorted(cdf, rng.random(n)), cdf.shape[0] - 1)
    channel = np.where(rng.random(n) < ONLINE_SHARE, 2, 1)
    order = np.lexsort((article, customer, day))
    dates = np.datetime64(week_start, "D") + day[order].astype("timedelta64[D]")
    return pl.DataFrame(
        {
            "t_dat": pl.Series(dates).cast(pl.Date),
            "customer": customer[order],
            "article": article[order],
            "price": np.round(price_eur[article[order]] / HM_PRICE_DIVISOR, 6),
            "sales_channel_id": channel[order].astype(np.int64),
        }
    )


def _write_chunk(
    handle: IO[bytes], chunk: pl.DataFrame, customer_ids: pl.Series, article_ids: pl.Series
) -> None:
    lines = pl.DataFrame(
        {
            "t_dat": chunk["t_dat"],
            "customer_id": customer_ids.gather(chunk["customer"]),
            "article_id": article_ids.gather(chunk["article"]),
            "price": chunk["price"],
            "sales_channel_id": chunk["sales_channel_id"],
        }
    )
    lines.write_csv(handle, include_header=False, date_format="%Y-%m-%d")


def _hm_article_ids(rng: np.random.Generator, catalogue: Articles) -> np.ndarray:
    """10-digit ids: 7-digit product code (1-3 colour variants of a category share it) + 3-digit variant."""
    n = len(catalogue)
    product = np.empty(n, dtype=np.int64)
    variant = np.empty(n, dtype=np.int64)
    groups = 0
    for category in np.unique(catalogue.category):
        members = np.flatnonzero(catalogue.category == category)
        sizes = rng.integers(1, 4, size=members.shape[0])
        ends = np.cumsum(sizes)
        ends = ends[ends < members.shape[0]]
        group = np.zeros(members.shape[0], dtype=np.int64)
        group[ends] = 1
        group = np.cumsum(group)
        starts = np.concatenate([[0], ends])
        product[members] = groups + group
        variant[members] = np.arange(members.shape[0]) - starts[group] + 1
        groups += int(group[-1]) + 1
    # product codes numbered in catalogue order of their first article
    _, first = np.unique(product, return_index=True)
    rank = np.empty(groups, dtype=np.int64)
    rank[np.argsort(first)] = np.arange(groups)
    codes = 108_775 + np.cumsum(rng.integers(1, 9, size=groups))
    return np.array(
        [f"{codes[rank[p]]:07d}{v * 3:03d}" for p, v in zip(product, variant, strict=True)], dtype=object
    )


def _hm_articles(rng: np.random.Generator, catalogue: Articles, article_ids: pl.Series) -> pl.DataFrame:
    """The 25 H&M catalogue columns; colour variants of a product share its type, name and description."""
    n = len(catalogue)
    product_code = article_ids.str.slice(0, 7).cast(pl.Int64).to_numpy()
    _, first, inverse = np.unique(product_code, return_index=True, return_inverse=True)
    pick = rng.integers(0, 60, size=n)[first][inverse]
    name = rng.integers(0, len(_NAMES), size=n)[first][inverse]
    detail = rng.integers(0, len(_DETAILS), size=n)[first][inverse]
    look = rng.choice(len(_APPEARANCES), size=n, p=[0.6, 0.2, 0.1, 0.1])
    rows = []
    for i in range(n):
        types = _TYPES[CATEGORY_NAMES[catalogue.category[i]]]
        ptype = types[pick[i] % len(types)]
        fabric = FABRIC_NAMES[catalogue.fabric[i]]
        appearance = _DENIM if fabric == "denim" else _APPEARANCES[look[i]]
        rows.append(
            (
                article_ids[i], int(product_code[i]), f"{_NAMES[name[i]]} {ptype[1].lower()}", ptype[0],
                ptype[1], ptype[2], *appearance, *_COLOURS[catalogue.colour[i]], ptype[3], ptype[4], "A",
                "Ladieswear", 1, "Ladieswear", ptype[5], ptype[6], ptype[7], ptype[8],
                f"{ptype[1]} in {fabric} with {_DETAILS[detail[i]]}.",
            )
        )  # fmt: skip
    return pl.DataFrame(rows, schema=ARTICLE_COLUMNS, orient="row")
