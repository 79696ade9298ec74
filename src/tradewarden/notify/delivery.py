"""Delivering one message to one channel: retried with exponential backoff (bounded), counted, logged.

A failed attempt that may succeed later (a timeout, HTTP 429 or 5xx) waits ``base_s * 2**n`` seconds (or what
a 429 asked for), never more than ``max_s``, up to ``retries`` times; one that cannot (a wrong token, a chat
that blocked the bot) gives up at once. Each channel has its counters (sent, failed, retries); the first
failure in a row is logged, then nothing until the channel works again, which is logged too.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import aiohttp

from tradewarden.notify.alerts import Alert
from tradewarden.notify.channels import Channel, DeliveryError
from tradewarden.observability.scrub import scrub

log = logging.getLogger(__name__)
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class Backoff:
    retries: int = 4
    base_s: float = 1.0
    max_s: float = 30.0

    def delay(self, attempt: int, asked_s: float | None = None) -> float:
        """Seconds before retry ``attempt`` (1, 2, ...): what the server asked for, else the doubling step."""
        wanted = asked_s if asked_s is not None else self.base_s * 2 ** (attempt - 1)
        return max(0.0, min(self.max_s, wanted))


@dataclass
class ChannelCounts:
    sent: int = 0
    failed: int = 0
    retries: int = 0
    failing: int = 0  # failures in a row (for the log)
    last_error: str = ""


@dataclass
class Counters:
    """The notifier's counters: per channel, and messages dropped on a full queue."""

    channels: dict[str, ChannelCounts] = field(default_factory=dict)
    dropped: int = 0

    def of(self, channel: str) -> ChannelCounts:
        return self.channels.setdefault(channel, ChannelCounts())

    @property
    def sent(self) -> int:
        return sum(c.sent for c in self.channels.values())

    @property
    def failed(self) -> int:
        return sum(c.failed for c in self.channels.values())


async def deliver(channel: Channel, http: aiohttp.ClientSession, alert: Alert, text: str, backoff: Backoff,
                  counters: Counters, sleep: Sleep = asyncio.sleep) -> bool:
    """Send ``text`` to ``channel``, retrying as ``backoff`` allows; whether it arrived."""
    counts = counters.of(channel.name)
    attempt = 0
    while True:
        try:
            await channel.send(http, alert, text)
        except DeliveryError as exc:
            attempt += 1
            if exc.retryable and attempt <= backoff.retries:
                counts.retries += 1
                await sleep(backoff.delay(attempt, exc.retry_after_s))
                continue
            _failed(channel.name, counts, str(exc), attempt)
            return False
        counts.sent += 1
        if counts.failing:
            log.warning("notifications to %s work again after %d failed message(s)", channel.name, counts.failing)
            counts.failing = 0
        return True


def _failed(name: str, counts: ChannelCounts, error: str, attempts: int) -> None:
    counts.failed += 1
    counts.failing += 1
    counts.last_error = scrub(error)
    if counts.failing == 1:
        log.warning("a notification to %s failed after %d attempt(s): %s (counted; later failures in a row "
                    "are not logged)", name, attempts, counts.last_error)
