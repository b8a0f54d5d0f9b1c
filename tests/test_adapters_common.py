"""Shared reading helpers: line endings, encodings, empty files, typed parsing with rejects."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from forecast.adapters.common import (
    ROW,
    check_references,
    check_unique,
    drop_rejected,
    find_table,
    parse_columns,
    read_table,
)
from forecast.errors import InputError


def _write(path: Path, text: str | bytes) -> Path:
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return path


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_line_endings_are_normalised(tmp_path: Path, newline: str) -> None:
    path = _write(tmp_path / "t.csv", newline.join(["a,b", "1,x", "2,y"]) + newline)
    frame = read_table(path, required=["a", "b"])
    assert frame.columns == ["_row", "a", "b"]
    assert frame["a"].to_list() == ["1", "2"]
    assert frame[ROW].to_list() == [1, 2]


def test_bom_and_blanks_are_stripped(tmp_path: Path) -> None:
    path = _write(tmp_path / "t.csv", b"\xef\xbb\xbfa,b\n 1 ,x\n")
    frame = read_table(path, required=["a"])
    assert frame["a"].to_list() == ["1"]


def test_not_utf8_names_byte_and_row(tmp_path: Path) -> None:
    path = _write(tmp_path / "t.csv", b"a,b\n1,x\n2,caf" + b"\xe9\n")
    with pytest.raises(
        InputError, match=r"t\.csv: not UTF-8: byte 13 .* in data row 2; fix: save the file as UTF-8"
    ):
        read_table(path, required=["a"])


@pytest.mark.parametrize("content", ["", "\n\n", "a,b\n"])
def test_empty_file_is_fatal(tmp_path: Path, content: str) -> None:
    path = _write(tmp_path / "t.csv", content)
    with pytest.raises(InputError, match=r"t\.csv: .*(empty|no data rows)"):
        read_table(path, required=["a"])


def test_missing_column_lists_found(tmp_path: Path) -> None:
    path = _write(tmp_path / "t.csv", "a,c\n1,2\n")
    with pytest.raises(InputError, match=r"column 'b'.*\['b'\] missing; found \['a', 'c'\]"):
        read_table(path, required=["a", "b"])


def test_parquet_is_read_as_text(tmp_path: Path) -> None:
    frame = pl.DataFrame({"a": [1, 2], "d": [dt.datetime(2024, 1, 1), dt.datetime(2024, 1, 8)]})
    frame.write_parquet(tmp_path / "t.parquet")
    path = find_table(tmp_path, "t.csv")
    assert path == tmp_path / "t.parquet"
    text = read_table(path, required=["a", "d"])
    assert text["d"].to_list() == ["2024-01-01", "2024-01-08"]


def _raw(**columns: list[str | None]) -> pl.DataFrame:
    frame = pl.DataFrame(columns, schema=dict.fromkeys(columns, pl.Utf8))
    return frame.with_row_index(ROW, offset=1).with_columns(pl.col(ROW).cast(pl.Int64))


def test_parse_rejects_bad_values_and_counts_reconcile() -> None:
    raw = _raw(
        d=["2024-01-01", "2024-13-01", "2024-01-03", "2024-01-04"],
        x=["1.5", "abc", None, "-2"],
        ok=["true", "FALSE", "maybe", "1"],
    )
    typed, rejects = parse_columns(
        raw, {"d": "date", "x": "float", "ok": "bool"}, file="f.csv", not_null=["x"]
    )
    assert typed.schema["d"] == pl.Date
    assert typed.schema["x"] == pl.Float64
    assert typed.schema["ok"] == pl.Boolean
    assert rejects.select("row", "column", "reason").rows() == [
        (2, "d", "unparsable date (expected YYYY-MM-DD)"),
        (2, "x", "unparsable number"),
        (3, "ok", "unparsable boolean"),
        (3, "x", "missing value"),
    ]
    kept = drop_rejected(typed, rejects, file="f.csv")
    assert kept[ROW].to_list() == [1, 4]
    assert kept.height + rejects["row"].n_unique() == raw.height


def test_mostly_bad_dates_are_fatal() -> None:
    raw = _raw(d=["01/02/2024", "02/02/2024", "2024-01-03"])
    with pytest.raises(
        InputError, match=r"f\.csv: column 'd', row 1: 2 of 3 dates do not parse, first '01/02/2024'"
    ):
        parse_columns(raw, {"d": "date"}, file="f.csv")


def test_single_bad_date_is_fatal_only_when_alone() -> None:
    with pytest.raises(InputError, match="1 of 1 dates"):
        parse_columns(_raw(d=["yesterday"]), {"d": "date"}, file="f.csv")


def test_check_unique_names_rows() -> None:
    raw = _raw(k=["a", "b", "a"])
    with pytest.raises(InputError, match=r"duplicate article \(k=a\) in rows \[1, 3\]"):
        check_unique(raw, ["k"], file="f.csv", what="article")
    check_unique(raw.head(2), ["k"], file="f.csv", what="article")


def test_check_references_names_ids_and_count() -> None:
    raw = _raw(k=["a", "x", "y", "x"])
    with pytest.raises(InputError, match=r"row 2: 2 id\(s\) absent from m\.csv \(3 rows\), e\.g\. 'x', 'y'"):
        check_references(raw, "k", pl.Series(["a"]), file="f.csv", master="m.csv")


def test_not_utf8_offset_is_the_files_own_with_crlf(tmp_path: Path) -> None:
    path = _write(tmp_path / "t.csv", b"a,b\r\n1,x\r\n\xff,y\r\n")
    with pytest.raises(InputError, match=r"byte 10 \(b'\\xff'\) in data row 2"):
        read_table(path, required=["a"])


def test_not_utf8_in_header(tmp_path: Path) -> None:
    path = _write(tmp_path / "t.csv", b"a,\xe9\n1,2\n")
    with pytest.raises(InputError, match="in the header"):
        read_table(path, required=["a"])
