"""One retry policy for every call to an exchange, built on tenacity.

Retried (exponential backoff with full jitter): ccxt ``NetworkError`` and its children, that is
``RequestTimeout``, ``ExchangeNotAvailable`` (5xx, dropped connections), ``DDoSProtection`` and
``RateLimitExceeded`` (HTTP 429/418). For the last two, a ``Retry-After`` header in
``exchange.last_response_headers`` (any letter case, seconds or an HTTP date) is honoured as the minimum
wait. Also retried: ``OperationFailed`` answers that are not errors of the request itself (Binance 500
``-1000``/``-1006``).

Never retried: ``ExchangeError`` and children (``AuthenticationError``, ``InvalidOrder``,
``InsufficientFunds``, ``BadRequest``/``BadSymbol``, ...) because repeating the same request gives the same
answer, and ``InvalidNonce`` because a clock offset needs a re-sync, not a repeat.

The total time is bounded (``max_total_s``, default 60 s): a wait that would end past the budget gives up
at once. Every retry emits ``ExchangeRetry`` and every give-up ``ExchangeGaveUp`` through the event sink.
Only wrap idempotent calls (reads, or orders carrying a client order id the venue reconciles): a timed-out
request may have reached the exchange.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import ccxt
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
)

from tradewarden.domain.events import EventType
from tradewarden.domain.ports import EventSink

T = TypeVar("T")

RETRY_EVENT = EventType.EXCHANGE_RETRY
GIVE_UP_EVENT = EventType.EXCHANGE_GAVE_UP


def is_retryable(exc: BaseException) -> bool:
    if isinstance(exc, ccxt.InvalidNonce):
        return False
    if isinstance(exc, ccxt.NetworkError):
        return True
    # BadResponse/NullResponse are OperationFailed too but mean a malformed answer, not a busy server
    return type(exc) is ccxt.OperationFailed


def retry_after_seconds(headers: Mapping[str, Any] | None, now: float | None = None) -> float | None:
    """The ``Retry-After`` header (any case) in seconds, or ``None`` when absent or unreadable."""
    if not headers:
        return None
    value = next((v for k, v in headers.items() if str(k).lower() == "retry-after"), None)
    if value is None:
        return None
    text = str(value).strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - (now if now is not None else datetime.now(UTC).timestamp()))


def _now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class RetryPolicy:
    """Backoff ``base_s * 2**n`` capped at ``cap_s`` with full jitter, at most ``max_attempts`` tries and
    ``max_total_s`` seconds overall. ``exchange`` (optional) supplies ``last_response_headers`` and ``id``."""

    sink: EventSink | None = None
    exchange: Any = None
    base_s: float = 0.5
    cap_s: float = 30.0
    max_attempts: int = 8
    max_total_s: float = 60.0
    sleep: Callable[[float], None] = time.sleep
    async_sleep: Callable[[float], Awaitable[None]] | None = None
    clock_ms: Callable[[], int] = _now_ms
    rng: random.Random = field(default_factory=random.Random)

    # -- the pieces tenacity calls ------------------------------------------------------------------
    def _wait(self, state: RetryCallState) -> float:
        exp = min(self.cap_s, self.base_s * (2 ** (state.attempt_number - 1)))
        delay = self.rng.uniform(0, exp)
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, ccxt.DDoSProtection | ccxt.RateLimitExceeded):
            hinted = retry_after_seconds(getattr(self.exchange, "last_response_headers", None))
            if hinted is not None:
                delay = max(delay, hinted)
        elapsed = max(state.seconds_since_start or 0.0, state.idle_for)  # idle_for counts injected sleeps
        if elapsed + delay > self.max_total_s:
            # waiting would overrun the budget: tenacity's stop check runs before the wait, so end here
            raise _OverBudgetError(delay, exc or RuntimeError("retry budget exhausted"))
        return delay

    def _before_sleep(self, label: str) -> Callable[[RetryCallState], None]:
        def emit(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            wait = state.next_action.sleep if state.next_action else 0.0
            self._emit(
                RETRY_EVENT,
                call=label,
                attempt=state.attempt_number,
                wait_s=round(wait, 3),
                error=type(exc).__name__,
                message=_short(exc),
            )

        return emit

    def _emit(self, type_: EventType, **fields: Any) -> None:
        if self.sink is not None:
            fields.setdefault("exchange", getattr(self.exchange, "id", None))
            self.sink.emit(type_, self.clock_ms(), **fields)

    def _kwargs(self, label: str) -> dict[str, Any]:
        return {
            "retry": retry_if_exception(is_retryable),
            "stop": stop_after_attempt(self.max_attempts) | stop_after_delay(self.max_total_s),
            "wait": self._wait,
            "before_sleep": self._before_sleep(label),
            "reraise": True,
        }

    def _gave_up(self, label: str, exc: BaseException, attempts: int) -> None:
        if attempts <= 1 and not is_retryable(exc):
            return  # refused at once (bad key, bad order...): not a give-up, the caller sees the error
        self._emit(
            GIVE_UP_EVENT,
            call=label,
            attempts=attempts,
            error=type(exc).__name__,
            message=_short(exc),
            retryable=is_retryable(exc),
        )

    # -- public API ----------------------------------------------------------------------------------
    def call(self, fn: Callable[..., T], *args: Any, label: str | None = None, **kwargs: Any) -> T:
        """Run ``fn(*args, **kwargs)`` under the policy (synchronous)."""
        name = label or str(getattr(fn, "__name__", "call"))
        retrying = Retrying(sleep=self.sleep, **self._kwargs(name))
        try:
            return retrying(fn, *args, **kwargs)
        except _OverBudgetError as over:
            self._gave_up(name, over.cause, retrying.statistics.get("attempt_number", 0))
            raise over.cause from None
        except Exception as exc:
            self._gave_up(name, exc, retrying.statistics.get("attempt_number", 0))
            raise

    async def acall(
        self, fn: Callable[..., Awaitable[T]], *args: Any, label: str | None = None, **kwargs: Any
    ) -> T:
        """Await ``fn(*args, **kwargs)`` under the policy."""
        name = label or str(getattr(fn, "__name__", "call"))
        extra: dict[str, Any] = {"sleep": self.async_sleep} if self.async_sleep is not None else {}
        retrying = AsyncRetrying(**extra, **self._kwargs(name))
        try:
            return await retrying(fn, *args, **kwargs)
        except _OverBudgetError as over:
            self._gave_up(name, over.cause, retrying.statistics.get("attempt_number", 0))
            raise over.cause from None
        except Exception as exc:
            self._gave_up(name, exc, retrying.statistics.get("attempt_number", 0))
            raise


class _OverBudgetError(Exception):
    """Raised from the wait function when the next wait would exceed the total time budget."""

    def __init__(self, delay: float, cause: BaseException) -> None:
        super().__init__(f"next wait {delay:.1f}s exceeds the retry budget")
        self.cause = cause


def _short(exc: BaseException | None) -> str:
    text = str(exc) if exc is not None else ""
    return text[:300]
