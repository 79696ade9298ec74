"""What a running session shows an operator: trading as INFO log lines, and on a terminal a live panel.

Both are event-bus subscribers, so they run on the bus's threads, never on the trading path. The log lines
(orders, fills, denials, breakers, the kill switch, trading-state changes) go through the normal logging, so
the log file and ``journalctl -f`` show trading as it happens. The panel (:func:`render` over a
:class:`ConsoleState` the events keep up to date) shows per symbol the last candle, the position and its PnL,
plus the equity, the trading state and the latest events; rich's ``Live`` redraws it a few times a second.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from tradewarden.domain.events import EventType as E
from tradewarden.observability.bus import Event, EventBus

log = logging.getLogger("tradewarden.trading")

#: the events logged as lines at INFO, each with the fields its line shows
LOGGED: dict[E, tuple[str, ...]] = {
    E.ORDER_PLACED: ("client_id", "symbol", "side", "order_type", "qty", "price", "reduce_only"),
    E.FILL: ("client_id", "symbol", "side", "qty", "price", "fee", "reason"),
    E.ORDER_DENIED: ("client_id", "symbol", "side", "qty", "reason_code", "message"),
    E.ORDER_REJECTED: ("client_id", "symbol"),
    E.ORDER_CANCELLED: ("client_id", "symbol"),
    E.CIRCUIT_BREAKER_TRIPPED: ("breaker", "scope", "action", "reason"),
    E.CIRCUIT_BREAKER_RESET: ("breaker", "scope", "by"),
    E.KILL_SWITCH_ACTIVATED: ("reason", "actor"),
    E.KILL_SWITCH_DEACTIVATED: ("reason", "actor"),
    E.TRADING_STATE_CHANGED: ("scope", "from", "to", "reason"),
    E.HALTED_OPS: ("reason", "what_to_do"),
}
RECENT = 8  # events the panel lists


def log_line(event: Event) -> str:
    fields = LOGGED[event.type]
    return f"{event.type}: " + " ".join(f"{k}={event.record.get(k)}" for k in fields if k in event.record)


def log_trading(event: Event) -> None:
    """A bus handler: orders, fills and alerts as INFO lines."""
    if event.type in LOGGED:
        log.info(log_line(event))


@dataclass
class SymbolLine:
    candle_ts: int | None = None
    close: Decimal | None = None
    qty: Decimal = Decimal(0)
    cash_flow: Decimal = Decimal(0)  # what the fills paid and received, fees included: PnL = flow + qty × close

    @property
    def pnl(self) -> Decimal:
        return self.cash_flow + self.qty * (self.close or Decimal(0))


@dataclass
class ConsoleState:
    """What the panel shows, kept up to date from the events (on the subscriber's thread)."""

    mode: str
    symbols: dict[str, SymbolLine]
    equity: Decimal | None = None
    pnl: Decimal | None = None
    state: str = "ACTIVE"
    kill_switch: bool = False
    recent: deque[str] = field(default_factory=lambda: deque(maxlen=RECENT))

    def apply(self, event: Event) -> None:
        rec = event.record
        if event.type == E.EQUITY_SAMPLE:
            self.equity, self.pnl = Decimal(str(rec["equity"])), Decimal(str(rec["pnl"]))
            for symbol, close in dict(rec.get("marks") or {}).items():
                line = self.symbols.setdefault(symbol, SymbolLine())
                line.candle_ts, line.close = int(rec["candle_ts"]), Decimal(str(close))
            return
        if event.type == E.FILL:
            line = self.symbols.setdefault(str(rec["symbol"]), SymbolLine())
            qty, price, fee = (Decimal(str(rec[k])) for k in ("qty", "price", "fee"))
            sign = 1 if rec["side"] == "buy" else -1
            line.qty += sign * qty
            line.cash_flow -= sign * qty * price + fee
        elif event.type == E.TRADING_STATE_CHANGED and rec.get("scope") == "global":
            self.state = str(rec["to"])
        elif event.type in (E.KILL_SWITCH_ACTIVATED, E.KILL_SWITCH_DEACTIVATED):
            self.kill_switch = event.type == E.KILL_SWITCH_ACTIVATED
        if event.type in LOGGED:
            self.recent.append(f"{_when(event.ts)} {log_line(event)}")


def _when(ts: int | None) -> str:
    return "-" if ts is None else datetime.fromtimestamp(ts / 1000, UTC).strftime("%Y-%m-%d %H:%M")


def render(st: ConsoleState) -> Group:
    """The panel: the account line, a table of the symbols, the latest events."""
    head = (f"[bold]{st.mode}[/bold]  equity {st.equity if st.equity is not None else '-'}  "
            f"pnl {st.pnl if st.pnl is not None else '-'}  state {st.state}"
            f"{'  [red]KILL SWITCH ON[/red]' if st.kill_switch else ''}")
    table = Table("symbol", "last candle", "close", "position", "pnl", expand=False)
    for symbol, line in sorted(st.symbols.items()):
        table.add_row(escape(symbol), _when(line.candle_ts), str(line.close if line.close is not None else "-"),
                      str(line.qty), str(line.pnl))
    events = [escape(text) for text in st.recent] or ["(no trading events yet)"]
    return Group(head, table, "[dim]latest events[/dim]", *events)


class LiveConsole:
    """The panel on a terminal, redrawn by rich's own refresh thread; the events update its state."""

    def __init__(self, state: ConsoleState, console: Console | None = None) -> None:
        self.state = state
        self.live = Live(console=console, refresh_per_second=4, get_renderable=lambda: render(self.state),
                         transient=False)

    def attach(self, bus: EventBus) -> None:
        bus.subscribe("live-console", self.state.apply)
        self.live.start()

    def stop(self) -> None:
        self.live.stop()


def attach_console(bus: EventBus, mode: str, symbols: list[str], live: bool) -> LiveConsole | None:
    """Trading lines in the log always; the live panel when ``live`` (a terminal, or ``--console``)."""
    bus.subscribe("trading-log", log_trading)
    if not live:
        return None
    panel = LiveConsole(ConsoleState(mode, {s: SymbolLine() for s in symbols}))
    panel.attach(bus)
    return panel
