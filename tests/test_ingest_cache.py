"""Streaming ingestion and the Parquet copy of CSV sources: one Dataset cached or not, stale on change."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import polars as pl
import pytest

from forecast.adapters import scan
from forecast.adapters.canonical import load_canonical
from forecast.adapters.common import read_table
from forecast.config import DataConfig, SimulateConfig, parse_pipeline
from forecast.dataset import Dataset
from forecast.errors import ConfigError, InputError
from forecast.simulate import simulate_dataset, write_canonical


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small simulated retailer as canonical CSV files, with two rows that must be rejected."""
    folder = tmp_path_factory.mktemp("source")
    write_canonical(simulate_dataset(SimulateConfig(articles=20, stores=3, weeks=30, seed=3)), folder)
    sales = folder / "sales.csv"
    lines = sales.read_text(encoding="utf-8").splitlines()
    bad = lines[1].split(",")
    bad[lines[0].split(",").index("units")] = "many"
    lines += [",".join(bad), lines[2]]  # an unparsable number; a copy of row 2 (weekly data: rejected)
    sales.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


@pytest.fixture(autouse=True)
def _copy_every_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scan, "CACHE_MIN_BYTES", 0)


def _config(folder: Path, cache_dir: Path, *, cache: bool = True) -> DataConfig:
    return DataConfig(adapter="canonical", path=folder, cache=cache, cache_dir=cache_dir)


def _assert_same(a: Dataset, b: Dataset) -> None:
    for item in dataclasses.fields(Dataset):
        left, right = getattr(a, item.name), getattr(b, item.name)
        if isinstance(left, pl.DataFrame):
            assert isinstance(right, pl.DataFrame), item.name
            assert left.schema == right.schema, item.name
            assert left.equals(right), item.name
        else:
            assert left == right, item.name


def _copies(cache_dir: Path) -> list[Path]:
    return sorted((cache_dir / "sources").glob("*.parquet"))


def test_cached_and_uncached_loads_are_identical(source: Path, tmp_path: Path) -> None:
    plain = load_canonical(_config(source, tmp_path / "unused", cache=False))
    assert not (tmp_path / "unused").exists()
    first = load_canonical(_config(source, tmp_path / "cache"))  # writes the copies
    assert {p.name.split("-")[0] for p in _copies(tmp_path / "cache")} >= {"sales", "articles", "stores"}
    second = load_canonical(_config(source, tmp_path / "cache"))  # reads them
    for ds in (first, second):
        _assert_same(plain, ds)
    reasons = plain.rejects.filter(pl.col("file") == "sales.csv")["reason"].to_list()
    assert reasons == ["unparsable number", "duplicate row (same as row 2)"]
    kept = plain.rows_kept()["sales.csv"]
    assert kept == plain.sales.height
    assert (
        kept + plain.rejects.filter(pl.col("file") == "sales.csv")["row"].n_unique()
        == (plain.rows_read["sales.csv"])
    )


def test_a_current_copy_is_read_instead_of_the_csv(
    source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = load_canonical(_config(source, tmp_path))

    def no_csv(*_args: object, **_kwargs: object) -> pl.LazyFrame:
        msg = "the CSV was scanned although its copy is current"
        raise AssertionError(msg)

    monkeypatch.setattr(scan.pl, "scan_csv", no_csv)
    _assert_same(expected, load_canonical(_config(source, tmp_path)))


def _table(path: Path, cache_dir: Path) -> pl.DataFrame:
    return read_table(path, required=["a"], cache=cache_dir)


def test_copy_is_stale_when_the_source_changes(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("a,b\n1,x\n2,y\n", encoding="utf-8")
    cache_dir = tmp_path / "cache"
    assert _table(path, cache_dir)["b"].to_list() == ["x", "y"]
    (old,) = _copies(cache_dir)
    path.write_text("a,b\n1,x\n2,y\n3,z\n", encoding="utf-8")  # appended: size and mtime change
    assert _table(path, cache_dir)["b"].to_list() == ["x", "y", "z"]
    (new,) = _copies(cache_dir)  # the stale copy is gone
    assert new != old
    # same size, same modification time, other content: the content hash tells them apart
    stat = path.stat()
    path.write_text("a,b\n1,x\n2,y\n3,w\n", encoding="utf-8")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert path.stat().st_size == stat.st_size
    assert _table(path, cache_dir)["b"].to_list() == ["x", "y", "w"]


def test_large_source_keyed_on_head_and_tail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scan, "FULL_HASH_BYTES", 16)
    monkeypatch.setattr(scan, "MIB", 8)
    path = tmp_path / "t.csv"
    path.write_text("a,b\n" + "".join(f"{i},v{i}\n" for i in range(50)), encoding="utf-8")
    key = scan.source_key(path)
    stat = path.stat()
    path.write_text(path.read_text(encoding="utf-8").replace("49,v49", "49,w49"), encoding="utf-8")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert scan.source_key(path) != key  # the last bytes changed


def test_unwritable_cache_only_turns_the_copy_off(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("a,b\n1,x\n", encoding="utf-8")
    blocker = tmp_path / "cache"
    blocker.write_text("a file where the cache folder would be", encoding="utf-8")
    assert _table(path, blocker)["a"].to_list() == ["1"]


def test_bad_rows_found_through_the_copy_are_the_same(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("a,b\n1,x,extra\n", encoding="utf-8")
    for cache_dir in (None, tmp_path / "cache"):
        with pytest.raises(InputError, match=r"t\.csv: cannot parse as CSV"):
            read_table(path, required=["a"], cache=cache_dir)
    assert not _copies(tmp_path / "cache")


@pytest.mark.parametrize("chunk", [3, 4, 5, 7, 1 << 20])
def test_utf8_check_in_chunks_names_byte_and_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    monkeypatch.setattr(scan, "CHUNK", chunk)
    path = tmp_path / "t.csv"
    path.write_bytes("a,b\n1,é\n2,ü€\n".encode() + b"3,caf\xe9\n")
    with pytest.raises(InputError, match=r"t\.csv: not UTF-8: byte 22 \(b'\\xe9'\) in data row 3"):
        scan.check_utf8(path)
    good = tmp_path / "good.csv"
    good.write_bytes("a,b\n1,é\n2,ü€\n".encode())
    scan.check_utf8(good)


def test_only_selected_columns_are_read(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("a,b,c\n1,x,p\n2,y,q\n", encoding="utf-8")
    frame = read_table(path, required=["a"], columns=["c"])
    assert frame.columns == ["_row", "a", "c"]
    assert frame.rows() == [(1, "1", "p"), (2, "2", "q")]


def test_cache_settings(tmp_path: Path) -> None:
    pipeline = tmp_path / "p.toml"
    raw = {"data": {"adapter": "simulate", "cache": False, "cache_dir": "copies"}}
    config = parse_pipeline(raw, pipeline)
    assert config.data.cache is False
    assert config.data.cache_dir == (tmp_path / "copies").resolve()
    assert parse_pipeline({"data": {"adapter": "simulate"}}, pipeline).data.cache is True
    with pytest.raises(ConfigError, match="cache"):
        parse_pipeline({"data": {"adapter": "simulate", "cache": "yes"}}, pipeline)
