"""The state keeper of a session of several symbols: every runner and the shared portfolio persisted in one
transaction per time step, and resumed together at boot.

The resume snapshot ``session`` holds, per symbol, what :class:`~tradewarden.node.state.StateKeeper` keeps for
one (the engine, the simulated book, the protection), plus the portfolio's cash in its ledger unit (exact: the
engines' own ``cash_atoms`` round it down to their atoms) and the registered components' state. The results
so far are chunked series (:mod:`tradewarden.runtime.series`): one per symbol (``series:<symbol>:<k>``, its
trades too) and one of the portfolio's equity per step (``series:portfolio:<k>``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tradewarden.domain.events import EventType
from tradewarden.domain.portfolio import Portfolio
from tradewarden.domain.ports import EventSink
from tradewarden.domain.trades import Trade
from tradewarden.engine.window import Window
from tradewarden.node.components import Stateful
from tradewarden.node.runner import StrategyRunner
from tradewarden.persistence.runtime_store import RuntimeStore
from tradewarden.runtime.series import SERIES_PREFIX, TRADES_PREFIX, SessionResults, SessionSeries
from tradewarden.venues.exchange import ExchangeVenue

SNAPSHOT = "session"
PORTFOLIO = "portfolio"
#: the newest steps held in memory (the session's whole series is in the store)
WINDOW = 1024


@dataclass
class _NoTrades:
    trades: Window[Trade] = field(default_factory=Window)


@dataclass
class PortfolioSeries:
    """The portfolio's equity per time step (``candle_close``: the equity as a number, for the chart); the
    newest :data:`WINDOW` steps, the state keeper writes every step to the store."""

    candle_ts: Window[int] = field(default_factory=lambda: Window(WINDOW))
    candle_close: Window[float] = field(default_factory=lambda: Window(WINDOW))
    equity_atoms: Window[int] = field(default_factory=lambda: Window(WINDOW))  # in the portfolio's ledger unit
    exposed_steps: int = 0  # steps with at least one open position once their fills were booked (as the backtest)
    trades: _NoTrades = field(default_factory=_NoTrades)


class PortfolioStateKeeper:
    def __init__(self, store: RuntimeStore, runners: Mapping[str, StrategyRunner], portfolio: Portfolio,
                 events: EventSink, clock_ms: Callable[[], int], *, live: bool, fresh_after_clean_stop: bool,
                 say: Callable[[str], None] = print) -> None:
        self.store = store
        self.runners = dict(runners)
        self.portfolio = portfolio
        self.events = events
        self.clock_ms = clock_ms
        self.live = live
        self.fresh_after_clean_stop = fresh_after_clean_stop
        self.say = say
        self.equity = PortfolioSeries()
        self.series = {s: SessionSeries(s) for s in runners}
        self.equity_series = SessionSeries(PORTFOLIO)
        self.started_ts: int | None = None
        self.fill_seq = 0
        self.completed = False
        self.candles_seen = 0
        self.recording_path: Path | None = None
        self.previous_recording: Path | None = None
        self.resumed_after: int | None = None
        self.parts: dict[str, Stateful] = {}

    def register(self, name: str, part: Stateful) -> None:
        self.parts[name] = part

    def mark_step(self, ts: int, portfolio: Portfolio) -> None:
        units = portfolio.equity_units()
        self.equity.candle_ts.append(ts)
        self.equity.equity_atoms.append(units)
        self.equity.candle_close.append(float(portfolio.from_units(units)))

    def resume(self) -> bool:
        state = self.store.load()
        snap = state.snapshots.get(SNAPSHOT)
        self.started_ts = None
        self.fill_seq = 0
        if snap is None:
            return False
        completed = bool(snap.get("completed"))
        if completed and self.fresh_after_clean_stop:
            self.store.reset()
            return False
        stored = snap["runners"]
        unknown = sorted(set(stored) - set(self.runners))
        if unknown:  # the account key names the symbols, so this is a damaged store, not a changed config
            from tradewarden.persistence.runtime_store import StoredStateError

            raise StoredStateError(f"the stored session holds {', '.join(unknown)}, which this session does not "
                                   "trade")
        open_orders = [o for o in state.orders if not o.status.is_final]
        for symbol, runner in self.runners.items():
            part = stored.get(symbol)
            if part is None:
                continue
            mine = [o for o in open_orders if o.symbol == symbol]
            runner.engine.restore(part["engine"], mine, with_history=not completed)
            if isinstance(runner.venue, ExchangeVenue):
                for order in mine:
                    runner.venue.adopt(order, order.exchange_id)
            elif "venue" in part:
                runner.venue.restore(part["venue"])
            if "protection" in part and runner.protection is not None:
                runner.protection.restore(part["protection"])
        # each engine restored its cash rounded to its atoms: the ledger's exact cash is the portfolio's
        self.portfolio.cash_units = int(snap["cash_units"])
        if completed:
            with self.store.step() as w:
                w.delete_snapshots(SERIES_PREFIX)
                w.delete_snapshots(TRADES_PREFIX)
        else:
            for symbol, runner in self.runners.items():
                self.series[symbol].restore(state.snapshots, runner.engine)
            self.equity_series.restore(state.snapshots, self.equity)
            self.equity.exposed_steps = int(snap.get("exposed_steps", 0))
            self.candles_seen = sum(len(r.engine.candle_ts) for r in self.runners.values())
            recording = snap.get("recording")
            self.previous_recording = self.recording_path = Path(recording) if recording else None
            last = max(r.engine.last_ts for r in self.runners.values())
            self.resumed_after = last or None
            for name, part_state in self.parts.items():
                if name in snap:
                    part_state.restore(snap[name])
        self.started_ts = snap.get("started_ts")
        self.fill_seq = int(snap["fills"])
        last_candle = max(r.engine.last_ts for r in self.runners.values())
        self.events.emit(EventType.SESSION_RESUMED, self.clock_ms(), last_candle=last_candle,
                         open_orders=len(open_orders), fills=self.fill_seq, symbols=list(self.runners),
                         after_crash=not completed)
        if completed:
            self.say(f"carried over the account of the previous run with {len(open_orders)} open order(s)")
        else:
            self.say(f"resumed after candle {last_candle} with {len(open_orders)} open order(s)")
        return True

    def persist(self, ts: int) -> None:
        """One transaction: every runner's changed orders and new fills, the balances and the snapshot."""
        snap: dict[str, object] = {"completed": self.completed, "started_ts": self.started_ts,
                                   "recording": str(self.recording_path) if self.recording_path else None,
                                   "cash_units": self.portfolio.cash_units,
                                   "exposed_steps": self.equity.exposed_steps}
        runners: dict[str, dict[str, object]] = {}
        for name, component in self.parts.items():
            snap[name] = component.snapshot()
        with self.store.step() as w:
            for symbol, runner in self.runners.items():
                engine, venue = runner.engine, runner.venue
                orders, fills = engine.drain_changes()
                for order in orders:
                    w.save_order(order, ts)
                for fill in fills:
                    w.record_fill(fill, f"{fill.client_id}#{self.fill_seq}")
                    self.fill_seq += 1
                part: dict[str, object] = {"engine": engine.snapshot()}
                if not isinstance(venue, ExchangeVenue):
                    part["venue"] = venue.snapshot()
                if runner.protection is not None:
                    part["protection"] = runner.protection.snapshot()
                runners[symbol] = part
                self.series[symbol].save(w, engine, ts)
            self.equity_series.save(w, self.equity, ts)
            snap["runners"] = runners
            snap["fills"] = self.fill_seq
            if not self.live:
                pf = self.portfolio
                balances = {pf.quote: pf.cash}
                for runner in self.runners.values():
                    inst = runner.engine.instrument
                    balances[inst.base] = inst.from_steps(runner.engine.pos_steps)
                w.save_balances(balances, ts)
            w.save_snapshot(SNAPSHOT, snap, ts)

    def results(self) -> dict[str, SessionResults]:
        """The whole session's bars and trades per symbol and the portfolio's equity (key ``portfolio``), for
        the reports: from memory while the windows hold everything, else from the store (read once)."""
        loaded: list[Mapping[str, Mapping[str, object]]] = []

        def snapshots() -> Mapping[str, Mapping[str, object]]:
            if not loaded:
                loaded.append(self.store.load().snapshots)
            return loaded[0]

        out = {s: self.series[s].results(r.engine, snapshots) for s, r in self.runners.items()}
        out[PORTFOLIO] = self.equity_series.results(self.equity, snapshots)
        return out

    def persist_if_changed(self) -> None:
        if any(r.engine.changed for r in self.runners.values()):
            self.persist(max(r.engine.last_ts for r in self.runners.values()))

    def finish(self) -> None:
        last = max(r.engine.last_ts for r in self.runners.values())
        if last:
            self.started_ts = None
            self.completed = True
            self.persist(last)
