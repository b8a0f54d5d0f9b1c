"""Reliability: interrupted, killed and concurrent jobs, registration as the last step, data checks at
ingest, one-line errors for any pipeline value or CSV cell, and CSV files safe for spreadsheets."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mlflow import MlflowClient
from test_adapters_canonical import make_canonical
from test_adapters_walmart import FEATURES, STORES, make_walmart
from test_job import fake_stages, sqlite_uri, tiny_config

from forecast import interrupts, io, job, tracking
from forecast.adapters import load_dataset
from forecast.adapters.canonical import load_canonical
from forecast.adapters.walmart import load_walmart
from forecast.config import SECTIONS, PipelineConfig, load_pipeline, parse_pipeline
from forecast.errors import ConfigError, InputError, Interrupted, TrackingError
from forecast.job import run_job
from forecast.tracking_store import check_uri
from forecast.validation import check_dataset

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
PIPELINE = 'name = "robust"\n[data]\nadapter = "simulate"\n[forecast]\nhorizon = 3\n'
# the CLI's `run`, with the tests' fast fake stages; "block" makes the allocation wait to be killed
DRIVER = """
import sys, time
sys.path.insert(0, {tests!r})
from test_job import fake_stages
from forecast import job

def blocking(*_args, **_kwargs):
    print("READY", flush=True)
    time.sleep(600)

stages = fake_stages(allocate=blocking) if sys.argv[1] == "block" else fake_stages()
resolved = stages.resolved()
job.Stages.resolved = lambda self: resolved
from forecast.cli import main
sys.argv = ["forecast", *sys.argv[2:]]
main()
"""


@pytest.fixture(autouse=True)
def _fresh_interrupts() -> Iterator[None]:
    interrupts.reset()
    yield
    interrupts.reset()


def driver(tmp_path: Path, mode: str, out: Path, uri: str) -> subprocess.Popen[str]:
    script = tmp_path / "driver.py"
    script.write_text(DRIVER.format(tests=str(TESTS)))
    pipeline = tmp_path / "robust.toml"
    pipeline.write_text(PIPELINE)
    cmd = [sys.executable, str(script), mode, "run", str(pipeline), "--out", str(out), "--tracking-uri", uri]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def wait_ready(proc: subprocess.Popen[str]) -> None:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert "READY" in line, proc.stderr.read() if proc.stderr else ""


def registry_state(uri: str, name: str) -> tuple[list[str], dict[str, str]]:
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    try:
        model = client.get_registered_model(name)
    except Exception:
        return [], {}
    versions = sorted(str(v.version) for v in client.search_model_versions(f"name = '{name}'"))
    return versions, {k: str(v) for k, v in model.aliases.items()}


def job_runs(uri: str, experiment: str) -> list[Any]:
    client = MlflowClient(tracking_uri=uri)
    found = client.get_experiment_by_name(experiment)
    assert found is not None
    return client.search_runs([found.experiment_id], filter_string="tags.stage = 'job'")


# --- interrupts: exit codes, KILLED, nothing published or registered ------------------------------------


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupted_run_exits_128_plus_signal_and_leaves_nothing(
    tmp_path: Path, signum: int, code: int
) -> None:
    uri, out = sqlite_uri(tmp_path), tmp_path / "out"
    proc = driver(tmp_path, "block", out, uri)
    wait_ready(proc)
    proc.send_signal(signum)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == code, stderr
    lines = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert lines == [
        f"error: interrupted by {signal.Signals(signum).name}; nothing was published or registered"
    ]
    assert "Traceback" not in stderr
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    (run,) = job_runs(uri, "robust")
    assert run.info.status == "KILLED"
    assert registry_state(uri, "robust-demand") == ([], {})


def test_signal_during_the_commit_undoes_publication_and_registration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    uri, out = sqlite_uri(tmp_path), tmp_path / "out"
    run_job(tiny_config("commit-signal"), out, uri, stages=fake_stages())
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    registry = registry_state(uri, "commit-signal-demand")
    real = tracking.register_champion

    def register_then_signal(*args: Any, **kwargs: Any) -> Any:
        done = real(*args, **kwargs)
        interrupts._state.pending = signal.SIGTERM  # as the held section's handler records it
        return done

    monkeypatch.setattr(tracking, "register_champion", register_then_signal)
    with pytest.raises(Interrupted):
        run_job(tiny_config("commit-signal"), out, uri, stages=fake_stages())
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert registry_state(uri, "commit-signal-demand") == registry
    assert sorted(r.info.status for r in job_runs(uri, "commit-signal")) == ["FINISHED", "KILLED"]


# --- the tracking store: concurrency, kill -9, unreachable and malformed URIs ---------------------------


def test_four_first_runs_at_once_on_a_new_sqlite_store(tmp_path: Path) -> None:
    uri = sqlite_uri(tmp_path / "new")
    procs = [driver(tmp_path, "ok", tmp_path / f"out{i}", uri) for i in range(4)]
    results = [(p.wait(timeout=600), p.stderr.read() if p.stderr else "") for p in procs]
    assert [code for code, _ in results] == [0, 0, 0, 0], results
    assert {r.info.status for r in job_runs(uri, "robust")} == {"FINISHED"}
    versions, aliases = registry_state(uri, "robust-demand")
    assert versions == ["1", "2", "3", "4"]
    assert "champion" in aliases
    for i in range(4):
        assert (tmp_path / f"out{i}" / "plan.csv").exists()


def test_kill_9_leftovers_are_cleaned_by_the_next_job(tmp_path: Path) -> None:
    uri, out = sqlite_uri(tmp_path), tmp_path / "out"
    proc = driver(tmp_path, "block", out, uri)
    wait_ready(proc)
    proc.kill()
    proc.wait(timeout=60)
    assert [p for p in tmp_path.iterdir() if ".out.staging." in p.name]  # what kill -9 leaves
    (killed,) = job_runs(uri, "robust")
    assert killed.info.status == "RUNNING"
    run_job(load_pipeline(tmp_path / "robust.toml"), out, uri, stages=fake_stages())
    assert not [p for p in tmp_path.iterdir() if ".staging." in p.name or ".backup." in p.name]
    closed = MlflowClient(tracking_uri=uri).get_run(killed.info.run_id)
    assert closed.info.status == "KILLED"
    assert closed.data.tags["error"].startswith(f"killed: process {proc.pid}")
    assert (out / "plan.csv").exists()


def test_stale_files_of_dead_processes_go_and_a_cut_off_publication_is_undone(tmp_path: Path) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    pid = int(dead.stdout)
    out = tmp_path / "out"
    out.mkdir()
    (out / "plan.csv").write_text("new half\n")  # moved in by the killed publication
    backup = tmp_path / f".out.backup.{pid}.abc"
    backup.mkdir()
    (backup / ".journal").write_text("1\tplan.csv\n0\tforecasts.csv\n")
    (backup / "plan.csv").write_text("old plan\n")
    (out / "forecasts.csv").write_text("new\n")
    (tmp_path / f".plan.csv.partial.{pid}.xyz.tmp").write_text("half")
    mine = tmp_path / f".out.staging.{os.getpid()}.live"
    mine.mkdir()
    removed = io.remove_stale(tmp_path)
    assert len(removed) == 2
    assert (out / "plan.csv").read_text() == "old plan\n"
    assert not (out / "forecasts.csv").exists()
    assert mine.exists()  # a live process's staging folder stays


def test_unreachable_or_malformed_tracking_uri_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(TrackingError, match=r"tracking server http://127\.0\.0\.1:1 is unreachable"):
        check_uri("http://127.0.0.1:1")
    for bad in ("foo://bar", "sqlite://", "http://", "mlruns", f"sqlite:///{tmp_path}"):
        with pytest.raises(ConfigError, match="tracking URI"):
            check_uri(bad)
    (tmp_path / "x.db").write_text("not sqlite")
    with pytest.raises(ConfigError, match="not a SQLite database"):
        check_uri(f"sqlite:///{tmp_path / 'x.db'}")


# --- registration is the last step: failing each late step leaves the registry and outputs as they were --


def _fail(*_args: Any, **_kwargs: Any) -> Any:
    msg = "store went away"
    raise RuntimeError(msg)


@pytest.mark.parametrize("step", ["report", "publish", "alias", "finish"])
def test_failure_at_each_late_step_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    uri, out, name = sqlite_uri(tmp_path), tmp_path / "out", f"late-{step}"
    run_job(tiny_config(name), out, uri, stages=fake_stages())
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    registry = registry_state(uri, f"{name}-demand")
    assert registry[1] == {"champion": "1"}
    if step == "report":
        monkeypatch.setattr(job, "render_report", _fail)
    elif step == "publish":
        real = os.replace

        def replace(src: Any, dst: Any) -> None:
            if Path(dst) == out / "plan.csv" and ".staging." in str(src):
                _fail()
            real(src, dst)

        monkeypatch.setattr(io.os, "replace", replace)
    elif step == "alias":
        monkeypatch.setattr(MlflowClient, "set_registered_model_alias", _fail)
    else:
        monkeypatch.setattr(tracking, "finish_run", _fail)
    with pytest.raises(RuntimeError, match="store went away"):
        run_job(tiny_config(name), out, uri, stages=fake_stages())
    monkeypatch.undo()
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert registry_state(uri, f"{name}-demand") == registry
    assert sorted(r.info.status for r in job_runs(uri, name)) == ["FAILED", "FINISHED"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mlruns", "out"]


# --- data checks at ingest ---------------------------------------------------------------------------------

HEADER = "date,store_id,article_id,units,price\n"
WEEKLY = "2024-01-01,s1,a1,3,9.99\n2024-01-08,s1,a1,4,9.99\n2024-01-01,s2,a2,2,5\n"


def sales_with(tmp_path: Path, *rows: str) -> Any:
    return load_canonical(make_canonical(tmp_path, sales_csv=HEADER + WEEKLY + "".join(rows)))


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ("2024-01-08,s2,a2,inf,5\n", "not a finite number"),
        ("2024-01-08,s2,a2,nan,5\n", "not a finite number"),
        ("2024-01-08,s2,a2,1e308,5\n", "implausibly large"),
        ("2999-01-07,s2,a2,1,5\n", "date outside the plausible range"),
        ("1899-12-25,s2,a2,1,5\n", "date outside the plausible range"),
        ("2024-01-08,s2,a2,1,-5\n", "negative price"),
        ('2024-01-08,s2,"a\n2",1,5\n', "control character in id"),
        ("2024-01-08,s\t2,a2,1,5\n", "control character in id"),
    ],
)
def test_bad_sales_values_are_rejects_with_the_reason(tmp_path: Path, row: str, reason: str) -> None:
    ds = sales_with(tmp_path, row)
    check_dataset(ds)
    assert ds.sales.height == 3
    (reject,) = ds.rejects.filter(pl.col("file") == "sales.csv").iter_rows(named=True)
    assert reason in reject["reason"]
    assert reject["row"] == 4
    assert ds.rows_kept()["sales.csv"] == 3


def test_exact_duplicate_weekly_rows_are_rejects_not_transactions(tmp_path: Path) -> None:
    copies = "2024-01-01,s1,a1,3,9.99\n" * 100
    ds = sales_with(tmp_path, copies)
    assert ds.grain == "weekly"
    assert ds.sales["units"].sum() == 9.0
    reasons = ds.rejects["reason"].unique().to_list()
    assert reasons == ["duplicate row (same as row 1)"]
    assert ds.rejects.height == 100
    check_dataset(ds)


def test_identical_transaction_lines_are_kept(tmp_path: Path) -> None:
    ds = sales_with(tmp_path, "2024-01-03,s1,a1,1,9.99\n2024-01-03,s1,a1,1,9.99\n")
    assert ds.grain == "transactions"
    assert ds.sales.height == 5


@pytest.mark.parametrize(
    ("files", "fragment"),
    [
        ({"sales_csv": HEADER + "2024-01-01,s1,a1,x,1\n"}, "all 1 rows were rejected"),
        ({"sales_csv": "date,units,store_id,article_id,units\n2024-01-01,1,s1,a1,2\n"}, "more than once"),
        ({"stores_csv": "store_id,capacity_units\ns1,-10\ns2,5\n"}, "negative capacity_units"),
        ({"stores_csv": "store_id,capacity_units\ns1,inf\ns2,5\n"}, "not a finite number"),
        ({"articles_csv": "article_id,list_price\na1,-3\na2,1\n"}, "negative list_price"),
    ],
)
def test_fatal_input_names_file_column_row(tmp_path: Path, files: dict[str, str], fragment: str) -> None:
    config = make_canonical(tmp_path, **files)
    with pytest.raises(InputError, match=fragment) as caught:
        load_dataset(PipelineConfig(name="t", data=config))
    assert "; fix: " in str(caught.value)
    assert "\n" not in str(caught.value)


def test_folder_where_a_table_should_be_is_fatal(tmp_path: Path) -> None:
    config = make_canonical(tmp_path)
    (tmp_path / "sales.csv").unlink()
    (tmp_path / "sales.csv").mkdir()
    with pytest.raises(InputError, match="is a folder"):
        load_canonical(config)


def test_walmart_negative_size_is_fatal_and_fuel_price_rejected(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"stores\.csv: column 'Size', row 2: negative Size"):
        load_walmart(make_walmart(tmp_path / "a", stores=STORES.replace("202307", "-202307")))
    features = FEATURES.replace(",2.60,", ",-2.60,")
    ds = load_walmart(make_walmart(tmp_path / "b", features=features))
    (reject,) = ds.rejects.filter(pl.col("file") == "features.csv").iter_rows(named=True)
    assert (reject["column"], reject["row"], reject["reason"]) == (
        "Fuel_Price",
        2,
        "negative Fuel_Price (must be >= 0)",
    )


# --- every error is one actionable line: pipeline values and CSV cells ----------------------------------

CASES = [
    ({"forecast": {"horizon": 2.5}}, "whole number"),
    ({"forecast": {"horizon": True}}, "whole number"),
    ({"backtest": {"horizon": -1}}, "backtest.horizon"),
    ({"forecast": {"active_weeks": -2}}, "active_weeks"),
    ({"data": {"adapter": "canonical", "path": 123}}, "path"),
    ({"forecast": {"seed": -1}}, "seed"),
    ({"business": {"default_price": float("inf")}}, "finite"),
    ({"tracking": {"tracking_uri": "mlruns"}}, "tracking_uri"),
    ({"name": "bad name/"}, "name"),
]


@pytest.mark.parametrize(("raw", "fragment"), CASES)
def test_bad_settings_are_config_errors(raw: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        parse_pipeline({"name": "x", **raw})


@pytest.mark.parametrize(
    ("params", "fragment"),
    [({"num_leaves": -3}, "LightGBM refuses"), ({"no_such_param": 1}, "unknown LightGBM parameter")],
)
def test_bad_model_parameters_are_config_errors(params: dict[str, Any], fragment: str) -> None:
    from forecast.models import check_models

    config = parse_pipeline({"name": "x", "models": {"lightgbm": {"params": params}}})
    with pytest.raises(ConfigError, match=rf"^pipeline \[models.lightgbm\]: `params`: .*{fragment}"):
        check_models(config)


def test_pipeline_without_data_section_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text('name = "p"\n[forecast]\nhorizon = 3\n')
    with pytest.raises(ConfigError, match=r"no \[data\] adapter"):
        load_pipeline(path)


def _field_names() -> list[tuple[str, str]]:
    import dataclasses

    return [(s, f.name) for s, cls in SECTIONS.items() for f in dataclasses.fields(cls)]


TOML_VALUES = st.recursive(
    st.none().filter(lambda _: False)
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | st.dates(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(key=st.sampled_from(_field_names()), value=TOML_VALUES)
def test_any_pipeline_value_is_accepted_or_a_config_error(key: tuple[str, str], value: Any) -> None:
    section, name = key
    try:
        parse_pipeline({"name": "h", section: {name: value}})
    except ConfigError as exc:
        message = str(exc)
    else:
        return
    assert "\n" not in message


CELLS = st.one_of(
    st.text(max_size=10),
    st.sampled_from(["inf", "-inf", "nan", "1e308", "-0", "2999-01-01", "0001-01-01", "=1+2", "\t", "", '"']),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(row=st.integers(0, 2), column=st.integers(0, 4), cell=CELLS)
def test_any_csv_cell_is_kept_rejected_or_an_input_error(row: int, column: int, cell: str) -> None:
    lines = [line.split(",") for line in WEEKLY.splitlines()]
    lines[row][column] = '"' + cell.replace('"', '""') + '"'
    with tempfile.TemporaryDirectory() as folder:
        config = make_canonical(Path(folder), sales_csv=HEADER + "\n".join(",".join(x) for x in lines) + "\n")
        try:
            ds = load_dataset(PipelineConfig(name="h", data=config))
        except InputError as exc:
            message = str(exc)
        else:
            message = ""
            check_dataset(ds)
            rejected = ds.rejects.select("file", "row").unique().height
            assert sum(ds.rows_kept().values()) + rejected == sum(ds.rows_read.values())
    assert "\n" not in message


# --- CSV files safe for spreadsheets -----------------------------------------------------------------------


def test_formula_cells_are_neutralised_numbers_untouched_and_read_back(tmp_path: Path) -> None:
    from forecast.cli.allocate import read_table

    frame = pl.DataFrame(
        {
            "article_id": ['=HYPERLINK("x")', "+1", "-2", "@SUM(A1)", "\tx", "\rx", "plain", "a-b"],
            "mean": [-1.5, 2.0, -3.0, 0.0, 1.0, 1.0, 1.0, 1.0],
        }
    )
    path = io.write_csv(frame, tmp_path / "f.csv")
    raw = pl.read_csv(path, schema_overrides={"article_id": pl.Utf8})
    assert raw["article_id"].to_list()[:4] == ['\'=HYPERLINK("x")', "'+1", "'-2", "'@SUM(A1)"]
    assert raw["article_id"].to_list()[6:] == ["plain", "a-b"]
    assert raw["mean"].to_list() == frame["mean"].to_list()  # negative numbers stay numbers
    assert path.read_text().splitlines()[1].endswith(",-1.5")
    assert raw["article_id"].to_list()[4:6] == ["\\tx", "\\rx"]  # visible escapes: no line splits
    assert len(path.read_text().splitlines()) == 1 + frame.height
    assert read_table(path, "forecasts")["article_id"].to_list()[:4] == frame.head(4)["article_id"].to_list()


def test_allocate_publishes_its_three_files_as_one_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from forecast.cli import allocate

    out = tmp_path / "plan.csv"
    for name in ("plan.csv", "plan_store_summary.csv", "plan_article_summary.csv"):
        (tmp_path / name).write_text("old\n")
    real = os.replace

    def replace(src: Any, dst: Any) -> None:
        if Path(dst).name == "plan_article_summary.csv" and ".staging." in str(src):
            _fail()
        real(src, dst)

    monkeypatch.setattr(io.os, "replace", replace)
    result = type(
        "R",
        (),
        {
            "plan": pl.DataFrame({"a": [1]}),
            "store_summary": pl.DataFrame({"b": [1]}),
            "article_summary": pl.DataFrame({"c": [1]}),
        },
    )()
    with pytest.raises(RuntimeError):
        allocate._write_set(result, out)  # type: ignore[arg-type]
    assert {p.name: p.read_text() for p in tmp_path.iterdir()} == {
        "plan.csv": "old\n",
        "plan_store_summary.csv": "old\n",
        "plan_article_summary.csv": "old\n",
    }


def test_dates_setting_moves_the_plausible_range(tmp_path: Path) -> None:
    config = make_canonical(tmp_path, sales_csv=HEADER + WEEKLY)
    config.date_max = dt.date(2024, 1, 5)
    ds = load_canonical(config)
    assert ds.rejects["row"].to_list() == [2]
    assert set(ds.rejects["reason"].to_list()) == {
        "date outside the plausible range 1980-01-01..2024-01-05 (pipeline [data] date_min / date_max)"
    }


def test_interrupted_is_exit_code_of_the_signal() -> None:
    assert Interrupted(signal.SIGINT).exit_code == 130
    assert Interrupted(signal.SIGTERM).exit_code == 143


@pytest.mark.parametrize("cell", ["nan", "inf", "-inf", "1e300", "abc"])
def test_non_finite_or_text_numbers_in_allocation_inputs_are_named(tmp_path: Path, cell: str) -> None:
    from forecast.cli.allocate import read_table

    path = tmp_path / "forecasts.csv"
    path.write_text(f"article_id,store_id,week,mean\nA1,S1,2024-01-01,1\nA1,S2,2024-01-01,{cell}\n")
    with pytest.raises(InputError, match=r"forecasts\.csv: column 'mean', row 2: ") as caught:
        read_table(path, "forecasts")
    assert "; fix: " in str(caught.value)


def test_an_existing_output_file_can_be_replaced(tmp_path: Path) -> None:
    target = tmp_path / "plan.csv"
    target.write_text("old\n")
    assert io.check_output(target, folder=False) == target
    with pytest.raises(ConfigError, match="is a file, not a folder"):
        io.check_output(target / "x.csv", folder=False)
