"""The alert rules that need memory: feed reconnects per hour, no candle for two bars, no trade for a while,
the day's loss past the alert level, and parameter decay (the rolling Sharpe of the live parameters).

:class:`Watch` is a state machine without I/O or a clock of its own: :meth:`Watch.observe` takes an event
and ``now`` (the wall clock when the notifier handled it, in ms), :meth:`Watch.tick` only ``now``. Ages are
wall-clock ages, as the metrics' are: a simulated session runs market time faster than the wall clock, and
"no candle for two bars" means the bot gets no data now. Each rule alerts once and is armed again when the
condition clears (candles flow, a fill, the Sharpe back above the floor, a new day).

What a rule remembers starts with the process: after a restart the "no trade" clock and the Sharpe window
start again (at the restart, not at the last trade before it), so they can alert later, never falsely.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from tradewarden.domain.events import EventType
from tradewarden.notify.alerts import SESSION_MODES, Alert, Severity

E = EventType
HOUR_MS = 3_600_000
DAY_MS = 86_400_000
#: the same year as the backtest metrics' (backtest/metrics.py bars_per_year)
YEAR_MS = 365 * DAY_MS
#: samples between exact recomputations of the rolling sums (floating-point drift stays negligible)
_RESUM_EVERY = 4096


@dataclass(frozen=True)
class WatchSettings:
    timeframe_ms: int
    reconnects_per_hour: int = 10
    no_trade_ms: int = 72 * HOUR_MS
    daily_loss_pct: float | None = 3.0
    sharpe_floor: float | None = 0.5
    sharpe_window_ms: int = 30 * DAY_MS

    @property
    def sharpe_bars(self) -> int:
        """Per-candle returns in the rolling window (at least two, for a standard deviation)."""
        return max(2, self.sharpe_window_ms // self.timeframe_ms)


def _dec(value: object) -> Decimal | None:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def _day(day: int) -> str:
    return datetime.fromtimestamp(day * DAY_MS / 1000, UTC).date().isoformat()


class RollingSharpe:
    """``mean(r) / std(r, ddof=1) * sqrt(bars per year)`` of the last ``n`` per-candle returns, as the backtest
    metrics define Sharpe (risk-free rate 0); None until the window is full or while the returns do not vary."""

    def __init__(self, n: int, timeframe_ms: int) -> None:
        self.n = n
        self.annual = math.sqrt(YEAR_MS / timeframe_ms)
        self.returns: deque[float] = deque(maxlen=n)
        self._sum = self._sq = 0.0
        self._since_resum = 0
        self.last_equity: float | None = None

    def reset(self) -> None:
        self.returns.clear()
        self._sum = self._sq = 0.0
        self.last_equity = None

    def add(self, equity: float) -> float | None:
        prev, self.last_equity = self.last_equity, equity
        if prev is None or prev <= 0:
            return None
        r = equity / prev - 1.0
        if len(self.returns) == self.n:
            old = self.returns[0]
            self._sum -= old
            self._sq -= old * old
        self.returns.append(r)
        self._sum += r
        self._sq += r * r
        self._since_resum += 1
        if self._since_resum >= _RESUM_EVERY:
            self._sum, self._sq = math.fsum(self.returns), math.fsum(x * x for x in self.returns)
            self._since_resum = 0
        return self.value()

    def value(self) -> float | None:
        k = len(self.returns)
        if k < self.n:
            return None
        mean = self._sum / k
        var = (self._sq - k * mean * mean) / (k - 1)
        if var <= 1e-24:
            return None  # flat equity (no position): no Sharpe to judge
        return mean / math.sqrt(var) * self.annual


class Watch:
    def __init__(self, settings: WatchSettings) -> None:
        self.s = settings
        self.running = False
        self.reconnects: deque[int] = deque()
        self.reconnect_alerted = False
        self.candle_at: int | None = None     # wall clock of the last closed candle (or the start)
        self.candle_alerted = False
        self.fill_at: int | None = None       # wall clock of the last fill (or the start)
        self.trade_alerted = False
        self.day: int | None = None
        self.day_base: Decimal | None = None  # equity when the UTC day began (the first day: the starting capital)
        self.last_equity: Decimal | None = None
        self.loss_alerted_day: int | None = None
        self.sharpe = RollingSharpe(settings.sharpe_bars, settings.timeframe_ms)
        self.decay_alerted = False

    # -- events ------------------------------------------------------------------------------------------
    def observe(self, kind: EventType, r: Mapping[str, Any], ts: int, now: int) -> list[Alert]:
        if kind == E.RUN_STARTED and r.get("mode") in SESSION_MODES:
            self.running = True
            self.candle_at = self.fill_at = now
            self.candle_alerted = self.trade_alerted = False
            self._new_parameters()
        elif kind == E.RUN_FINISHED:
            self.running = False
        elif kind == E.FILL:
            self.fill_at, self.trade_alerted = now, False
        elif kind == E.PARAMS_RELOADED:
            self._new_parameters()
        elif kind == E.FEED_RECONNECTED:
            return self._reconnected(r, ts, now)
        elif kind == E.EQUITY_SAMPLE:
            self.candle_at, self.candle_alerted = now, False
            return self._equity(r, ts)
        return []

    def _new_parameters(self) -> None:
        """The Sharpe judged is the live parameters': a reload (or a new run) starts the window again."""
        self.sharpe.reset()
        self.decay_alerted = False

    def _reconnected(self, r: Mapping[str, Any], ts: int, now: int) -> list[Alert]:
        self.reconnects.append(now)
        self._forget_reconnects(now)
        n = len(self.reconnects)
        if n <= self.s.reconnects_per_hour or self.reconnect_alerted:
            return []
        self.reconnect_alerted = True
        exchange = str(r.get("exchange") or "the exchange")
        return [Alert("feed_reconnects", exchange, Severity.WARNING,
                      f"the market data feed of {exchange} reconnected {n} times in the last hour "
                      f"(alert level: more than {self.s.reconnects_per_hour})", ts)]

    def _forget_reconnects(self, now: int) -> None:
        while self.reconnects and self.reconnects[0] <= now - HOUR_MS:
            self.reconnects.popleft()
        if len(self.reconnects) <= self.s.reconnects_per_hour:
            self.reconnect_alerted = False

    def _equity(self, r: Mapping[str, Any], ts: int) -> list[Alert]:
        equity, pnl = _dec(r.get("equity")), _dec(r.get("pnl"))
        if equity is None:
            return []
        candle_ts = r.get("candle_ts")
        day = (candle_ts if isinstance(candle_ts, int) else ts) // DAY_MS
        if day != self.day:
            # the day starts from the last equity before it; on the session's first day, the starting capital
            self.day_base = self.last_equity if self.last_equity is not None else (
                equity - pnl if pnl is not None else equity)
            self.day = day
        self.last_equity = equity
        out = self._daily_loss(equity, day, ts)
        out += self._decay(float(equity), ts)
        return out

    def _daily_loss(self, equity: Decimal, day: int, ts: int) -> list[Alert]:
        base, level = self.day_base, self.s.daily_loss_pct
        if level is None or base is None or base <= 0 or self.loss_alerted_day == day:
            return []
        loss = base - equity
        pct = float(loss / base * 100)
        if pct < level:
            return []
        self.loss_alerted_day = day
        return [Alert("daily_loss", _day(day), Severity.CRITICAL,
                      f"today's loss is {loss} ({pct:.2f} % of the {base} the day started with), past the alert "
                      f"level of {level:g} %", ts)]

    def _decay(self, equity: float, ts: int) -> list[Alert]:
        sharpe = self.sharpe.add(equity)
        floor = self.s.sharpe_floor
        if floor is None or sharpe is None:
            return []
        if sharpe >= floor:
            self.decay_alerted = False
            return []
        if self.decay_alerted:
            return []
        self.decay_alerted = True
        days = self.s.sharpe_window_ms / DAY_MS
        return [Alert("param_decay", "params", Severity.WARNING,
                      f"parameter decay: the rolling Sharpe of the live parameters over the last {days:g} days is "
                      f"{sharpe:.2f}, under the floor of {floor:g}", ts)]

    # -- time --------------------------------------------------------------------------------------------
    def tick(self, now: int) -> list[Alert]:
        """The rules that fire on silence; call every few seconds."""
        self._forget_reconnects(now)
        if not self.running:
            return []
        out: list[Alert] = []
        two_bars = 2 * self.s.timeframe_ms
        if self.candle_at is not None and not self.candle_alerted and now - self.candle_at > two_bars:
            self.candle_alerted = True
            out.append(Alert("no_candle", "feed", Severity.CRITICAL,
                             f"no candle for {(now - self.candle_at) // 60_000} min (two bars are "
                             f"{two_bars // 60_000} min)", now))
        if self.fill_at is not None and not self.trade_alerted and now - self.fill_at > self.s.no_trade_ms:
            self.trade_alerted = True
            out.append(Alert("no_trade", "account", Severity.WARNING,
                             f"no trade for {(now - self.fill_at) / HOUR_MS:.0f} h (alert after "
                             f"{self.s.no_trade_ms / HOUR_MS:g} h)", now))
        return out
