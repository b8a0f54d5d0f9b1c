"""Checks of pipeline settings: TOML value types, seeds and LightGBM parameters."""

from __future__ import annotations

import contextlib
import math
import os
import tomllib
import types
import typing
from datetime import date
from pathlib import Path
from typing import Any

from forecast.errors import ConfigError

MAX_SEED = 2**31 - 1
_TYPE_NAMES = {int: "a whole number", float: "a number", bool: "true or false", str: "text"}


def check_seed(seed: int, where: str) -> None:
    """A seed every random generator of the package accepts: 0 to 2**31 - 1."""
    if not 0 <= seed <= MAX_SEED:
        msg = f"{where} must be a whole number from 0 to {MAX_SEED}, got {seed!r}; fix: pick another seed"
        raise ConfigError(msg)


def _type_name(hint: Any) -> str:
    if hint in _TYPE_NAMES:
        return _TYPE_NAMES[hint]
    origin = typing.get_origin(hint)
    if origin is list:
        (item,) = typing.get_args(hint) or (Any,)
        return f"a list of {_type_name(item).removeprefix('a ').removeprefix('an ')}s"
    if origin is dict:
        return "a table"
    if hint is Path:
        return "a path (text)"
    if hint is date:
        return "a date like 2024-01-01"
    return "a value"


def check_value(value: Any, hint: Any, where: str) -> None:
    """Raise `ConfigError` unless `value` (from TOML) has the type `hint` names; numbers must be finite.

    ``true`` is not a number, ``2.5`` is not a whole number, and a path is text.

    Examples
    --------
    >>> check_value(3, int, "[forecast] horizon")
    >>> check_value(True, int, "[forecast] horizon")
    Traceback (most recent call last):
    ...
    forecast.errors.ConfigError: [forecast] horizon must be a whole number, got True; fix: ...
    """
    options = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
    if value is None and type(None) in options:
        return
    expected = [o for o in options if o is not type(None)]
    if any(_matches(value, o) for o in expected):
        if isinstance(value, float) and not math.isfinite(value):
            msg = f"{where} must be a finite number, got {value!r}; fix: write a number such as 1.5"
            raise ConfigError(msg)
        for item in value if isinstance(value, list) else ():
            if isinstance(item, float) and not math.isfinite(item):
                msg = f"{where} must hold finite numbers, got {value!r}; fix: remove nan / inf"
                raise ConfigError(msg)
        return
    name = " or ".join(_type_name(o) for o in expected)
    msg = f"{where} must be {name}, got {value!r}; fix: write {name}"
    raise ConfigError(msg)


def _matches(value: Any, hint: Any) -> bool:
    if hint is Any:
        return True
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if hint is Path:
        return isinstance(value, str | Path)
    if hint is date:
        return isinstance(value, date | str)
    origin = typing.get_origin(hint)
    if origin is list:
        (item,) = typing.get_args(hint)
        return isinstance(value, list) and all(_matches(v, item) for v in value)
    if origin is dict:
        return isinstance(value, dict)
    return isinstance(value, hint) if isinstance(hint, type) else True


def check_lightgbm_params(params: dict[str, Any], where: str = "`models.lightgbm_params`") -> None:
    """Raise `ConfigError` for a LightGBM parameter that is unknown or that LightGBM refuses (`where`
    names the setting in the message)."""
    import lightgbm as lgb
    import numpy as np

    known: set[str] = set()
    for main, aliases in lgb.basic._ConfigAliases._get_all_param_aliases().items():
        known |= {main, *aliases}
    for key, value in params.items():
        if key not in known:
            msg = f"{where}: unknown LightGBM parameter {key!r}; fix: use a name from the LightGBM docs"
            raise ConfigError(msg)
        if not isinstance(value, int | float | str | bool) or (
            isinstance(value, float) and not math.isfinite(value)
        ):
            msg = f"{where}: {key} must be a single finite number, text or boolean, got {value!r}"
            raise ConfigError(msg)
    rows = np.arange(40.0).reshape(-1, 1)
    probe = {**params, "verbosity": -1, "objective": "regression", "num_threads": 1}
    with open(os.devnull, "w") as sink, contextlib.ExitStack() as stack:
        # LightGBM prints its fatal messages itself; keep the command's error to one line
        saved = [os.dup(1), os.dup(2)]
        stack.callback(_restore, saved)
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            lgb.train(probe, lgb.Dataset(rows, rows[:, 0], params={"verbosity": -1}), num_boost_round=1)
        except (lgb.basic.LightGBMError, ValueError, TypeError) as exc:
            first = (str(exc).strip().splitlines() or ["refused"])[0]
            error = ConfigError(f"{where}: LightGBM refuses {params!r} ({first}); fix: correct the value")
        else:
            return
    raise error


def _restore(saved: list[int]) -> None:
    for target, fd in zip((1, 2), saved, strict=True):
        os.dup2(fd, target)
        os.close(fd)


def read_pipeline_file(source: Path) -> dict[str, Any]:
    """The parsed TOML of a pipeline file; a missing, unreadable or malformed file stops with one line."""
    if not source.exists():
        msg = f"{source}: pipeline file not found; fix: pass a path like pipelines/demo.toml"
        raise ConfigError(msg)
    if not source.is_file():
        msg = f"{source}: is not a file; fix: pass a pipeline TOML file like pipelines/demo.toml"
        raise ConfigError(msg)
    try:
        return tomllib.loads(source.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        msg = f"{source}: not a valid TOML file ({' '.join(str(exc).split())}); fix: correct the TOML syntax"
        raise ConfigError(msg) from exc
    except OSError as exc:
        msg = f"{source}: cannot be read ({exc.strerror}); fix: check the file's permissions"
        raise ConfigError(msg) from exc
