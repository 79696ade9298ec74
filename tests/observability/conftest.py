"""Fixtures: canary secrets in the environment, and logging/excepthook state restored after each test."""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Iterator

import pytest

from tradewarden.observability.scrub import SCRUBBER

#: values no real environment holds; each must never appear in any output
CANARY_KEY = "CanaryApiKey4f9Q2mZ7xT1"
CANARY_SECRET = "canary-secret-value-771"
CANARY_TOKEN = "tok_Canary_551_zz"
CANARY_PASSWORD = "hunter2canary"
CANARIES = (CANARY_KEY, CANARY_SECRET, CANARY_TOKEN, CANARY_PASSWORD)


@pytest.fixture
def canaries(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, ...]]:
    """Secret-named environment variables holding the canary values, read by the scrubber."""
    monkeypatch.setenv("BINANCE_API_KEY", CANARY_KEY)
    monkeypatch.setenv("my_exchange_secret", CANARY_SECRET)
    monkeypatch.setenv("GITHUB_TOKEN", CANARY_TOKEN)
    monkeypatch.setenv("DB_PASSWORD", CANARY_PASSWORD)
    SCRUBBER.refresh()
    yield CANARIES
    monkeypatch.undo()
    SCRUBBER.refresh()


@pytest.fixture(autouse=True)
def _isolated_scrubber() -> Iterator[None]:
    SCRUBBER.forget()
    yield
    SCRUBBER.forget()


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    crash = logging.getLogger("tradewarden.crash")
    saved = (list(root.handlers), root.level, list(crash.handlers), crash.propagate,
             sys.excepthook, threading.excepthook)
    yield
    for logger, handlers in ((root, saved[0]), (crash, saved[2])):
        for handler in list(logger.handlers):
            if handler not in handlers:
                logger.removeHandler(handler)
                handler.close()
    root.setLevel(saved[1])
    crash.propagate = saved[3]
    sys.excepthook, threading.excepthook = saved[4], saved[5]
