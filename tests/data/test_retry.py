"""The retry policy: which ccxt errors are retried, Retry-After, the time budget and the events."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import ccxt
import pytest

from tradewarden.data.retry import GIVE_UP_EVENT, RETRY_EVENT, RetryPolicy, retry_after_seconds
from tradewarden.domain.events import EventType, payload_problems


class Events:
    def __init__(self) -> None:
        self.items: list[tuple[str, dict[str, Any]]] = []

    def emit(self, type_: EventType, ts: int, **fields: Any) -> None:
        problems = payload_problems(type_, fields)
        assert not problems, problems  # every event carries exactly its payload type's fields
        self.items.append((type_, fields))

    def types(self) -> list[str]:
        return [t for t, _ in self.items]


class FakeExchange:
    id = "fakex"

    def __init__(self, headers: dict[str, str] | None = None) -> None:
        self.last_response_headers = headers or {}


def failing(errors: list[BaseException], result: str = "ok") -> Callable[[], str]:
    """A callable raising the given errors in turn, then returning ``result``."""
    calls = iter(errors)

    def call() -> str:
        err = next(calls, None)
        if err is not None:
            raise err
        return result

    return call


def policy(
    events: Events, headers: dict[str, str] | None = None, **kw: Any
) -> tuple[RetryPolicy, list[float]]:
    sleeps: list[float] = []
    p = RetryPolicy(
        sink=events, exchange=FakeExchange(headers), sleep=sleeps.append, rng=random.Random(4), **kw
    )
    return p, sleeps


@pytest.mark.parametrize(
    "error",
    [
        ccxt.NetworkError("reset"),
        ccxt.RequestTimeout("slow"),
        ccxt.ExchangeNotAvailable("503"),
        ccxt.DDoSProtection("429"),
        ccxt.RateLimitExceeded("-1003"),
        ccxt.OnMaintenance("maint"),
        ccxt.OperationFailed("500 -1000"),
    ],
)
def test_transient_errors_are_retried_then_succeed(error: BaseException) -> None:
    ev = Events()
    p, sleeps = policy(ev)
    assert p.call(failing([error, error]), label="fetch_ohlcv") == "ok"
    assert len(sleeps) == 2 and all(0 <= s <= p.cap_s for s in sleeps)
    assert ev.types() == [RETRY_EVENT, RETRY_EVENT]
    assert ev.items[0][1]["call"] == "fetch_ohlcv" and ev.items[0][1]["error"] == type(error).__name__
    assert ev.items[1][1]["attempt"] == 2 and ev.items[0][1]["exchange"] == "fakex"


@pytest.mark.parametrize(
    "error",
    [
        ccxt.AuthenticationError("-2015"),
        ccxt.InvalidOrder("LOT_SIZE"),
        ccxt.InsufficientFunds("-2010"),
        ccxt.BadRequest("-1102"),
        ccxt.BadSymbol("-1121"),
        ccxt.PermissionDenied("x"),
        ccxt.InvalidNonce("-1021"),
        ccxt.BadResponse("garbage"),
        ValueError("our bug"),
    ],
)
def test_permanent_errors_are_not_retried(error: BaseException) -> None:
    ev = Events()
    p, sleeps = policy(ev)
    with pytest.raises(type(error)):
        p.call(failing([error]))
    assert sleeps == [] and ev.items == []


def test_backoff_grows_exponentially_with_full_jitter() -> None:
    p, sleeps = policy(Events(), base_s=1.0, cap_s=8.0, max_attempts=6, max_total_s=1000)
    with pytest.raises(ccxt.NetworkError):
        p.call(failing([ccxt.NetworkError("x")] * 10))
    assert len(sleeps) == 5
    for n, s in enumerate(sleeps):
        assert 0 <= s <= min(8.0, 2.0**n)


@pytest.mark.parametrize("name", ["Retry-After", "retry-after", "RETRY-AFTER"])
def test_retry_after_is_honoured_in_any_case(name: str) -> None:
    ev = Events()
    p, sleeps = policy(ev, {name: "7"}, max_total_s=100)
    assert p.call(failing([ccxt.DDoSProtection("429"), ccxt.RateLimitExceeded("418")])) == "ok"
    assert sleeps == [7.0, 7.0]
    assert ev.items[0][1]["wait_s"] == 7.0


def test_retry_after_http_date() -> None:
    assert retry_after_seconds({"Retry-After": "Wed, 21 Oct 2015 07:28:10 GMT"}, now=1445412480.0) == 10.0
    assert retry_after_seconds({"retry-after": "soon"}) is None
    assert retry_after_seconds(None) is None


def test_wait_beyond_budget_gives_up_at_once_with_event() -> None:
    ev = Events()
    p, sleeps = policy(ev, {"retry-after": "120"}, max_total_s=60)
    with pytest.raises(ccxt.DDoSProtection):
        p.call(failing([ccxt.DDoSProtection("418 banned")]), label="fetch_ohlcv")
    assert sleeps == []
    assert ev.types() == [GIVE_UP_EVENT]
    assert ev.items[0][1] | {"message": ""} == {
        "call": "fetch_ohlcv",
        "attempts": 1,
        "error": "DDoSProtection",
        "message": "",
        "retryable": True,
        "exchange": "fakex",
    }


def test_total_time_is_bounded_by_summed_waits() -> None:
    ev = Events()
    p, sleeps = policy(ev, base_s=4.0, cap_s=4.0, max_attempts=100, max_total_s=10)
    with pytest.raises(ccxt.RequestTimeout):
        p.call(failing([ccxt.RequestTimeout("t")] * 100))
    assert sum(sleeps) <= 10
    assert ev.types()[-1] == GIVE_UP_EVENT


def test_attempt_limit_gives_up_with_event() -> None:
    ev = Events()
    p, sleeps = policy(ev, max_attempts=3, max_total_s=1000)
    with pytest.raises(ccxt.ExchangeNotAvailable):
        p.call(failing([ccxt.ExchangeNotAvailable("502")] * 5))
    assert len(sleeps) == 2
    assert ev.types() == [RETRY_EVENT, RETRY_EVENT, GIVE_UP_EVENT]
    assert ev.items[-1][1]["attempts"] == 3


def test_retry_then_permanent_error_is_a_give_up() -> None:
    ev = Events()
    p, _ = policy(ev)
    with pytest.raises(ccxt.AuthenticationError):
        p.call(failing([ccxt.NetworkError("x"), ccxt.AuthenticationError("key")]))
    assert ev.types() == [RETRY_EVENT, GIVE_UP_EVENT]
    assert ev.items[-1][1]["retryable"] is False


async def test_async_calls_use_the_same_policy() -> None:
    ev = Events()
    slept: list[float] = []

    async def fake_sleep(s: float) -> None:
        slept.append(s)

    p = RetryPolicy(sink=ev, exchange=FakeExchange({"Retry-After": "2"}), async_sleep=fake_sleep)
    calls = failing([ccxt.DDoSProtection("429")])

    async def fetch() -> str:
        return calls()

    assert await p.acall(fetch) == "ok"
    assert slept == [2.0] and ev.types() == [RETRY_EVENT]
