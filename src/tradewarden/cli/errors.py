"""Turning the errors a user can cause into one clear line and an exit code, never a traceback."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from rich.markup import escape

err_console = Console(stderr=True)

#: exception class names (so this module need not import every package) that mean "bad input"
BAD_INPUT = {
    "CandleFileError", "ConfigError", "ParamError", "StrategyLoadError", "LookaheadError", "RiskConfigError",
    "NothingToTestError", "FilterViolation", "ValidationError", "FileNotFoundError", "ValueError",
}


#: errors from the world rather than the user's input: one clear line and exit code 1
RUNTIME_ERRORS = {
    "SessionError", "DatabaseError", "UnwritablePathError", "ExchangeViewError", "ExchangeConfigError",
    "SimConfigError", "RecordingError", "ExchangeError", "NetworkError", "BadRequest", "AuthenticationError",
    "ExchangeNotAvailable", "RequestTimeout", "InvalidNonce", "PermissionDenied", "BadSymbol",
}


#: refusals to start that a restart cannot cure (another instance trades the account): exit code 3
REFUSED = {"InstanceLockedError"}


def fail(message: str, code: int = 2) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {escape(message)}", markup=True, highlight=False, soft_wrap=True)
    return typer.Exit(code)


@contextmanager
def user_errors() -> Iterator[None]:
    """Report known bad-input errors as ``error: ...`` with exit code 2."""
    try:
        yield
    except typer.Exit:
        raise
    except Exception as exc:
        if type(exc).__name__ in BAD_INPUT:
            raise fail(str(exc)) from None
        if type(exc).__name__ in REFUSED:
            raise fail(f"{type(exc).__name__}: {exc}", code=3) from None
        names = {k.__name__ for k in type(exc).__mro__}
        if "SQLAlchemyError" in names:  # its text spans lines (SQL, parameters, a link): the driver's line
            from tradewarden.persistence.database import error_line

            raise fail(f"database error: {error_line(exc)}", code=1) from None
        if names & RUNTIME_ERRORS:
            raise fail(f"{type(exc).__name__}: {exc}", code=1) from None
        if isinstance(exc, OSError):  # the world, not the input: a path we cannot write, a full disk
            where = f"{exc.filename}: " if exc.filename else ""
            raise fail(f"{where}{exc.strerror or exc}", code=1) from None
        raise
