"""Circuit breakers: their state and the pure tests that decide when they trip or reset."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from tradewarden.risk.state import TradingState

HUNDRED = Decimal(100)
MINUTE_MS = 60_000
DAY_MS = 86_400_000

#: every breaker name; ``manual`` is an operator's own halt or reduce order for a scope
BREAKER_NAMES = ("daily_loss", "drawdown", "consecutive_losses", "error_rate", "stale_data", "manual")


@dataclass(frozen=True, slots=True)
class Breaker:
    """One breaker in one scope. ``reset_after_ts`` is set for breakers that reset on a timer."""

    name: str
    scope: str
    tripped: bool = False
    action: TradingState = TradingState.HALTED
    reason: str = ""
    tripped_ts: int | None = None
    reset_after_ts: int | None = None

    def due_for_reset(self, ts: int) -> bool:
        return self.tripped and self.reset_after_ts is not None and ts >= self.reset_after_ts


def tripped(name: str, scope: str, ts: int, action: str, reason: str,
            reset_after_minutes: int | None) -> Breaker:
    until = None if reset_after_minutes is None else ts + reset_after_minutes * MINUTE_MS
    return Breaker(name, scope, True, TradingState(action), reason, ts, until)


def loss_pct(reference: Decimal, equity: Decimal) -> Decimal:
    """How far ``equity`` is below ``reference``, in percent of ``reference`` (negative when above)."""
    if reference <= 0:
        return Decimal(0)
    return (reference - equity) / reference * HUNDRED


def drawdown_trips(peak: Decimal, equity: Decimal, limit: Decimal | None) -> str | None:
    """A reason when equity has fallen ``limit`` percent or more below its peak."""
    if limit is None:
        return None
    dd = loss_pct(peak, equity)
    if dd >= limit:
        return f"drawdown {dd.quantize(Decimal('0.01'))}% from peak {peak} reached {limit}%"
    return None


def daily_loss_trips(day_start: Decimal, equity: Decimal, limit: Decimal | None) -> str | None:
    if limit is None:
        return None
    lost = loss_pct(day_start, equity)
    if lost >= limit:
        return (f"daily loss {lost.quantize(Decimal('0.01'))}% (equity {equity} from {day_start}) "
                f"reached {limit}%")
    return None


def loss_streak_trips(streak: int, limit: int | None) -> str | None:
    if limit is not None and streak >= limit:
        return f"{streak} losing trades in a row (limit {limit})"
    return None


def prune_window(times: list[int], ts: int, window_ms: int) -> list[int]:
    """The times within ``(ts - window_ms, ts]``."""
    return [t for t in times if t > ts - window_ms]


def error_rate_trips(times: list[int], limit: int | None, window_minutes: int, last_code: str) -> str | None:
    if limit is not None and len(times) >= limit:
        return f"{len(times)} exchange errors within {window_minutes} min (limit {limit}; last {last_code})"
    return None


def stale_trips(unhealthy_since: int | None, ts: int, grace_seconds: int) -> str | None:
    if unhealthy_since is not None and ts - unhealthy_since >= grace_seconds * 1000:
        return f"market data unhealthy since {unhealthy_since} ({(ts - unhealthy_since) // 1000} s)"
    return None
