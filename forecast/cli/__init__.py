"""Command-line interface: a thin layer, one module per subcommand.

Every command prints a one-line human error on stderr and exits with the README's code (1 bad input, 2 usage,
3 tracking store, 4 internal error, 130/143 interrupted); `--debug` shows the traceback.
"""

from __future__ import annotations

import signal
import sys
from typing import NoReturn

import typer

from forecast import interrupts
from forecast.cli import allocate, backtest, buy, demo, markdown, predict, replenish, run, simulate, validate
from forecast.cli.common import ABORTS, USAGE_ERRORS, state, usage_failure
from forecast.errors import EXIT_INPUT, EXIT_INTERNAL, EXIT_TRACKING, ForecastError, Interrupted
from forecast.tracking_store import is_store_error

app = typer.Typer(
    name="forecast",
    help="Demand forecasting, business backtesting and stock allocation for fashion retail.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors."),
) -> None:
    state.debug = debug


app.command("demo")(demo.command)
app.command("run")(run.command)
app.command("backtest")(backtest.command)
app.command("predict")(predict.command)
app.command("allocate")(allocate.command)
app.command("replenish")(replenish.command)
app.command("markdown")(markdown.command)
app.command("simulate")(simulate.command)
app.command("validate")(validate.command)
app.command("buy")(buy.command)


def _one_line(text: str, limit: int = 400) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _fail(message: str, code: int) -> NoReturn:
    typer.echo(f"error: {_one_line(message)}", err=True)
    sys.exit(code)


def _os_error(exc: OSError) -> str:
    where = exc.filename if exc.filename is not None else ""
    reason = exc.strerror or str(exc)
    fix = "check the path exists, is the right kind (file or folder) and is readable/writable"
    return f"{where}: {reason}; fix: {fix}" if where else f"{reason}; fix: {fix}"


def main() -> None:
    """Console-script entry point: one line on stderr and the README's exit code for every failure."""
    debug = "--debug" in sys.argv[1:]
    interrupts.install()
    try:
        code = app(standalone_mode=False)
        # typer turns an interrupt into a return code (130) instead of an exception
        if interrupts.received() is not None:
            raise Interrupted(interrupts.received() or signal.SIGINT)
        if isinstance(code, int) and code == 128 + signal.SIGINT:
            raise Interrupted(signal.SIGINT)
        if isinstance(code, int) and code:
            sys.exit(code)
    except Interrupted as exc:
        _fail(f"interrupted by {exc.name}; nothing was published or registered", exc.exit_code)
    except KeyboardInterrupt:
        _fail("interrupted; nothing was published or registered", 128 + signal.SIGINT)
    except ForecastError as exc:
        if debug:
            raise
        _fail(str(exc), exc.exit_code)
    except (typer.Exit, SystemExit) as exc:
        code = getattr(exc, "exit_code", getattr(exc, "code", 0))
        sys.exit(code)
    except ABORTS:
        _fail("aborted", EXIT_INPUT)
    except USAGE_ERRORS as exc:
        # usage errors (unknown options, missing or mistyped values, out-of-range values) name the option
        _fail(*usage_failure(exc))
    except OSError as exc:
        if debug:
            raise
        _fail(_os_error(exc), EXIT_INPUT)
    except MemoryError:
        _fail("out of memory; fix: use less data (fewer articles, stores or weeks) or a bigger machine", 1)
    except Exception as exc:
        if debug:
            raise
        if is_store_error(exc):
            _fail(f"tracking store failed: {exc}; fix: check the tracking store is reachable", EXIT_TRACKING)
        _fail(f"internal error ({exc}); rerun with --debug for the traceback and report it", EXIT_INTERNAL)
