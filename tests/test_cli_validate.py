"""`forecast validate` run as a real command in a subprocess."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

REPO = Path(__file__).resolve().parents[1]
SALES = "date,store_id,article_id,units,price\n2024-01-01,s1,a1,3,9.99\n2024-01-08,s1,a1,x,9.99\n"
ARTICLES = "article_id,category\na1,tops\n"
STORES = "store_id\ns1\n"


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "forecast", "validate", *map(str, args)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def make_pipeline(tmp_path: Path, files: dict[str, str | bytes] | None = None) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    contents: dict[str, str | bytes] = {"sales.csv": SALES, "articles.csv": ARTICLES, "stores.csv": STORES}
    for name, text in (contents | (files or {})).items():
        (data / name).write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    pipeline = tmp_path / "shop.toml"
    pipeline.write_text('name = "shop"\n[data]\nadapter = "canonical"\npath = "data"\n', encoding="utf-8")
    return pipeline


def test_validate_reports_and_writes_rejects(tmp_path: Path) -> None:
    result = run(make_pipeline(tmp_path), "--out", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    assert "ok: data valid: 1 sales rows kept, 1 rows rejected" in result.stdout
    assert "unparsable number" in result.stdout
    rejects = pl.read_csv(tmp_path / "out" / "rejects.csv", infer_schema=False)
    assert rejects.columns == ["file", "row", "column", "reason", "value"]
    assert rejects.row(0) == ("sales.csv", "2", "units", "unparsable number", "x")


def test_validate_data_override(tmp_path: Path) -> None:
    pipeline = make_pipeline(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    for name in ("articles.csv", "stores.csv"):
        (other / name).write_text((tmp_path / "data" / name).read_text())
    (other / "sales.csv").write_text(SALES.splitlines()[0] + "\n2024-01-01,s1,a1,3,1\n")
    result = run(pipeline, "--data", other, "--out", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    assert "ok: other valid: 1 sales rows kept, 0 rows rejected" in result.stdout
    assert not (tmp_path / "out" / "rejects.csv").exists()  # nothing rejected, nothing written


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"sales.csv": ""}, "error: sales.csv: file is empty (no header row); fix: export the table"),
        (
            {"sales.csv": "date,store_id,article_id,units\n"},
            "error: sales.csv: file has a header but no data rows",
        ),
        (
            {"stores.csv": b"store_id\ns\xe91\n"},
            "error: stores.csv: not UTF-8: byte 10 (b'\\xe9') in data row 1",
        ),
        (
            {"sales.csv": "date,store,article_id,units\n2024-01-01,s1,a1,1\n"},
            "error: sales.csv: column 'store_id': required column(s) ['store_id'] missing; found ['date',",
        ),
        (
            {"sales.csv": "date,store_id,article_id,units\n1/1/24,s1,a1,1\n"},
            "error: sales.csv: column 'date', row 1: 1 of 1 dates do not parse, first '1/1/24'",
        ),
        (
            {"articles.csv": "article_id\na1\na1\n"},
            "error: articles.csv: column 'article_id', row 1: duplicate article_id (article_id=a1) in rows",
        ),
        (
            {"sales.csv": "date,store_id,article_id,units\n2024-01-01,s1,b7,1\n"},
            "error: sales.csv: column 'article_id', row 1: 1 id(s) absent from articles.csv (1 rows), e.g.",
        ),
    ],
    ids=[
        "empty",
        "no-rows",
        "encoding",
        "missing-column",
        "bad-dates",
        "duplicate-master",
        "unknown-article",
    ],
)
def test_validate_fatal_input(tmp_path: Path, files: dict[str, str | bytes], message: str) -> None:
    result = run(make_pipeline(tmp_path, files), "--out", tmp_path / "out")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(message), result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_validate_missing_data_file(tmp_path: Path) -> None:
    pipeline = make_pipeline(tmp_path)
    (tmp_path / "data" / "stores.csv").unlink()
    result = run(pipeline)
    assert result.returncode == 1
    assert result.stderr.startswith("error: stores.csv: file not found in ")


@pytest.mark.realdata
@pytest.mark.slow
@pytest.mark.parametrize(
    ("pipeline", "expected"),
    [
        (
            "walmart",
            [
                "train.csv │ 421,570 │ 421,570 │ 0",
                "2010-02-05..2012-10-26",
                "1,285 negative rows kept",
                "articles: 81 in catalogue",
                "stores: 45",
            ],
        ),
        (
            "visuelle",
            [
                "train.csv │ 5,080 │ 5,080 │ 0",
                "sales: 60,960 rows",
                "14 negative rows kept",
                "articles: 5,080 in catalogue",
            ],
        ),
        (
            "hm",
            [
                "transactions_last_week.csv │ 240,311 │ 240,311 │ 0",
                "articles: 105,542 in catalogue",
                "stores: 2",
            ],
        ),
    ],
)
def test_validate_real_pipelines(
    pipeline: str, expected: list[str], walmart_dir: Path, visuelle_dir: Path, hm_dir: Path
) -> None:
    del walmart_dir, visuelle_dir, hm_dir  # present, else skipped (or failed in CI)
    result = run(REPO / "pipelines" / f"{pipeline}.toml")
    assert result.returncode == 0, result.stderr
    flat = " ".join(result.stdout.split())
    for text in expected:
        assert text in flat, result.stdout
    assert f"ok: {pipeline} valid" in result.stdout
