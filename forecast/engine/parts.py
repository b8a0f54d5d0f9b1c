"""The data split by article group into Parquet files the workers read themselves; the part a worker holds.

`write_parts` writes, for each group ``k``, the article-keyed tables of the dataset (sales, stock, the true
demand, the DC stock and the catalogue rows) to ``part-k/*.parquet``, and the rest of the dataset (stores,
trends, exogenous weeks and the descriptive fields) once to ``meta.pkl``. An article's rows all go to one
group (a seeded hash of its id), so every per-series stage gives, on a part, exactly the whole run's rows for
its articles (`tests/test_partition.py`). `load_part` is what a worker runs: it reads its files and builds
and checks its part of the panel.
"""

from __future__ import annotations

import pickle
import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import polars as pl

from forecast.dataset import Dataset
from forecast.panel import build_panel, check_panel

ARTICLE_TABLES = ("sales", "articles", "stock", "dc_stock", "true_demand", "prices")
META = "meta.pkl"


def group_of(n: int) -> pl.Expr:
    """The article group (0..n-1) of each row's ``article_id``: a hash, the same on every machine that
    runs this Polars version."""
    return (pl.col("article_id").cast(pl.Utf8).hash(seed=0) % n).cast(pl.Int64)


def write_parts(ds: Dataset, folder: Path, n: int) -> list[Path]:
    """Write `ds` split into `n` article groups under `folder` (made afresh); the part folders, one per
    group that has sales or catalogue rows."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    empty: dict[str, Any] = {name: _empty(getattr(ds, name)) for name in ARTICLE_TABLES}
    meta = replace(ds, **empty)
    meta = replace(meta, rejects=ds.rejects.head(0))
    (folder / META).write_bytes(pickle.dumps(meta, protocol=pickle.HIGHEST_PROTOCOL))
    groups: dict[int, Path] = {}
    for name in ARTICLE_TABLES:
        table = getattr(ds, name)
        if table is None or table.height == 0:
            continue
        split = table.with_columns(group_of(n).alias("_group")).partition_by("_group", as_dict=True)
        for (key, *_), rows in split.items():
            part = groups.setdefault(int(key), folder / f"part-{int(key):05d}")  # type: ignore[call-overload]
            part.mkdir(exist_ok=True)
            rows.drop("_group").write_parquet(part / f"{name}.parquet", statistics=False)
    return [groups[k] for k in sorted(groups)]


def _empty(frame: pl.DataFrame | None) -> pl.DataFrame | None:
    return None if frame is None else frame.head(0)


def read_part(folder: Path) -> Dataset:
    """The dataset of one part folder: its article tables, the rest from the run's ``meta.pkl``."""
    meta: Dataset = pickle.loads((folder.parent / META).read_bytes())
    tables: dict[str, Any] = {}
    for name in ARTICLE_TABLES:
        path = folder / f"{name}.parquet"
        empty = getattr(meta, name)
        tables[name] = pl.read_parquet(path) if path.exists() else empty
    return replace(meta, **tables)


@dataclass
class Part:
    """What a worker holds for one article group: its dataset (sales dropped once the panel is built)
    and its checked panel."""

    name: str
    ds: Dataset
    panel: pl.DataFrame


@dataclass
class Summary:
    """What the whole run needs from a part: its weeks, rows and series (the totals a global model needs are
    taken per fold, from the history at the fold's origin: `forecast.engine.tasks.fold_summary`)."""

    weeks: list
    rows: int
    series: pl.DataFrame  # article_id, store_id of every series


def load_part(folder: str) -> Part:
    """Read a part folder and build its panel (a worker task)."""
    path = Path(folder)
    ds = read_part(path)
    panel = check_panel(build_panel(ds).collect())
    return Part(path.name, replace(ds, sales=ds.sales.head(0)), panel)


def summary(part: Part) -> Summary:
    """The part's contribution to the run's reduce step."""
    weeks = part.panel.get_column("week").unique().sort().to_list()
    series = part.panel.select(pl.col("article_id").cast(pl.Utf8), pl.col("store_id").cast(pl.Utf8)).unique()
    return Summary(weeks, part.panel.height, series)


@dataclass(frozen=True)
class RunContext:
    """The whole run's weeks: the union of the parts' (the folds' origins and the first week)."""

    weeks: tuple

    @classmethod
    def combine(cls, parts: list[Summary]) -> RunContext:
        return cls(tuple(sorted({w for p in parts for w in p.weeks})))


def gather_panel(panels: list[pl.DataFrame]) -> pl.DataFrame:
    """The parts' panels as the whole run's panel (rows in its order)."""
    from forecast.contracts import WEEKLY_KEY

    frames = [p for p in panels if p.height]
    if not frames:
        return panels[0]
    return check_panel(pl.concat(frames, how="vertical_relaxed").sort(WEEKLY_KEY))
