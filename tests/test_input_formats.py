"""Every table a command reads may be CSV, gzip-compressed CSV or Parquet, read the same way; forecasts read
by a command follow the rules of the forecasts the tool writes."""

from __future__ import annotations

import gzip
import subprocess
import sys
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_adapters_canonical import make_canonical
from test_robustness import HEADER, WEEKLY

from forecast.adapters.canonical import load_canonical
from forecast.adapters.common import find_table
from forecast.cli.inputs import read_forecasts, read_table
from forecast.distribution import coherent_forecasts, lowest_mean
from forecast.errors import InputError
from forecast.models.base import Estimator
from forecast.schemas import check_forecast_values

REPO = Path(__file__).resolve().parents[1]
FORECASTS = pl.DataFrame(
    {
        "article_id": ["A1", "A1", "A2", "A2"],
        "store_id": ["S1", "S2", "S1", "S2"],
        "week": [date(2024, 3, 4)] * 4,
        "horizon": 1,
        "model": "lgbm",
        "mean": [4.0, 2.0, 3.0, 6.0],
        "q10": [1.0, 0.0, 1.0, 2.0],
        "q50": [4.0, 2.0, 3.0, 6.0],
        "q90": [8.0, 4.0, 6.0, 10.0],
    }
)


def _gzip(path: Path, target: Path) -> Path:
    target.write_bytes(gzip.compress(path.read_bytes()))
    return target


def _sorted(ds: object) -> list[pl.DataFrame]:
    return [getattr(ds, name) for name in ("sales", "articles", "stores")]


def test_a_dataset_folder_with_gzip_sales_reads_as_the_plain_one(tmp_path: Path) -> None:
    rows = "2024-01-08,s2,a2,inf,5\n2024-01-08,s2,a2,abc,5\n"
    plain = load_canonical(make_canonical(tmp_path / "plain", sales_csv=HEADER + WEEKLY + rows))
    config = make_canonical(tmp_path / "gz", sales_csv=HEADER + WEEKLY + rows)
    _gzip(tmp_path / "gz" / "sales.csv", tmp_path / "gz" / "sales.csv.gz")
    (tmp_path / "gz" / "sales.csv").unlink()
    packed = load_canonical(config)
    for left, right in zip(_sorted(plain), _sorted(packed), strict=True):
        assert left.equals(right)
    assert packed.rejects["row"].to_list() == plain.rejects["row"].to_list()
    assert packed.rejects["reason"].to_list() == plain.rejects["reason"].to_list()
    assert set(packed.rejects.filter(pl.col("row") == 4)["file"].to_list()) == {"sales.csv.gz"}


def test_a_parquet_table_reads_as_the_csv(tmp_path: Path) -> None:
    plain = load_canonical(make_canonical(tmp_path / "plain"))
    config = make_canonical(tmp_path / "pq")
    pl.read_csv(tmp_path / "pq" / "stores.csv", infer_schema=False).write_parquet(
        tmp_path / "pq" / "stores.parquet"
    )
    (tmp_path / "pq" / "stores.csv").unlink()
    assert load_canonical(config).stores.equals(plain.stores)


def test_two_forms_of_one_table_are_refused(tmp_path: Path) -> None:
    config = make_canonical(tmp_path)
    _gzip(tmp_path / "sales.csv", tmp_path / "sales.csv.gz")
    with pytest.raises(InputError, match=r"both 'sales.csv' and 'sales.csv.gz' exist.*; fix: keep one"):
        load_canonical(config)
    assert find_table(tmp_path, "stores.csv") == tmp_path / "stores.csv"


def _forms(tmp_path: Path, frame: pl.DataFrame) -> dict[str, Path]:
    csv = tmp_path / "forecasts.csv"
    frame.write_csv(csv)
    parquet = tmp_path / "parquet" / "forecasts.parquet"
    parquet.parent.mkdir()
    frame.write_parquet(parquet)
    hidden = tmp_path / "hidden"
    hidden.mkdir()
    return {
        "csv": csv,
        "csv.gz": _gzip(csv, tmp_path / "forecasts.csv.gz"),
        "gzip named .csv": _gzip(csv, hidden / "forecasts.csv"),
        "parquet": parquet,
    }


def test_command_inputs_read_the_same_in_every_form(tmp_path: Path) -> None:
    forms = _forms(tmp_path, FORECASTS)
    expected = read_table(forms["csv"], "forecasts")
    assert expected.schema["mean"] == pl.Float64
    assert expected.schema["horizon"] == pl.Int64
    for form, path in forms.items():
        assert read_forecasts(path).equals(expected), form


@pytest.mark.parametrize("form", ["csv", "csv.gz", "parquet"])
def test_bad_values_name_the_same_row_in_every_form(tmp_path: Path, form: str) -> None:
    bad = FORECASTS.with_columns(pl.Series("mean", [4.0, 2.0, float("inf"), 6.0]))
    path = _forms(tmp_path, bad)[form]
    with pytest.raises(InputError, match=r"column 'mean', row 3: not a finite number"):
        read_table(path, "forecasts")


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"q10": [1.0, 3.0, 1.0, 2.0]}, r"column 'q50', row 2: quantiles cross: q10 above q50 \(1 rows: 2\)"),
        (
            {"q90": [8.0, 4.0, 2.0, 1.0]},
            r"column 'q90', row 3: quantiles cross: q50 above q90 \(2 rows: 3, 4\)",
        ),
        ({"q10": [1.0, -1.0, 1.0, 2.0]}, r"column 'q10', row 2: must be >= 0"),
        ({"mean": [4.0, 2.0, -3.0, 6.0]}, r"column 'mean', row 3: must be >= 0"),
    ],
)
def test_forecasts_breaking_the_rules_are_refused_naming_rows(
    tmp_path: Path, change: dict[str, list[float]], fragment: str
) -> None:
    path = _forms(tmp_path, FORECASTS.with_columns(pl.Series(k, v) for k, v in change.items()))["csv.gz"]
    with pytest.raises(InputError, match=fragment) as caught:
        read_forecasts(path)
    assert str(path) in str(caught.value)
    assert "; fix: " in str(caught.value)


def test_an_empty_quantile_is_allowed(tmp_path: Path) -> None:
    frame = FORECASTS.with_columns(pl.Series("q50", [4.0, None, 3.0, 6.0]))
    assert read_forecasts(_forms(tmp_path, frame)["csv"])["q50"].null_count() == 1


@pytest.mark.parametrize("command", ["allocate", "replenish"])
def test_commands_refuse_crossing_quantiles(tmp_path: Path, command: str) -> None:
    crossing = FORECASTS.with_columns(q10=pl.Series([9.0, 0.0, 1.0, 2.0]))
    files = {
        "forecasts": crossing,
        "dc": pl.DataFrame(
            {
                "article_id": ["A1", "A2"],
                "available_units": [8, 9],
                "pack_size": [2, 3],
                "unit_cost": [5.0, 8.0],
            }
        ).with_columns(price=pl.Series([12.0, 20.0])),
        "stores": pl.DataFrame({"store_id": ["S1", "S2"], "capacity_units": [10, 12]}),
        "stock": pl.DataFrame({"store_id": ["S1"], "article_id": ["A1"], "on_hand": [1]}),
    }
    paths = {}
    for name, frame in files.items():
        paths[name] = tmp_path / f"{name}.csv"
        frame.write_csv(paths[name])
    args = ["--forecasts", paths["forecasts"], "--dc-stock", paths["dc"], "--stores", paths["stores"]]
    args += [
        "--store-stock",
        paths["stock"],
        "--out",
        tmp_path / "out" / ("plan.csv" if command == "allocate" else ""),
    ]
    result = subprocess.run(
        [sys.executable, "-m", "forecast", command, *map(str, args)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    assert f"{paths['forecasts']}: column 'q50', row 1: quantiles cross" in result.stderr
    assert not (tmp_path / "out").exists()


QUANTS = st.lists(st.floats(-5, 50, allow_nan=False), min_size=3, max_size=3)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(-5, 50, allow_nan=False), QUANTS), min_size=1, max_size=8))
def test_the_rules_hold_for_what_the_tool_writes(rows: list[tuple[float, list[float]]]) -> None:
    raw = pl.DataFrame(
        {
            "mean": [m for m, _ in rows],
            "q10": [q[0] for _, q in rows],
            "q50": [q[1] for _, q in rows],
            "q90": [q[2] for _, q in rows],
        }
    )
    fixed, _ = coherent_forecasts(raw, decimals=2)
    check_forecast_values(fixed, "forecasts.csv")
    built = _builder().forecast_frame(
        _keys(len(rows)), raw["mean"], raw.select("q10", "q50", "q90").to_numpy()
    )
    check_forecast_values(built, "model output")
    levels = np.array([0.1, 0.5, 0.9])
    floor = lowest_mean(levels, built.select("q10", "q50", "q90").to_numpy())
    assert (built["mean"].to_numpy() >= floor * (1 - 1e-9) - 1e-9).all()
    assert coherent_forecasts(built)[1].lowered == 0


def _builder() -> Estimator:
    class Toy(Estimator):
        name = "toy"

    return Toy()


def _keys(n: int) -> pl.DataFrame:
    return pl.DataFrame(
        {"article_id": [f"A{i}" for i in range(n)], "store_id": "S1", "week": date(2024, 1, 1), "horizon": 1}
    )


def test_one_value_rule_for_sources_and_command_inputs(tmp_path: Path) -> None:
    from forecast.checks import LARGE_REASON

    ds = load_canonical(
        make_canonical(tmp_path / "data", sales_csv=HEADER + WEEKLY + "2024-01-08,s2,a2,1e13,5\n")
    )
    assert ds.rejects.filter(pl.col("column") == "units")["reason"].to_list() == [LARGE_REASON]
    path = _forms(tmp_path, FORECASTS.with_columns(pl.Series("mean", [4.0, 2.0, 1e13, 6.0])))["csv"]
    with pytest.raises(InputError, match=r"column 'mean', row 3: implausibly large \(beyond ±1e\+12\)"):
        read_forecasts(path)
