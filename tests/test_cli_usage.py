"""Every command, every option: wrong usage exits 2 and a bad value exits 1, with one line naming the option.

The commands and their options are read from the Typer app, so a command added later is covered here
without a change.
"""

from __future__ import annotations

import enum
import inspect
import typing
from collections.abc import Callable

import pytest

from forecast import cli
from forecast.cli import app


def _options(callback: Callable[..., object]) -> list[tuple[str, type, object]]:
    """(flag, value type, OptionInfo) of each option of a command, arguments excluded."""
    hints = typing.get_type_hints(callback)
    found = []
    for name, parameter in inspect.signature(callback).parameters.items():
        decls = getattr(parameter.default, "param_decls", None)
        if not decls:
            continue
        kinds = [k for k in typing.get_args(hints[name]) if k is not type(None)] or [hints[name]]
        found.append((decls[0], kinds[0], parameter.default))
    return found


def _required(callback: Callable[..., object]) -> list[str]:
    """Arguments that make a command's line complete: a value for every required argument and option."""
    line: list[str] = []
    for parameter in inspect.signature(callback).parameters.values():
        info = parameter.default
        decls = getattr(info, "param_decls", None)
        required = getattr(info, "default", None) is ...
        if decls and required:
            line += [decls[0], "x.csv"]
        elif not decls and required:
            line.append("x.toml")
    return line


COMMANDS = {info.name: info.callback for info in app.registered_commands if info.callback and info.name}
NUMBERS = [
    (name, flag, info)
    for name, callback in COMMANDS.items()
    for flag, kind, info in _options(callback)
    if kind in (int, float)
]
RANGED = [(name, flag, info) for name, flag, info in NUMBERS if getattr(info, "min", None) is not None]
CHOICES = [
    (name, flag)
    for name, callback in COMMANDS.items()
    for flag, kind, _ in _options(callback)
    if isinstance(kind, type) and issubclass(kind, enum.Enum)
]


def _run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    monkeypatch.setattr("sys.argv", ["forecast", *args])
    monkeypatch.setattr(cli.interrupts, "install", lambda: None)
    with pytest.raises(SystemExit) as exit_:
        cli.main()
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert "internal error" not in err
    code = exit_.value.code
    return code if isinstance(code, int) else -1, err


def test_every_command_is_enumerated() -> None:
    assert {"demo", "run", "backtest", "predict", "allocate", "replenish", "simulate", "validate"} <= set(
        COMMANDS
    )
    assert NUMBERS
    assert RANGED
    assert CHOICES


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_unknown_option_is_usage(
    name: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = _run(monkeypatch, capsys, name, *_required(COMMANDS[name]), "--bogus")
    assert code == 2, err
    assert "--bogus" in err
    assert f"forecast {name} --help" in err


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_option_without_its_value_is_usage(
    name: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    flag = _options(COMMANDS[name])[-1][0]
    code, err = _run(monkeypatch, capsys, name, *_required(COMMANDS[name]), flag)
    assert code == 2, err
    assert flag in err


@pytest.mark.parametrize("name", sorted({name for name, _ in COMMANDS.items() if _required(COMMANDS[name])}))
def test_missing_argument_or_option_is_usage(
    name: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = _run(monkeypatch, capsys, name)
    assert code == 2, err
    assert "Missing" in err


@pytest.mark.parametrize(("name", "flag"), [(name, flag) for name, flag, _ in NUMBERS])
def test_mistyped_number_is_usage(
    name: str, flag: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = _run(monkeypatch, capsys, name, *_required(COMMANDS[name]), flag, "abc")
    assert code == 2, err
    assert f"'{flag}'" in err


@pytest.mark.parametrize(("name", "flag", "info"), RANGED)
def test_out_of_range_number_is_a_bad_value(
    name: str, flag: str, info: object, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    below = str(int(getattr(info, "min", 0)) - 1)
    code, err = _run(monkeypatch, capsys, name, *_required(COMMANDS[name]), flag, below)
    assert code == 1, err
    assert f"'{flag}'" in err


@pytest.mark.parametrize(("name", "flag"), CHOICES)
def test_unknown_choice_is_usage(
    name: str, flag: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = _run(monkeypatch, capsys, name, *_required(COMMANDS[name]), flag, "nonsense")
    assert code == 2, err
    assert f"'{flag}'" in err


def test_unknown_command_is_usage(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = _run(monkeypatch, capsys, "forcast")
    assert code == 2, err
    assert "forcast" in err


def test_no_command_is_usage(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _run(monkeypatch, capsys)
    assert code == 2, err
    assert "no command given" in err
