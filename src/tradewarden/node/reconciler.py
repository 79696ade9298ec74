"""The reconciler: the exchange's open orders and balances against the bot's books, at boot and every few
minutes (live). Anything unexplained halts new orders.

Its state is explicit: the debounce of the periodic reconciliation (:class:`ReconcileMemory`: a difference
seen for the first time may be an order that filled between our poll and the exchange's answer, so only one
seen again halts) and the exchange ids of the orders already there at boot (only later ones can be another
writer's). The debounce goes into the resume snapshot (:meth:`snapshot`, :meth:`restore`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Protocol

from tradewarden.domain.events import EventType
from tradewarden.domain.orders import Order, OrderSide, OrderStatus, OrderType
from tradewarden.domain.ports import EventSink
from tradewarden.engine.ids import CLIENT_ID_PREFIX
from tradewarden.node.runner import StrategyRunner
from tradewarden.risk import TradingState
from tradewarden.venues.exchange_state import ExchangeView
from tradewarden.venues.reconcile import (
    Mismatch,
    OpenOrderView,
    ReconcileMemory,
    foreign_orders,
    judge,
    reconcile,
)

#: reads the exchange's view of one symbol (open orders, balances, recent orders), retried
ReadView = Callable[[str], ExchangeView]
#: the last traded price of one symbol (to value an adopted position)
LastPrice = Callable[[str], Decimal]


class Halts(Protocol):
    """What the reconciler does to the risk book (:class:`tradewarden.risk.RiskManager`)."""

    def set_manual_state(self, ts: int, scope: str, state: TradingState, reason: str) -> None: ...


class OperatorRecord(Protocol):
    """Where an operator's ``--adopt`` is recorded (:class:`tradewarden.risk.account_audit.AccountAuditTrail`)."""

    def operator_action(self, ts: int, action: str, actor: str, **detail: object) -> None: ...


def _details(mismatches: tuple[Mismatch, ...] | list[Mismatch]) -> list[dict[str, object]]:
    return [{"kind": m.kind, "subject": m.subject, "ours": m.ours, "exchange": m.theirs,
             "suggestion": m.suggestion} for m in mismatches]


class Reconciler:
    def __init__(self, read_view: ReadView, last_price: LastPrice, risk: Halts, audit: OperatorRecord,
                 events: EventSink, clock_ms: Callable[[], int], *, adopt: bool,
                 say: Callable[[str], None] = print) -> None:
        self.read_view = read_view
        self.last_price = last_price
        self.risk = risk
        self.audit = audit
        self.events = events
        self.clock_ms = clock_ms
        self.adopt = adopt  # the operator's --adopt: take the exchange's view at boot
        self.say = say
        # per symbol: a session of several symbols reconciles each in turn, and one symbol's clean
        # reconciliations must not push another's first sighting of a difference out of the window
        self.memory: dict[str, ReconcileMemory] = {}
        # exchange ids of the orders there before this bot started (and of foreign ones already reported)
        self.orders_at_boot: set[str | None] = set()

    # -- state -----------------------------------------------------------------------------------------
    def snapshot(self) -> dict[str, object]:
        return {"by_symbol": {symbol: [sorted([kind, subject] for kind, subject in keys) for keys in memory.recent]
                              for symbol, memory in self.memory.items()}}

    def restore(self, state: Mapping[str, object]) -> None:
        by_symbol = state.get("by_symbol")
        if not isinstance(by_symbol, dict):
            return  # an older snapshot's one memory: start afresh (the debounce only delays a halt once)
        self.memory = {str(symbol): ReconcileMemory(tuple(
            frozenset((str(pair[0]), str(pair[1])) for pair in keys if isinstance(pair, list) and len(pair) == 2)
            for keys in recent if isinstance(keys, list))) for symbol, recent in by_symbol.items()
            if isinstance(recent, list)}

    # -- at boot ---------------------------------------------------------------------------------------
    def at_boot(self, runner: StrategyRunner, resumed: bool) -> None:
        """Compare the exchange with what this bot knows; anything unexplained halts new orders.

        A fresh bot knows of no open orders and no position, and trades from the account's quote balance. A
        resumed one first books what its adopted orders did while it was down, then expects its own open
        orders and its position (plus sub-step dust) on the exchange. With ``--adopt`` the operator takes the
        exchange's view: unknown open orders are taken over (their fills booked) and the base balance becomes
        the position.
        """
        engine = runner.engine
        inst = engine.instrument
        if resumed:
            runner.poll()
        view = self.read_view(inst.symbol)
        # orders already there are earlier runs' (or the operator's): only later ones can be another writer's
        self.orders_at_boot |= {o.exchange_id for o in view.recent_orders}  # every symbol's, in turn
        if not resumed:
            engine.cash_atoms = inst.to_atoms(view.balances.get(inst.quote, Decimal(0)))
        mismatches = differences(runner, view)
        now = self.clock_ms()
        if not mismatches:
            self.events.emit(EventType.RECONCILE_OK, now, open_orders=len(engine.open_orders),
                             balances={k: str(v) for k, v in view.balances.items()})
            return
        details = _details(mismatches)
        self.events.emit(EventType.RECONCILE_MISMATCH, now, adopted=self.adopt, mismatches=details)
        for m in mismatches:
            self.say(f"reconciliation: {m.describe()}")
        if self.adopt:
            from tradewarden.risk.account_audit import local_actor

            self.audit.operator_action(now, "adopt", local_actor(), mismatches=details)
            self._adopt_view(runner, view)
            self.risk.set_manual_state(now, "global", TradingState.ACTIVE, "operator adopted the exchange's view")
            return
        self.risk.set_manual_state(now, "global", TradingState.HALTED, "RECONCILE_MISMATCH: see events")
        self.events.emit(EventType.HALTED_OPS, now, reason="RECONCILE_MISMATCH",
                         what_to_do="resolve the differences on the exchange, or restart with --adopt "
                                    "to take the exchange's view")
        self.say("new orders are HALTED until the operator resolves this (or restarts with --adopt)")

    def _adopt_view(self, runner: StrategyRunner, view: ExchangeView) -> None:
        """The operator's ``--adopt``: take over unknown open orders and take the base balance as the position."""
        engine = runner.engine
        inst = engine.instrument
        for o in view.open_orders:
            if o.client_id in engine.open_orders or o.symbol != inst.symbol:
                continue
            kind = OrderType.STOP_LIMIT if o.stop_price is not None else OrderType.LIMIT
            order = Order(o.client_id, inst.symbol, OrderSide(o.side), kind, o.qty, price=o.price,
                          stop_price=o.stop_price, created_ts=engine.last_ts, filled_qty=o.filled,
                          status=OrderStatus.PARTIALLY_FILLED if o.filled else OrderStatus.ACCEPTED,
                          exchange_id=o.exchange_id)
            engine.adopt_order(order)
            if runner.exchange is not None:
                runner.exchange.adopt(order, o.exchange_id, resend_if_missing=False)
        held = view.balances.get(inst.base, Decimal(0))
        if held != engine.held:
            engine.adopt_position(engine.last_ts or self.clock_ms(), held, self.last_price(inst.symbol))

    # -- periodic --------------------------------------------------------------------------------------
    def periodic(self, runner: StrategyRunner) -> None:
        """Open orders and balances on the exchange against the bot's books, every few minutes; and the
        account's recent orders for another writer's under our client ids."""
        engine = runner.engine
        runner.poll()  # book what the venue knows first
        try:
            view = self.read_view(engine.instrument.symbol)
        except Exception as exc:  # the exchange may be unreachable: try again next time
            self.events.emit(EventType.RECONCILE_SKIPPED, self.clock_ms(), error=str(exc))
            return
        sent = runner.exchange.orders_sent if runner.exchange is not None else {}
        mismatches = foreign_orders(view.recent_orders, sent, self.orders_at_boot,
                                    CLIENT_ID_PREFIX) + differences(runner, view)
        symbol = engine.instrument.symbol
        verdict = judge(self.memory.get(symbol, ReconcileMemory()), mismatches)
        self.memory[symbol] = verdict.memory
        now = self.clock_ms()
        if not mismatches:
            ours = [o for o in engine.open_orders.values() if o.status is not OrderStatus.SUBMITTED]
            self.events.emit(EventType.RECONCILE_OK, now, open_orders=len(ours))
            return
        if verdict.suspect:
            # an order that filled between our poll and the exchange's answer looks like a difference for a
            # moment: one seen again within a few reconciliations halts the bot (reconcile.judge)
            self.events.emit(EventType.RECONCILE_SUSPECT, now, differences=sorted(f"{m.kind} {m.subject}"
                                                                         for m in verdict.suspect))
        if not verdict.confirmed:
            return
        details = _details(verdict.confirmed)
        if verdict.foreign:
            foreign = [d for d in details if d["kind"] == "FOREIGN_WRITER"]
            self.events.emit(EventType.FOREIGN_WRITER, now, orders=foreign)
            for m in verdict.foreign:
                self.say(f"reconciliation: {m.describe()}")
            # each foreign order is reported once; what it did to the balances stays a difference
            reported = {m.subject for m in verdict.foreign}
            self.orders_at_boot.update(o.exchange_id for o in view.recent_orders if o.client_id in reported)
        self.events.emit(EventType.RECONCILE_MISMATCH, now, adopted=False, mismatches=details)
        reason = "FOREIGN_WRITER" if verdict.foreign else "RECONCILE_MISMATCH"
        self.risk.set_manual_state(now, "global", TradingState.HALTED, f"{reason}: see events")
        self.events.emit(EventType.HALTED_OPS, now, reason=reason,
                         what_to_do="stop the other writer on this account (a second bot with this API key?), "
                                    "then restart with --adopt" if verdict.foreign else
                                    "resolve the differences on the exchange, or restart with --adopt")


def differences(runner: StrategyRunner, view: ExchangeView) -> list[Mismatch]:
    """Open orders and the base balance on the exchange against the bot's books."""
    engine = runner.engine
    inst = engine.instrument
    ours = [OpenOrderView(o.client_id, o.symbol, o.side.value, o.qty, o.filled_qty)
            for o in engine.open_orders.values() if o.status is not OrderStatus.SUBMITTED]
    # an order whose create has no answer yet is being resolved by the venue: neither side counts it
    unresolved = {o.client_id for o in engine.open_orders.values() if o.status is OrderStatus.SUBMITTED}
    theirs = [o for o in view.open_orders if o.client_id not in unresolved]
    return reconcile(ours, theirs, {inst.base: engine.held}, {inst.base: view.balances.get(inst.base, Decimal(0))},
                     {inst.base: inst.min_qty or inst.step_size})
