"""Canonical tables stored as files: the `Dataset` contract written to a folder (also what `simulate` writes).

Files (CSV or Parquet with the same stem; names from the pipeline's ``[data]`` section): ``sales.csv``,
``articles.csv``, ``stores.csv`` (required); ``stock.csv``, ``exog.csv``, ``dc_stock.csv``, ``trends.csv``,
``prices.csv``, ``true_demand.csv`` (optional; the simulator's ground-truth price response is never read).
Columns are those of `forecast.dataset`; extra columns are kept (numbers when every value parses as a number,
else text) and, in ``articles`` and ``stores``, listed as attributes.

The grain is inferred (unless ``[data] grain`` names it): ``weekly`` when every sales date is one weekday
(which becomes ``week_label``) and there is at most one row per article × store × date, counting sales
(units >= 0) and returns (units < 0) apart, since a weekly table may list a week's returns on their own row;
else ``transactions``. Rows identical to an earlier row are left out of that judgement: in weekly data they
are copies, rejected as "duplicate row" (never summed); in transactions they are separate sales.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import pandera.polars as pa
import polars as pl

from forecast.adapters.common import (
    DEFAULT_DATES,
    ROW,
    Kind,
    check_references,
    check_unique,
    concat_rejects,
    data_folder,
    drop_rejected,
    duplicate_rows,
    find_table,
    parse_columns,
    read_table,
    require_file,
    source_cache,
)
from forecast.calendar import week_of
from forecast.config import DataConfig
from forecast.dataset import WEEKDAYS, Dataset
from forecast.errors import InputError
from forecast.io import unneutralise_frame
from forecast.prices import with_override
from forecast.schemas import (
    ArticleSchema,
    DcStockSchema,
    ExogSchema,
    PriceSchema,
    SalesSchema,
    StockSchema,
    StoreSchema,
    TrendSchema,
    TrueDemandSchema,
    validate_rows,
)


@dataclass(frozen=True)
class TableSpec:
    """How to read one canonical table: column kinds, defaults for absent optional columns, keys."""

    schema: type[pa.DataFrameModel]
    required: dict[str, Kind]
    optional: dict[str, Kind] = field(default_factory=dict)
    keys: tuple[str, ...] = ()
    non_negative: tuple[str, ...] = ()
    master: bool = False  # master data: a bad number is fatal, not a reject


SPECS = {
    "sales": TableSpec(
        SalesSchema,
        {"date": "date", "store_id": "id", "article_id": "id", "units": "float"},
        {"price": "float", "is_holiday": "bool"},
        non_negative=("price",),
    ),
    "articles": TableSpec(
        ArticleSchema,
        {"article_id": "id"},
        {
            "category": "str",
            "launch_date": "date",
            "end_date": "date",
            "list_price": "float",
            "unit_cost": "float",
            "is_future": "bool",
        },
        keys=("article_id",),
        non_negative=("list_price", "unit_cost"),
        master=True,
    ),
    "stores": TableSpec(
        StoreSchema,
        {"store_id": "id"},
        {"capacity_units": "float"},
        keys=("store_id",),
        non_negative=("capacity_units",),
        master=True,
    ),
    "stock": TableSpec(
        StockSchema,
        {"week": "date", "store_id": "id", "article_id": "id", "on_hand": "float"},
        keys=("week", "store_id", "article_id"),
        non_negative=("on_hand",),
    ),
    "exog": TableSpec(ExogSchema, {"week": "date"}, {"store_id": "id"}),
    "dc_stock": TableSpec(
        DcStockSchema,
        {"article_id": "id", "available_units": "float", "pack_size": "float"},
        {"unit_cost": "float", "price": "float", "holding_cost": "float"},
        keys=("article_id",),
        non_negative=("available_units", "pack_size", "unit_cost", "price", "holding_cost"),
        master=True,
    ),
    "trends": TableSpec(
        TrendSchema,
        {"week": "date", "term": "str", "value": "float"},
        keys=("week", "term"),
        non_negative=("value",),
    ),
    "prices": TableSpec(
        PriceSchema,
        {"article_id": "id", "store_id": "id", "week": "date", "price": "float"},
        {"promo": "float"},
        keys=("article_id", "store_id", "week"),
        non_negative=("price",),
    ),
    "true_demand": TableSpec(
        TrueDemandSchema,
        {"week": "date", "store_id": "id", "article_id": "id", "demand": "float"},
        keys=("week", "store_id", "article_id"),
        non_negative=("demand",),
    ),
}
_DTYPES: dict[Kind, pl.DataType] = {
    "str": pl.Utf8(),
    "id": pl.Utf8(),
    "float": pl.Float64(),
    "date": pl.Date(),
    "bool": pl.Boolean(),
}
PRICES_FILE = "prices.csv"
CHAIN = "ALL"  # store_id of a chain-wide price
FIX = "point [data] path (or --data) at a folder with sales.csv, articles.csv and stores.csv"


def _infer_extra(typed: pl.DataFrame, extras: list[str]) -> pl.DataFrame:
    """Extra columns become Float64 when every non-null value parses as a number, else stay text."""
    casts = []
    for column in extras:
        numbers = typed[column].cast(pl.Float64, strict=False)
        if numbers.null_count() == typed[column].null_count():
            casts.append(numbers.alias(column))
    return typed.with_columns(casts) if casts else typed


def read_canonical_table(
    path: Path, table: str, config: DataConfig | None = None
) -> tuple[pl.DataFrame, pl.DataFrame, int]:
    """Read one canonical table: typed rows kept (with ``_row``), rejects and rows read.

    Rows identical to an earlier row are rejects ("duplicate row"), except in master data (where any
    repeated key is fatal) and in sales, whose duplicates `load_canonical` judges with the grain.
    """
    spec = SPECS[table]
    name = path.name
    raw = read_table(path, required=list(spec.required), cache=source_cache(config))
    raw = unneutralise_frame(raw)
    kinds = {**spec.required, **spec.optional}
    dates = (config.date_min, config.date_max) if config is not None else DEFAULT_DATES
    typed, rejects = parse_columns(
        raw,
        kinds,
        file=name,
        not_null=list(spec.required),
        non_negative=spec.non_negative,
        dates=dates,
        master=spec.master,
    )
    defaults = [
        (pl.lit(False) if kind == "bool" and column == "is_future" else pl.lit(None, _DTYPES[kind])).alias(
            column
        )
        for column, kind in spec.optional.items()
        if column not in typed.columns
        and column not in ("is_holiday", "holding_cost", "store_id", "end_date")
    ]
    if table == "exog" and "store_id" not in typed.columns:
        defaults.append(pl.lit(None, pl.Utf8).alias("store_id"))
    typed = typed.with_columns(defaults)
    if "is_future" in typed.columns:
        typed = typed.with_columns(pl.col("is_future").fill_null(False))
    extras = [c for c in raw.columns if c not in kinds and c != ROW]
    typed = _infer_extra(drop_rejected(typed, rejects, file=name), extras)
    kept, more = validate_rows(typed, spec.schema, file=name)
    if table != "sales" and not spec.master:
        same = duplicate_rows(kept, file=name)
        kept = drop_rejected(kept, same, file=name)
        more = concat_rejects([more, same])
    if spec.keys:
        check_unique(kept, list(spec.keys), file=name, what=" × ".join(spec.keys))
    return kept, concat_rejects([rejects, more]), raw.height


def infer_grain(sales: pl.DataFrame) -> tuple[str, str]:
    """The grain and week label of `sales`.

    ``("weekly", weekday)`` when all dates share a weekday and article × store × date × sign (sale or
    return) is unique, else ``("transactions", "MON")``.

    Examples
    --------
    >>> import datetime as dt
    >>> days = [dt.date(2024, 1, 1), dt.date(2024, 1, 8)]
    >>> frame = pl.DataFrame({"date": days, "article_id": "a", "store_id": "s", "units": 1.0})
    >>> infer_grain(frame)
    ('weekly', 'MON')
    """
    weekdays = sales["date"].dt.weekday().unique()
    keys = sales.select("article_id", "store_id", "date", (pl.col("units") < 0).alias("is_return"))
    if weekdays.len() == 1 and not keys.is_duplicated().any():
        return "weekly", WEEKDAYS[int(weekdays[0]) - 1]
    return "transactions", "MON"


def sales_grain(sales: pl.DataFrame, grain: str, file: str) -> tuple[pl.DataFrame, pl.DataFrame, str, str]:
    """The sales rows kept, the duplicate-row rejects, the grain and the week label.

    Weekly data lists each article × store × week once, so a row identical to an earlier one is a
    copy ("duplicate row"), rejected rather than summed; the grain is judged without such copies, so
    copies never turn a weekly table into transactions. In transactions identical lines are separate
    sales and all are kept. ``grain`` is the pipeline's ``[data] grain``: auto, weekly or transactions.
    """
    columns = [c for c in sales.columns if c != ROW]
    copies = duplicate_rows(sales, file=file, columns=columns)
    unique = drop_rejected(sales, copies, file=file)
    if grain == "transactions":
        return sales, concat_rejects([]), "transactions", "MON"
    inferred, label = infer_grain(unique) if unique.height else ("weekly", "MON")
    if inferred == "weekly":
        return unique, copies, "weekly", label
    if grain == "weekly":
        weekdays = unique["date"].dt.weekday().unique()
        if weekdays.len() > 1:
            first = unique.filter(pl.col("date").dt.weekday() != weekdays.sort()[0]).row(0, named=True)
            msg = f"weekly sales must all fall on one weekday; dates fall on {weekdays.len()} weekdays"
            fix = "label every week with the same weekday, or set [data] grain = 'transactions'"
            raise InputError(msg, file=file, column="date", row=first[ROW], fix=fix)
        check_unique(
            unique.with_columns((pl.col("units") < 0).alias("is_return")),
            ["article_id", "store_id", "date", "is_return"],
            file=file,
            what="article × store × week",
            label="date",
        )
    return sales, concat_rejects([]), "transactions", "MON"


def _optional(
    folder: Path, name: str, table: str, config: DataConfig
) -> tuple[pl.DataFrame | None, pl.DataFrame, dict[str, int]]:
    path = find_table(folder, name)
    if path is None:
        return None, concat_rejects([]), {}
    frame, rejects, n = read_canonical_table(path, table, config)
    return frame, rejects, {path.name: n}


def load_canonical(config: DataConfig) -> Dataset:
    """Read a folder of canonical tables into a `Dataset`."""
    folder = data_folder(config)
    tables: dict[str, pl.DataFrame | None] = {}
    rejects, rows_read, names = [], {}, {}
    for table, name in (("articles", config.articles), ("stores", config.stores), ("sales", config.sales)):
        path = require_file(folder, name, FIX)
        tables[table], table_rejects, rows_read[path.name] = read_canonical_table(path, table, config)
        rejects.append(table_rejects)
        names[table] = path.name
    optional = {"stock": config.stock, "exog": config.exog, "dc_stock": config.dc_stock}
    optional |= {"trends": "trends.csv", "true_demand": "true_demand.csv", "prices": PRICES_FILE}
    for table, name in optional.items():
        tables[table], table_rejects, read = _optional(folder, name, table, config)
        rejects.append(table_rejects)
        rows_read |= read
        names[table] = next(iter(read), name)
    articles, stores, sales = tables["articles"], tables["stores"], tables["sales"]
    assert articles is not None
    assert stores is not None
    assert sales is not None
    sales, copies, grain, week_label = sales_grain(sales, config.grain, names["sales"])
    rejects.append(copies)
    tables["sales"] = sales
    _check_references(tables, names, articles["article_id"], stores["store_id"])
    dropped = {t: (f.drop(ROW) if f is not None else None) for t, f in tables.items()}
    return Dataset(
        name=folder.name,
        sales=sales.drop(ROW),
        articles=articles.drop(ROW),
        stores=stores.drop(ROW),
        stock=dropped["stock"],
        exog=dropped["exog"],
        trends=dropped["trends"],
        dc_stock=dropped["dc_stock"],
        true_demand=dropped["true_demand"],
        prices=dropped["prices"],
        rejects=concat_rejects(rejects),
        rows_read=rows_read,
        grain="weekly" if grain == "weekly" else "transactions",
        week_label=week_label,
        article_attributes=_attributes(articles, "article_id", SPECS["articles"].optional),
        store_attributes=_attributes(stores, "store_id", SPECS["stores"].optional),
    )


def _attributes(frame: pl.DataFrame, key: str, known: dict[str, Kind]) -> list[str]:
    return [c for c in frame.columns if c not in known and c not in (key, ROW)]


def _check_references(
    tables: dict[str, pl.DataFrame | None],
    names: dict[str, str],
    article_ids: pl.Series,
    store_ids: pl.Series,
) -> None:
    master = {"article_id": (article_ids, names["articles"]), "store_id": (store_ids, names["stores"])}
    for table in ("sales", "stock", "dc_stock", "true_demand", "prices"):
        frame = tables.get(table)
        if frame is None:
            continue
        if table == "prices":
            # ALL is the chain-wide price, not a store
            frame = frame.filter(pl.col("store_id") != CHAIN)
        for column, (known, master_name) in master.items():
            if column in frame.columns:
                check_references(frame, column, known, file=names[table], master=master_name)


def with_price_file(ds: Dataset, path: Path, config: DataConfig) -> Dataset:
    """`ds` whose planned prices (weeks after its last week of sales) are those of the prices file `path`.

    The file is read and validated as ``prices.csv`` is (its rejects join the dataset's); its rows up to
    the last week of sales are left out, since what was charged is history.
    """
    if not path.is_file():
        msg = f"prices file not found: {str(path)!r}"
        raise InputError(msg, file=str(path), fix="pass an existing CSV with --prices")
    frame, rejects, n = read_canonical_table(path, "prices", config)
    known = frame.filter(pl.col("store_id") != CHAIN)
    for column, master in ((ds.articles, "article_id"), (ds.stores, "store_id")):
        ids = column[master].cast(pl.Utf8)
        check_references(known, master, ids, file=path.name, master=f"the dataset's {master}s")
    last = ds.sales.select(week_of("date", ds.week_label, ds.week_label_is_end).max()).item()
    prices = with_override(ds.prices, frame.drop(ROW), last)
    return replace(
        ds,
        prices=prices,
        rejects=concat_rejects([ds.rejects, rejects]),
        rows_read={**ds.rows_read, path.name: n},
    )
