from __future__ import annotations

from pathlib import Path

import pytest

from forecast.config import DEFAULT_MODELS, load_pipeline, parse_pipeline
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


def _models_file(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "p.toml"
    path.write_text(f'name = "p"\n[data]\nadapter = "simulate"\n{body}')
    return path


def test_quantile_start_and_params_are_checked(tmp_path: Path) -> None:
    from forecast.models import check_models

    bad_start = _models_file(tmp_path, '[models.lightgbm]\nquantile_start = "median_of_means"\n')
    with pytest.raises(ConfigError, match=r"\[models.lightgbm\]: `quantile_start` must be one of"):
        check_models(load_pipeline(bad_start))
    bad_params = _models_file(tmp_path, "[models.lightgbm]\nquantile_params = { num_rounds_please = 40 }\n")
    with pytest.raises(ConfigError, match="`quantile_params`: unknown LightGBM parameter"):
        check_models(load_pipeline(bad_params))
    good = _models_file(
        tmp_path, '[models.lightgbm]\nquantile_start = "median"\nquantile_params = { num_iterations = 40 }\n'
    )
    config = load_pipeline(good)
    check_models(config)
    assert config.models.tables == {
        "lightgbm": {"quantile_start": "median", "quantile_params": {"num_iterations": 40}}
    }


def test_an_unknown_model_key_is_one_line_naming_file_table_key_and_allowed(tmp_path: Path) -> None:
    from forecast.models import check_models, table_keys

    path = _models_file(tmp_path, '[models.fast]\nmodel = "lightgbm"\nnum_leaves = 7\n')
    with pytest.raises(ConfigError) as err:
        check_models(load_pipeline(path))
    text = str(err.value)
    assert "\n" not in text
    assert text.startswith(
        f"{path.resolve()} [models.fast]: unknown key(s) ['num_leaves'] for model 'lightgbm'"
    )
    assert f"allowed: {table_keys('lightgbm')}" in text
    assert "params" in table_keys("lightgbm")
    assert "quantiles" not in table_keys("lightgbm")  # the pipeline passes it
    pipeline_level = _models_file(tmp_path, "[models.naive]\nquantiles = [0.2]\n")
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['quantiles'\] for model 'naive'"):
        check_models(load_pipeline(pipeline_level))


def test_old_model_settings_say_how_to_write_a_table(tmp_path: Path) -> None:
    from forecast.models import check_models

    path = _models_file(tmp_path, "[models]\nholiday_weight = 5.0\n")
    with pytest.raises(ConfigError, match=r"holiday_weight: a model is a table .* fix: write \[models."):
        load_pipeline(path)
    table = _models_file(tmp_path, "[models]\nlightgbm_params = { num_leaves = 7 }\n")
    with pytest.raises(ConfigError, match=r"\[models.lightgbm_params\]: unknown model 'lightgbm_params'"):
        check_models(load_pipeline(table))


def test_model_tables_keep_the_file_order_and_the_cold_start_apart(tmp_path: Path) -> None:
    path = _models_file(
        tmp_path, "[models.tsb]\n[models.naive]\nwindow_size = 3\n[models.cold_start]\ncalibrate = true\n"
    )
    config = load_pipeline(path)
    assert config.models.names() == ["tsb", "naive"]
    assert config.models.cold_start == {"calibrate": True}
    default = load_pipeline(_models_file(tmp_path, "[models]\ncold_start = false\n"))
    assert default.models.names() == list(DEFAULT_MODELS)
    assert default.models.cold_start is None


def test_config_does_not_import_the_models() -> None:
    import subprocess
    import sys

    code = "import sys, forecast.config; print('forecast.models' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
