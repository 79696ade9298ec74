"""The state keeper: persists the session after every step (one transaction) and resumes it at boot.

What one step writes: the orders that changed, the new fills (keyed so a replayed step cannot book one twice),
the paper balances, the results so far (:mod:`tradewarden.runtime.series`) and the resume snapshot
``session``: the engine, the venue's simulated book, the position's protection, the run's progress
(``started_ts`` for ``--duration``, whether it stopped gracefully, its recording) and the state of every
registered :class:`~tradewarden.node.components.Stateful` component (the reconciler's debounce).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tradewarden.domain.events import EventType
from tradewarden.domain.ports import EventSink
from tradewarden.node.components import Stateful
from tradewarden.node.runner import StrategyRunner
from tradewarden.persistence.runtime_store import RuntimeStore
from tradewarden.runtime.series import SERIES_PREFIX, TRADES_PREFIX, SessionResults, SessionSeries
from tradewarden.venues.exchange import ExchangeVenue

SNAPSHOT = "session"


class StateKeeper:
    def __init__(self, store: RuntimeStore, events: EventSink, clock_ms: Callable[[], int], *, live: bool,
                 fresh_after_clean_stop: bool, say: Callable[[str], None] = print) -> None:
        self.store = store
        self.events = events
        self.clock_ms = clock_ms
        self.live = live  # a live account's balances are the exchange's, never written by us
        # the built-in simulator's market starts over with every run, so its paper account does too
        self.fresh_after_clean_stop = fresh_after_clean_stop
        self.say = say
        # the session's per-bar results and trades, kept in the store so a resumed session reports on all of it
        self.series = SessionSeries()
        self.started_ts: int | None = None  # market time this run's --duration counts from (kept over a crash)
        self.fill_seq = 0
        self.completed = False  # the session stopped gracefully: the next run carries the account over
        self.candles_seen = 0
        self.recording_path: Path | None = None       # the session's recording, kept in the resume snapshot
        self.previous_recording: Path | None = None   # after a crash: the recording of the process before
        self.resumed_after: int | None = None         # after a crash: the last candle the store holds
        self.parts: dict[str, Stateful] = {}          # components whose state rides in the snapshot

    def register(self, name: str, part: Stateful) -> None:
        self.parts[name] = part

    def resume(self, runner: StrategyRunner) -> bool:
        """Continue where a previous process of this account stopped (crash or not)."""
        engine, venue = runner.engine, runner.venue
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
        open_orders = [o for o in state.orders if not o.status.is_final]
        # after a crash everything continues exactly; after a clean stop the account carries over but the
        # strategy warms up on fresh history (never trading on candles that closed while the bot was away)
        engine.restore(snap["engine"], open_orders, with_history=not completed)
        if completed:  # a new run: its results start afresh
            with self.store.step() as w:
                w.delete_snapshots(SERIES_PREFIX)
                w.delete_snapshots(TRADES_PREFIX)
        else:  # the same session goes on: its results so far, its recording and its components' state too
            self.series.restore(state.snapshots, engine)
            self.candles_seen = len(engine.candle_ts)
            recording = snap.get("recording")
            self.previous_recording = self.recording_path = Path(recording) if recording else None
            self.resumed_after = engine.last_ts or None  # None: the crash came before the first candle
            for name, part in self.parts.items():
                if name in snap:
                    part.restore(snap[name])
        if isinstance(venue, ExchangeVenue):  # the exchange's orders are followed again by their ids
            for order in open_orders:
                venue.adopt(order, order.exchange_id)
        elif "venue" in snap:
            venue.restore(snap["venue"])
        if "protection" in snap and runner.protection is not None:
            runner.protection.restore(snap["protection"])
        self.started_ts = snap.get("started_ts")
        self.fill_seq = int(snap["engine"]["fills"])
        self.events.emit(EventType.SESSION_RESUMED, self.clock_ms(), last_candle=engine.last_ts,
                         open_orders=len(open_orders), fills=self.fill_seq, after_crash=not completed)
        if completed:
            self.say(f"carried over the account of the previous run with {len(open_orders)} open order(s)")
        else:
            self.say(f"resumed after candle {engine.last_ts} with {len(open_orders)} open order(s)")
        return True

    def persist(self, runner: StrategyRunner, ts: int) -> None:
        """One transaction: changed orders, new fills, paper balances and the resume snapshot."""
        engine, venue = runner.engine, runner.venue
        orders, fills = engine.drain_changes()
        inst = engine.instrument
        snap: dict[str, object] = {"completed": self.completed, "started_ts": self.started_ts,
                                   "recording": str(self.recording_path) if self.recording_path else None}
        engine_snap = engine.snapshot()
        if not isinstance(venue, ExchangeVenue):  # the simulated book of paper and shadow
            snap["venue"] = venue.snapshot()
        if runner.protection is not None:
            snap["protection"] = runner.protection.snapshot()
        for name, part in self.parts.items():
            snap[name] = part.snapshot()
        with self.store.step() as w:
            for order in orders:
                w.save_order(order, ts)
            for fill in fills:
                w.record_fill(fill, f"{fill.client_id}#{self.fill_seq}")
                self.fill_seq += 1
            engine_snap["fills"] = self.fill_seq
            snap["engine"] = engine_snap
            self.series.save(w, engine, ts)
            if not self.live:
                w.save_balances({inst.quote: inst.from_atoms(engine.cash_atoms),
                                 inst.base: inst.from_steps(engine.pos_steps)}, ts)
            w.save_snapshot(SNAPSHOT, snap, ts)

    def results(self, runner: StrategyRunner) -> SessionResults:
        """The whole session's bars and trades for its reports (the engine holds only the newest)."""
        return self.series.results(runner.engine, lambda: self.store.load().snapshots)

    def persist_if_changed(self, runner: StrategyRunner) -> None:
        if runner.engine.changed:  # a fill changes its order too
            self.persist(runner, runner.engine.last_ts)

    def finish(self, runner: StrategyRunner) -> None:
        """A graceful stop: the account carries over, the next run starts a new --duration window."""
        if runner.engine.last_ts:
            self.started_ts = None
            self.completed = True
            self.persist(runner, runner.engine.last_ts)
