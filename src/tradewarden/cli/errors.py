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
    "SessionError", "DatabaseError", "ExchangeViewError", "ExchangeConfigError",
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
        if any(k.__name__ in RUNTIME_ERRORS for k in type(exc).__mro__):
            raise fail(f"{type(exc).__name__}: {exc}", code=1) from None
        raise
