from __future__ import annotations

from pathlib import Path

import pytest

from forecast.config import ModelsConfig, load_pipeline, parse_pipeline
from forecast.errors import ConfigError, InputError

PIPELINES = Path(__file__).resolve().parents[1] / "pipelines"


def test_every_shipped_pipeline_parses() -> None:
    files = sorted(PIPELINES.glob("*.toml"))
    assert {f.stem for f in files} >= {"demo", "walmart", "visuelle", "hm"}
    for f in files:
        config = load_pipeline(f)
        assert config.name == f.stem
        assert config.forecast.horizon >= 1


def test_relative_data_path_resolves_against_the_pipeline_file(tmp_path: Path) -> None:
    (tmp_path / "p").mkdir()
    file = tmp_path / "p" / "x.toml"
    file.write_text('name = "x"\n[data]\nadapter = "canonical"\npath = "../data"\n')
    config = load_pipeline(file)
    assert config.data.path == (tmp_path / "data").resolve()


def test_overrides_apply(tmp_path: Path) -> None:
    file = tmp_path / "demo.toml"
    file.write_text('name = "demo"\n[forecast]\nhorizon = 4\n')
    config = load_pipeline(file, horizon=6, seed=3, data=tmp_path)
    assert config.forecast.horizon == 6
    assert config.forecast.seed == 3
    assert config.data.adapter == "canonical"
    assert config.data.path == tmp_path.resolve()


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ({"name": "x", "forecst": {}}, "unknown section"),
        ({"name": "x", "forecast": {"horizn": 3}}, "unknown key"),
        ({"name": "x", "forecast": {"horizon": 0}}, "horizon"),
        ({"name": "x", "data": {"adapter": "oracle"}}, "data.adapter"),
        ({"name": "x", "data": {"adapter": "walmart"}}, "data.path"),
        ({"name": "x", "backtest": {"objective": "luck"}}, "objective"),
        ({"name": "x", "business": {"unit_cost_ratio": 1.5}}, "unit_cost_ratio"),
    ],
)
def test_bad_pipelines_are_named(raw: dict[str, object], fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        parse_pipeline(raw)


def test_missing_pipeline_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_pipeline(tmp_path / "nope.toml")


def test_input_error_names_file_column_row_and_fix() -> None:
    err = InputError("not a date", file="sales.csv", column="date", row=7, fix="use YYYY-MM-DD")
    assert str(err) == "sales.csv: column 'date', row 7: not a date; fix: use YYYY-MM-DD"


def test_quantile_start_and_params_are_checked() -> None:
    with pytest.raises(ConfigError, match="lightgbm_quantile_start` must be one of"):
        ModelsConfig(lightgbm_quantile_start="median_of_means")
    with pytest.raises(ConfigError, match="lightgbm_quantile_params`: unknown LightGBM parameter"):
        ModelsConfig(lightgbm_quantile_params={"num_rounds_please": 40})
    config = ModelsConfig(lightgbm_quantile_start="median", lightgbm_quantile_params={"num_iterations": 40})
    assert config.lightgbm_quantile_start == "median"
