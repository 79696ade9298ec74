"""The fake Telegram Bot API and webhook receiver (tests/notify/fakes.py) as fixtures, with a bot token made
per run (never a committed secret-looking literal)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from tradewarden.observability.scrub import SCRUBBER

from .fakes import FakeTelegram, WebhookReceiver


@pytest.fixture
def token() -> str:
    return f"{secrets.randbelow(10**9) + 1}:canary{secrets.token_hex(12)}"


@pytest.fixture
def telegram(token: str) -> Iterator[FakeTelegram]:
    fake = FakeTelegram(token)
    yield fake
    fake.close()


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    yield receiver
    receiver.close()


@pytest.fixture(autouse=True)
def _forget_secrets() -> Iterator[None]:
    yield
    SCRUBBER.forget()
