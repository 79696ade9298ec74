"""Turning the errors a command can meet into one clear line and an exit code, never a traceback.

Exit codes: 2 for bad input (exactly the :class:`tradewarden.errors.BadInput` family: fix the input, a retry
cannot help), 3 for a refusal to start, 1 for everything else, the world's failures and our own bugs alike (a
supervisor may restart). An unexpected error is reported in one line; its traceback goes to the log file.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from rich.markup import escape

from tradewarden.errors import BadInput

err_console = Console(stderr=True)

#: errors from the world rather than the user's input: one clear line and exit code 1 (matched by class name,
#: so this module need not import ccxt and every package)
RUNTIME_ERRORS = {
    "SessionError", "DatabaseError", "BackupError", "UnwritablePathError", "ExchangeViewError", "ExchangeConfigError",
    "SimConfigError", "RecordingError", "ExchangeError", "NetworkError", "BadRequest", "AuthenticationError",
    "ExchangeNotAvailable", "RequestTimeout", "InvalidNonce", "PermissionDenied", "BadSymbol",
}


#: refusals to start that a restart cannot cure (another instance trades the account): exit code 3
REFUSED = {"InstanceLockedError"}


def fail(message: str, code: int = 2) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {escape(message)}", markup=True, highlight=False, soft_wrap=True)
    return typer.Exit(code)


def internal_error(exc: Exception) -> typer.Exit:
    """A bug or an unforeseen failure: one line naming it and where its traceback is, exit code 1."""
    from tradewarden.observability.logs import log_internal_error
    from tradewarden.observability.scrub import SCRUBBER

    log = log_internal_error(exc)
    text = SCRUBBER.scrub(f"internal error: {type(exc).__name__}: {exc}".splitlines()[0])
    if log is not None:
        return fail(f"{text} (the traceback is in {log})", code=1)
    # no log file is set up yet: the traceback has nowhere else to go, and a bug must stay diagnosable
    import traceback

    sys.stderr.write(SCRUBBER.scrub("".join(traceback.format_exception(exc))))
    return fail(text, code=1)


@contextmanager
def user_errors() -> Iterator[None]:
    """Report bad input with exit code 2, a refusal to start with 3, anything else in one line with 1."""
    try:
        yield
    except typer.Exit:
        raise
    except BadInput as exc:
        raise fail(str(exc)) from None
    except Exception as exc:
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
        raise internal_error(exc) from None
