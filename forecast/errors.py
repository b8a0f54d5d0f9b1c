"""Exception hierarchy. Every error a user can cause says what is wrong, where, and how to fix it.

Each error class carries the exit code the command line ends with (documented in docs/errors.md):
1 unusable input data, settings or paths; 2 wrong command-line usage; 3 the tracking store or the Dask
cluster is unreachable or failed; 4 an internal error (a bug); 130 / 143 interrupted by SIGINT / SIGTERM.
"""

from __future__ import annotations

import signal

EXIT_INPUT = 1
EXIT_USAGE = 2
EXIT_TRACKING = 3
EXIT_INTERNAL = 4


class ForecastError(Exception):
    """Base class for errors the command line reports as one human line (no traceback)."""

    exit_code = EXIT_INPUT


class ConfigError(ForecastError):
    """A pipeline file or a command-line option is wrong."""


class TrackingError(ForecastError):
    """The MLflow tracking store cannot be reached or refused an operation (a retry may succeed)."""

    exit_code = EXIT_TRACKING


class Interrupted(KeyboardInterrupt):
    """The process received SIGINT or SIGTERM; the exit code is 128 + the signal number.

    Examples
    --------
    >>> Interrupted(signal.SIGTERM).exit_code, Interrupted(signal.SIGTERM).name
    (143, 'SIGTERM')
    """

    def __init__(self, signum: int = signal.SIGINT) -> None:
        self.signum = int(signum)
        super().__init__(self.name)

    @property
    def name(self) -> str:
        try:
            return signal.Signals(self.signum).name
        except ValueError:
            return f"signal {self.signum}"

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


class ClusterError(ForecastError):
    """The Dask cluster named by ``--cluster`` / ``[engine] cluster`` cannot be reached or has no workers."""

    exit_code = EXIT_TRACKING


class InputError(ForecastError):
    """An input file cannot be used at all.

    The message names the file, the column and the row (1-based data row, header excluded) where known,
    and the fix.

    Examples
    --------
    >>> str(InputError("bad date", file="train.csv", column="Date", row=3, fix="use YYYY-MM-DD"))
    "train.csv: column 'Date', row 3: bad date; fix: use YYYY-MM-DD"
    """

    def __init__(
        self,
        problem: str,
        *,
        file: str | None = None,
        column: str | None = None,
        row: int | None = None,
        fix: str | None = None,
    ) -> None:
        self.problem = problem
        self.file = file
        self.column = column
        self.row = row
        self.fix = fix
        super().__init__(self._format())

    def _format(self) -> str:
        where = []
        if self.column is not None:
            where.append(f"column {self.column!r}")
        if self.row is not None:
            where.append(f"row {self.row}")
        head = f"{self.file}: " if self.file else ""
        loc = f"{', '.join(where)}: " if where else ""
        tail = f"; fix: {self.fix}" if self.fix else ""
        return f"{head}{loc}{self.problem}{tail}"


class InfeasibleError(ForecastError):
    """An allocation request cannot be satisfied; the message names the binding constraint and rows."""


class NotFittedError(ForecastError, ValueError):
    """A model was asked to predict before `fit` was called."""
