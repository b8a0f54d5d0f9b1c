"""Publishing never deletes what the tool did not write: a folder, link or special file at an output's path
stops the write before anything moves, for the one publish function and for every command that writes."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from forecast import cli, interrupts, io
from forecast.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


def _folder(path: Path) -> None:
    path.mkdir()
    (path / "mine.txt").write_text("keep\n")


def _link(path: Path) -> None:
    target = path.parent / "elsewhere.txt"
    target.write_text("keep\n")
    path.symlink_to(target)


def _fifo(path: Path) -> None:
    os.mkfifo(path)


BLOCKERS: dict[str, Callable[[Path], None]] = {"folder": _folder, "link": _link, "fifo": _fifo}
KIND = {"folder": "a folder", "link": "a symbolic link", "fifo": "a special file"}


def _snapshot(root: Path) -> dict[str, str]:
    """Every entry under `root` with its kind and, for regular files, content."""
    found = {}
    for path in sorted(root.rglob("*")):
        if path.is_symlink():
            found[str(path)] = f"link -> {os.readlink(path)}"
        elif path.is_file() and not path.is_fifo():
            found[str(path)] = path.read_text()
        else:
            found[str(path)] = "fifo" if path.is_fifo() else "folder"
    return found


@pytest.mark.parametrize("kind", sorted(BLOCKERS))
def test_publish_set_refuses_before_moving_anything(tmp_path: Path, kind: str) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.csv").write_text("old a\n")
    BLOCKERS[kind](out / "b.csv")
    staged = tmp_path / "staged"
    staged.mkdir()
    files = {name: staged / name for name in ("a.csv", "b.csv")}
    for path in files.values():
        path.write_text("new\n")
    before = _snapshot(out)
    with pytest.raises(ConfigError, match=rf"'{out / 'b.csv'}' is {KIND[kind]}.*; fix: "):
        with io.publish_set(out, files):
            pass
    assert _snapshot(out) == before


@pytest.mark.parametrize("kind", sorted(BLOCKERS))
def test_publish_set_refuses_a_foreign_entry_it_would_remove(tmp_path: Path, kind: str) -> None:
    out = tmp_path / "out"
    out.mkdir()
    BLOCKERS[kind](out / "rejects.csv")
    staged = tmp_path / "a.csv"
    staged.write_text("new\n")
    before = _snapshot(out)
    with (
        pytest.raises(ConfigError, match="rejects.csv"),
        io.publish_set(out, {"a": staged}, remove=["rejects.csv"]),
    ):
        pass
    assert _snapshot(out) == before


@pytest.mark.parametrize("kind", sorted(BLOCKERS))
def test_single_file_write_refuses_a_foreign_entry(tmp_path: Path, kind: str) -> None:
    BLOCKERS[kind](tmp_path / "f.csv")
    before = _snapshot(tmp_path)
    with pytest.raises(ConfigError, match=f"is {KIND[kind]}"):
        io.write_text("new\n", tmp_path / "f.csv")
    assert _snapshot(tmp_path) == before


def test_regular_files_are_still_replaced(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("old\n")
    staged = tmp_path / "staged.csv"
    staged.write_text("new\n")
    with io.publish_set(tmp_path / "out", {"a": staged}):
        pass
    io.write_text("new\n", tmp_path / "a.csv")
    assert (tmp_path / "a.csv").read_text() == "new\n"
    assert (tmp_path / "out" / "staged.csv").read_text() == "new\n"


def _commands(tmp: Path) -> dict[str, tuple[list[str], Path]]:
    """Each writing command's line and the output path a user's folder is put at."""
    demo = str(REPO / "pipelines" / "demo.toml")
    inputs = ["--forecasts", "f.csv", "--dc-stock", "d.csv", "--stores", "s.csv"]
    return {
        "demo": (["demo", "--out", str(tmp)], tmp / "plan_store_summary.csv"),
        "run": (["run", demo, "--out", str(tmp)], tmp / "report.html"),
        "backtest": (["backtest", demo, "--out", str(tmp)], tmp / "leaderboard.csv"),
        "predict": (["predict", demo, "--out", str(tmp / "forecasts.csv")], tmp / "forecasts.csv"),
        "allocate": (["allocate", *inputs, "--out", str(tmp / "plan.csv")], tmp / "plan_article_summary.csv"),
        "replenish": (
            ["replenish", *inputs, "--store-stock", "x.csv", "--out", str(tmp)],
            tmp / "orders.csv",
        ),
        "validate": (["validate", demo, "--out", str(tmp)], tmp / "rejects.csv"),
        "simulate": (
            ["simulate", "--out", str(tmp), "--articles", "2", "--stores", "1", "--weeks", "8"],
            tmp / "sales.csv",
        ),
    }


@pytest.mark.parametrize("name", sorted(_commands(Path("out"))))
@pytest.mark.parametrize("kind", ["folder", "link"])
def test_every_writing_command_stops_on_a_foreign_entry(
    tmp_path: Path, name: str, kind: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "earlier.csv").write_text("earlier output\n")
    args, blocked = _commands(out)[name]
    BLOCKERS[kind](blocked)
    before = _snapshot(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.argv", ["forecast", *args])
    monkeypatch.setattr(cli.interrupts, "install", lambda: None)
    interrupts.reset()
    with pytest.raises(SystemExit) as exit_:
        cli.main()
    err = capsys.readouterr().err
    assert exit_.value.code == 1, err
    assert len(err.strip().splitlines()) == 1, err
    assert str(blocked) in err
    assert "fix: " in err
    assert _snapshot(tmp_path) == before
