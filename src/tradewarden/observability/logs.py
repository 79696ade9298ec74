"""Logging: JSON lines to a file, readable lines on the terminal, every record scrubbed of secrets first."""

from __future__ import annotations

import logging
import logging.handlers
import os
import shutil
import sys
import threading
import traceback
from io import TextIOWrapper
from pathlib import Path
from types import TracebackType
from typing import Any

import orjson

from tradewarden.observability.journal import iso_utc
from tradewarden.observability.scrub import SCRUBBER
from tradewarden.private_files import open_private, private_dir

#: attributes every LogRecord has; anything else on a record came from ``extra=`` and is written as a field
_STANDARD_ATTRS = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}

#: marks the handlers and hooks this module installs, so a second setup replaces them instead of doubling
_OURS = "_tradewarden_handler"

CRASH_LOGGER = "tradewarden.crash"


class ScrubFilter(logging.Filter):
    """Scrubs a record in place: the formatted message (args merged in), exception and stack text, extras.

    It runs on each of our handlers (a filter on a logger would miss records propagated from child loggers),
    and it leaves nothing unscrubbed behind: ``args`` and ``exc_info`` are cleared once rendered, so no
    formatter can render the raw values again.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_tw_scrubbed", False):
            return True
        record.msg = SCRUBBER.scrub(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        record.exc_info = None
        if record.exc_text:
            record.exc_text = SCRUBBER.scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = SCRUBBER.scrub(record.stack_info)
        for name, value in list(record.__dict__.items()):
            if name not in _STANDARD_ATTRS:
                record.__dict__[name] = SCRUBBER.scrub_value(value)
        record.__dict__["_tw_scrubbed"] = True
        return True


class JsonLineFormatter(logging.Formatter):
    """``{"ts": ms, "time": ISO-8601 UTC, "level", "logger", "message", ...extras, "exc": traceback}``."""

    def format(self, record: logging.LogRecord) -> str:
        ts = int(record.created * 1000)
        entry: dict[str, Any] = {
            "ts": ts, "time": iso_utc(ts), "level": record.levelname, "logger": record.name,
            "message": record.getMessage(),
        }
        for name, value in record.__dict__.items():
            if name not in _STANDARD_ATTRS and not name.startswith("_tw_"):
                entry[name] = value
        if record.exc_text:
            entry["exc"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        line = orjson.dumps(entry, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
        return SCRUBBER.scrub(line)  # extras may hold objects whose str() is only known now


def parse_level(level: str | int) -> int:
    """``"info"`` -> ``logging.INFO``; a clear error for a name logging does not know."""
    if isinstance(level, int):
        return level
    value = logging.getLevelName(level.strip().upper())
    if not isinstance(value, int):
        raise ValueError(f"unknown log level {level!r} (use DEBUG, INFO, WARNING, ERROR or CRITICAL)")
    return value


def _mark(handler: logging.Handler) -> logging.Handler:
    setattr(handler, _OURS, True)
    handler.addFilter(ScrubFilter())
    return handler


#: the defaults of ``logging.max_bytes`` and ``logging.backups``
DEFAULT_MAX_BYTES = 50 * 1024 * 1024
DEFAULT_BACKUPS = 5


class _PrivateFileHandler(logging.handlers.RotatingFileHandler):
    """A log file created (or tightened to) 0600 whatever the umask: log lines name orders and balances.

    It rotates at ``maxBytes`` (``tradewarden.jsonl`` -> ``.1`` -> ... -> ``.<backupCount>``, the oldest
    dropped); a rotated file is renamed, so it keeps its 0600, and the new one is opened here, 0600 too."""

    def _open(self) -> TextIOWrapper:
        return open_private(Path(self.baseFilename), append="a" in self.mode, text=True)


def _file_handler(path: Path, max_bytes: int, backups: int) -> logging.Handler:
    private_dir(path.parent, "log directory")
    handler = _PrivateFileHandler(path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8")
    handler.setFormatter(JsonLineFormatter())
    return _mark(handler)


def rotate_output_file(path: Path, max_bytes: int = DEFAULT_MAX_BYTES, backups: int = DEFAULT_BACKUPS) -> bool:
    """Rotate ``path`` as the bot's own log rotates (``.1`` -> ... -> ``.<backups>``, the oldest dropped, each
    0600) once it is larger than ``max_bytes`` (either 0: never). True when it rotated.

    For a file another process writes through a descriptor it inherited (a child's output, ``O_APPEND``):
    renaming it would leave the writer on the renamed file, so its content is copied to ``.1`` and the file is
    truncated in place; the writer's next line lands at the new start. A line written between the copy and the
    truncation is lost, as with logrotate's ``copytruncate``: the price of never stopping the writer."""
    if max_bytes <= 0 or backups <= 0:
        return False
    try:
        if path.stat().st_size <= max_bytes:
            return False
    except FileNotFoundError:
        return False
    for n in range(backups - 1, 0, -1):
        older = Path(f"{path}.{n}")
        if older.exists():
            os.replace(older, f"{path}.{n + 1}")
    with path.open("rb") as src, open_private(Path(f"{path}.1"), append=False) as dst:
        shutil.copyfileobj(src, dst)
    os.truncate(path, 0)
    return True


def _console_handler() -> logging.Handler:
    from rich.console import Console  # rich.logging is slow to import; only the terminal needs it
    from rich.logging import RichHandler

    handler = RichHandler(console=Console(stderr=True), show_path=False, rich_tracebacks=False,
                          markup=False, log_time_format="%H:%M:%S")
    handler.setFormatter(logging.Formatter("%(message)s"))
    return _mark(handler)


def setup_logging(level: str = "INFO", file: Path | None = None, console: bool = True, *,
                  max_bytes: int = DEFAULT_MAX_BYTES, backups: int = DEFAULT_BACKUPS) -> None:
    """Configure the root logger: JSON lines to ``file``, readable lines on stderr, both scrubbed.

    ``file`` rotates when a line would take it past ``max_bytes``, keeping ``backups`` old files (either 0:
    it never rotates).

    Calling it again replaces what an earlier call installed. It also re-reads secret values from the
    environment and installs ``sys.excepthook`` / ``threading.excepthook`` so uncaught tracebacks are
    printed scrubbed (and written to the log file).
    """
    numeric = parse_level(level)
    SCRUBBER.refresh()
    root = logging.getLogger()
    crash = logging.getLogger(CRASH_LOGGER)
    for logger in (root, crash):
        for handler in list(logger.handlers):
            if getattr(handler, _OURS, False):
                logger.removeHandler(handler)
                handler.close()
    root.setLevel(numeric)
    if file is not None:
        file_handler = _file_handler(Path(file), max_bytes, backups)
        root.addHandler(file_handler)
        # crashes go to the file only: the hook prints them to the terminal itself
        crash.addHandler(file_handler)
    crash.propagate = False
    if console:
        root.addHandler(_console_handler())
    # without a handler, logging falls back to its "last resort" stderr handler, which nothing scrubs
    crash.addHandler(_mark(logging.NullHandler()))
    if not root.handlers:
        root.addHandler(_mark(logging.NullHandler()))
    install_excepthooks()


def _print_scrubbed(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    text = "".join(traceback.format_exception(exc_type, exc, tb))
    sys.stderr.write(SCRUBBER.scrub(text))
    sys.stderr.flush()
    logging.getLogger(CRASH_LOGGER).critical("uncaught %s", exc_type.__name__, exc_info=(exc_type, exc, tb))


def _excepthook(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    if issubclass(exc_type, KeyboardInterrupt):
        sys.__excepthook__(exc_type, exc, tb)
        return
    _print_scrubbed(exc_type, exc, tb)


def _thread_excepthook(args: threading.ExceptHookArgs) -> None:
    if args.exc_value is None or issubclass(args.exc_type, SystemExit):
        return
    _print_scrubbed(args.exc_type, args.exc_value, args.exc_traceback)


def install_excepthooks() -> None:
    """Print uncaught exceptions (main thread and other threads) scrubbed of secrets."""
    sys.excepthook = _excepthook
    threading.excepthook = _thread_excepthook


def current_log_file() -> Path | None:
    """The log file :func:`setup_logging` writes to, or None when none is set up (yet)."""
    for handler in logging.getLogger(CRASH_LOGGER).handlers:
        if getattr(handler, _OURS, False) and isinstance(handler, logging.FileHandler):
            return Path(handler.baseFilename)
    return None


def log_internal_error(exc: BaseException) -> Path | None:
    """Write ``exc`` with its traceback (scrubbed) to the log file only; the file, or None when there is none."""
    logging.getLogger(CRASH_LOGGER).critical("internal error %s", type(exc).__name__,
                                             exc_info=(type(exc), exc, exc.__traceback__))
    return current_log_file()
