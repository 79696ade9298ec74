"""The ccxt exchange venue against the simulator through unmodified sync ccxt (stepped clock).

Each test asserts on the simulator's own records (``allOrders`` read by a second, fault-free client, and
``/_sim/state``) that there is exactly one order per client id, besides what the venue reported.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import ccxt
import pytest

from tradewarden.data.retry import RetryPolicy
from tradewarden.domain.instrument import Instrument
from tradewarden.domain.orders import Order, OrderSide, OrderStatus, OrderType
from tradewarden.domain.ports import OrderUpdate, Venue
from tradewarden.engine.engine import Engine, EngineSettings
from tradewarden.simulator.testing import SimulatorHandle, start_simulator
from tradewarden.strategies.registry import strategy_class
from tradewarden.venues.exchange import ExchangeVenue

SYMBOL = "BTC/USDT"
D = Decimal
TIMEOUT_MS = 1000     # ccxt's request timeout in these tests
RECV_WINDOW = 2000    # so the venue's "surely not arrived" wait is 2 + 1 + 0.5 s


class Events:
    def __init__(self) -> None:
        self.events: list[tuple[str, int, dict[str, Any]]] = []

    def emit(self, type_: str, ts: int, **fields: Any) -> None:
        self.events.append((type_, ts, fields))

    def of(self, type_: str) -> list[dict[str, Any]]:
        return [f for t, _, f in self.events if t == type_]


@pytest.fixture
def sim() -> Iterator[SimulatorHandle]:
    with start_simulator(seed=1, start_index=100, balances={"USDT": "10000", "BTC": "0.5"}) as handle:
        yield handle


@pytest.fixture
def thin_sim() -> Iterator[SimulatorHandle]:
    """One order fills at most 2e-7 of a candle's volume per candle (about 0.0005-0.003 BTC here)."""
    with start_simulator(seed=1, start_index=100, balances={"USDT": "10000", "BTC": "0.5"},
                         volume_share="0.0000002") as handle:
        yield handle


def client(sim: SimulatorHandle) -> Any:
    config = sim.ccxt_config()
    config["timeout"] = TIMEOUT_MS
    config["options"] = {**config["options"], "recvWindow": RECV_WINDOW}
    exchange = ccxt.binance(config)
    exchange.load_markets()
    return exchange


class Clock:
    """The venue's monotonic clock, moved by the test: the receive window passes without anyone waiting."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_venue(sim: SimulatorHandle, events: Events, max_resends: int = 2,
               monotonic: Callable[[], float] = time.monotonic) -> ExchangeVenue:
    exchange = client(sim)
    policy = RetryPolicy(sink=events, exchange=exchange, base_s=0.05, cap_s=0.2, max_attempts=4, max_total_s=10)
    return ExchangeVenue(exchange, Instrument.default_spot(SYMBOL), events, clock=sim.now_ms,
                         max_resends=max_resends, retry=policy, reader=client(sim), monotonic=monotonic)


def order(cid: str, side: str = "buy", qty: str = "0.01", price: str | None = None,
          status: OrderStatus = OrderStatus.SUBMITTED) -> Order:
    o = Order(cid, SYMBOL, OrderSide(side), OrderType.LIMIT if price else OrderType.MARKET, D(qty),
              price=D(price) if price else None)
    if status is not OrderStatus.NEW:
        o.transition(OrderStatus.SUBMITTED)  # the engine does this before submit
    if status not in (OrderStatus.NEW, OrderStatus.SUBMITTED):
        o.transition(status)
    return o


def orders_on_exchange(sim: SimulatorHandle) -> Counter[str]:
    """Every order the simulator holds, counted per client id (a fresh client: no fault touches it)."""
    observer = ccxt.binance(sim.ccxt_config())
    return Counter(o["clientOrderId"] for o in observer.fetch_orders(SYMBOL, limit=1000))


def exchange_order(sim: SimulatorHandle, cid: str) -> dict[str, Any]:
    observer = ccxt.binance(sim.ccxt_config())
    found: dict[str, Any] = observer.fetch_order(None, SYMBOL, {"origClientOrderId": cid})
    return found


def prices(sim: SimulatorHandle) -> tuple[D, D]:
    ticker = ccxt.binance(sim.ccxt_config()).fetch_ticker(SYMBOL)
    return D(ticker["info"]["bidPrice"]), D(ticker["info"]["askPrice"])


def statuses(updates: list[OrderUpdate], cid: str) -> list[str]:
    return [u.status for u in updates if u.client_id == cid]


def fills(updates: list[OrderUpdate], cid: str | None = None) -> list[Any]:
    return [u.fill for u in updates if u.fill is not None and (cid is None or u.client_id == cid)]


# -- orders and fills --------------------------------------------------------------------------------
def test_the_venue_is_a_venue(sim: SimulatorHandle) -> None:
    assert isinstance(make_venue(sim, Events()), Venue)


def test_market_order_fills_exactly_from_the_exchange_trade_records(sim: SimulatorHandle) -> None:
    events = Events()
    venue = make_venue(sim, events)
    placed = order("tw-m1", qty="0.01234")
    placed.created_ts = 1_712_000_000_000  # the close of the candle it was decided on
    venue.submit(placed)
    updates = list(venue.poll())
    assert statuses(updates, "tw-m1") == ["accepted", "filled"]
    (fill,) = fills(updates)
    (trade,) = sim.state()["fills"]
    assert str(trade["orderId"]) == exchange_order(sim, "tw-m1")["id"]
    assert fill.qty == D("0.01234") == D(trade["qty"])
    assert fill.price == D(trade["price"]) and fill.side is OrderSide.BUY and fill.liquidity == "taker"
    # a buy pays its fee in BTC: the fill carries its exact quote value, the venue counts the BTC withheld
    assert trade["commissionAsset"] == "BTC"
    assert fill.fee == D(trade["commission"]) * D(trade["price"]) and fill.fee > 0
    assert fill.fee_base == D(trade["commission"]) == venue.base_fees
    (raw,) = events.of("ExchangeFill")
    assert raw["trade_id"] == str(trade["id"]) and raw["fee_asset"] == "BTC"
    # the exchange's answer to the create is recorded: where the candle-close-to-acknowledged latency ends
    (ack,) = events.of("OrderAcknowledged")
    assert ack["exchange_id"] == exchange_order(sim, "tw-m1")["id"] and ack["decided_ts"] == 1_712_000_000_000
    assert orders_on_exchange(sim) == Counter({"tw-m1": 1})
    assert venue.poll() == [] and venue.open_client_ids == []


def test_a_sell_pays_its_fee_in_quote_as_is(sim: SimulatorHandle) -> None:
    venue = make_venue(sim, Events())
    venue.submit(order("tw-s1", side="sell", qty="0.1"))
    (fill,) = fills(list(venue.poll()))
    (trade,) = sim.state()["fills"]
    assert trade["commissionAsset"] == "USDT" and fill.fee == D(trade["commission"])
    assert fill.fee_base == 0 and venue.base_fees == 0


def test_limit_order_rests_with_our_client_id_then_fills_as_maker(sim: SimulatorHandle) -> None:
    venue = make_venue(sim, Events())
    bid, _ = prices(sim)
    price = (bid * D("0.998")).quantize(D("0.01"))
    venue.submit(order("tw-l1", qty="0.002", price=str(price)))
    assert statuses(list(venue.poll()), "tw-l1") == ["accepted"]
    resting = exchange_order(sim, "tw-l1")
    assert resting["status"] == "open" and resting["info"]["price"].startswith(str(price))
    booked: list[Any] = []
    for _ in range(48):
        sim.step()
        booked += fills(list(venue.poll()))
        if booked:
            break
    assert [f.qty for f in booked] == [D("0.002")] and booked[0].price == price
    assert booked[0].liquidity == "maker"
    assert orders_on_exchange(sim) == Counter({"tw-l1": 1})


def test_the_engine_books_the_venue_fills(sim: SimulatorHandle) -> None:
    events = Events()
    venue = make_venue(sim, events)
    inst = Instrument.default_spot(SYMBOL)
    engine = Engine(strategy_class("sma_cross")(), inst, venue, events, EngineSettings(), D("10000"))
    o = order("tw-e1", qty="0.005", status=OrderStatus.NEW)
    assert engine.place(o, D("30000"))
    engine.apply_updates(venue.poll(), 0)
    assert o.status is OrderStatus.FILLED and o.filled_qty == D("0.005") and o.exchange_id is not None
    (trade,) = sim.state()["fills"]
    notional = D(trade["price"]) * D("0.005")
    withheld = D(trade["commission"])  # the buy's fee, in BTC
    assert withheld > 0
    # the account holds what was bought less the fee: whole lot steps the bot can sell, the rest dust
    assert engine.position.qty == D("0.005") - withheld
    assert inst.from_steps(engine.pos_steps) + engine.base_dust == D("0.005") - withheld
    assert inst.from_atoms(engine.cash_atoms) == D("10000") - notional  # no quote fee was paid
    assert inst.from_atoms(engine.fees_atoms) == inst.from_atoms(inst.to_atoms(withheld * D(trade["price"])))


def test_partial_fills_over_several_candles_are_each_booked_once(thin_sim: SimulatorHandle) -> None:
    sim = thin_sim
    venue = make_venue(sim, Events())
    _, ask = prices(sim)
    price = (ask * D("1.05")).quantize(D("0.01"))  # marketable, and stays so: fills whenever volume allows
    venue.submit(order("tw-p1", qty="0.006", price=str(price)))
    updates = list(venue.poll())
    candles = 0
    while sum(f.qty for f in fills(updates)) < D("0.006") and candles < 20:
        sim.step()
        candles += 1
        updates += venue.poll()
        updates += venue.poll()  # polling again finds nothing new
    booked = fills(updates)
    trades = sim.state()["fills"]
    assert candles >= 2 and len(booked) == len(trades) >= 3
    assert sorted(f.qty for f in booked) == sorted(D(t["qty"]) for t in trades)
    assert sum(f.qty for f in booked) == D("0.006")
    assert statuses(updates, "tw-p1")[0] == "accepted"
    assert statuses(updates, "tw-p1")[1:-1] == ["partially_filled"] * (len(booked) - 1)
    assert statuses(updates, "tw-p1")[-1] == "filled"
    sim.step()
    assert venue.poll() == [] and venue.open_client_ids == []


def test_a_market_remainder_that_expires_reports_the_fill_then_expired(sim: SimulatorHandle) -> None:
    sim.inject("partial_fills")
    venue = make_venue(sim, Events())
    venue.submit(order("tw-x1", qty="0.01"))
    updates = list(venue.poll())
    assert statuses(updates, "tw-x1") == ["accepted", "partially_filled", "expired"]
    assert fills(updates)[0].qty == D("0.005")
    assert "0.005" in updates[-1].reason and updates[-1].fill is None


# -- the ambiguous create ----------------------------------------------------------------------------
@pytest.mark.parametrize(("mode", "error"), [("timeout", "RequestTimeout"), ("error", "ExchangeNotAvailable")])
def test_an_order_accepted_while_its_answer_is_lost_is_found_not_resent(
        sim: SimulatorHandle, mode: str, error: str) -> None:
    events = Events()
    venue = make_venue(sim, events)
    sim.inject("ambiguous_order", mode=mode, delay_ms=TIMEOUT_MS + 1500)
    venue.submit(order("tw-a1"))
    updates = list(venue.poll())
    assert statuses(updates, "tw-a1") == ["accepted", "filled"]
    assert [e["error"] for e in events.of("OrderAmbiguous")] == [error]
    assert len(events.of("OrderResolved")) == 1 and events.of("OrderResent") == []
    assert orders_on_exchange(sim) == Counter({"tw-a1": 1}) and sim.state()["orders"] == 1


def test_an_order_that_never_arrived_is_resent_with_the_same_id_at_a_scheduled_recheck(
        sim: SimulatorHandle) -> None:
    """A lookup that misses is not final while the request could still land: the order stays SUBMITTED, the
    venue says when to look again, and nothing is resent (nor waited for) before then."""
    events = Events()
    clock = Clock()
    venue = make_venue(sim, events, monotonic=clock)
    sim.inject("server_errors", count=1, status=502, path="/api/v3/order")  # refused before the matching engine
    venue.submit(order("tw-r1"))
    assert list(venue.poll()) == [] and events.of("OrderResent") == []
    assert venue.recheck_in() == (RECV_WINDOW + 1000) / 1000 + 0.5
    clock.now += 1.0
    assert list(venue.poll()) == [] and events.of("OrderResent") == []   # not due yet: no request at all
    clock.now += (RECV_WINDOW + 1000) / 1000
    updates = list(venue.poll())
    assert statuses(updates, "tw-r1") == ["accepted", "filled"]
    assert [e["attempt"] for e in events.of("OrderResent")] == [2] and venue.recheck_in() is None
    assert orders_on_exchange(sim) == Counter({"tw-r1": 1})


def arrive_late(sim: SimulatorHandle, cid: str, price: str | None, stale_lookup: bool = False) -> None:
    """The lost request reaches the matching engine after all (placed with the same client id by another
    connection), and optionally the next lookup misses it."""
    late = client(sim)
    late.create_order(SYMBOL, "limit" if price else "market", "buy", "0.01", price, {"newClientOrderId": cid})
    if stale_lookup:
        sim.inject("http_error", status=400, code=-2013, msg="Order does not exist.", path="/api/v3/order")


def test_a_late_arrival_is_waited_for_and_not_duplicated(sim: SimulatorHandle) -> None:
    """The request reaches the matching engine after a first lookup missed it: the venue looks again only once
    the request is too old to be accepted, so it finds it instead of sending a second one."""
    events = Events()
    clock = Clock()
    venue = make_venue(sim, events, monotonic=clock)
    sim.inject("server_errors", count=1, status=503, path="/api/v3/order")
    venue.submit(order("tw-late"))
    assert list(venue.poll()) == []
    arrive_late(sim, "tw-late", None)
    clock.now += venue.recheck_in() or 0.0
    updates = list(venue.poll())
    assert statuses(updates, "tw-late") == ["accepted", "filled"]
    assert events.of("OrderResent") == [] and len(events.of("OrderResolved")) == 1
    assert orders_on_exchange(sim) == Counter({"tw-late": 1})


def test_a_resend_refused_as_duplicate_is_resolved_by_lookup(sim: SimulatorHandle) -> None:
    """The first send lands late and a stale lookup misses it: the resend is refused as a duplicate."""
    events = Events()
    clock = Clock()
    bid, _ = prices(sim)
    price = str((bid * D("0.9")).quantize(D("0.01")))
    venue = make_venue(sim, events, monotonic=clock)
    sim.inject("server_errors", count=1, status=503, path="/api/v3/order")
    venue.submit(order("tw-d1", price=price))
    assert list(venue.poll()) == []
    arrive_late(sim, "tw-d1", price, stale_lookup=True)
    clock.now += venue.recheck_in() or 0.0
    updates = list(venue.poll())
    assert statuses(updates, "tw-d1") == ["accepted"]
    assert len(events.of("OrderResent")) == 1
    assert [e["error"] for e in events.of("OrderAmbiguous")] == ["ExchangeNotAvailable", "duplicate"]
    assert orders_on_exchange(sim) == Counter({"tw-d1": 1})
    assert [o["clientOrderId"] for o in sim.state()["open_orders"]] == ["tw-d1"]


def test_an_order_that_keeps_not_arriving_is_rejected_after_max_resends(sim: SimulatorHandle) -> None:
    events = Events()
    clock = Clock()
    venue = make_venue(sim, events, max_resends=0, monotonic=clock)
    sim.inject("server_errors", count=1, status=503, path="/api/v3/order")
    venue.submit(order("tw-n1"))
    assert list(venue.poll()) == []
    clock.now += venue.recheck_in() or 0.0
    (update,) = venue.poll()
    assert update.status == "rejected" and "never reached the exchange after 1 sends" in update.reason
    assert "ExchangeNotAvailable" in update.reason
    assert orders_on_exchange(sim) == Counter()


# -- rejections --------------------------------------------------------------------------------------
@pytest.mark.parametrize(("code", "msg", "reason"), [
    (-2010, "Account has insufficient balance for requested action.", "insufficient balance"),
    (-1013, "Filter failure: LOT_SIZE", "exchange filter failure"),
    (-1021, "Timestamp for this request is outside of the recvWindow.", "request timestamp refused"),
    (-2015, "Invalid API-key, IP, or permissions for action.", "not authorised"),
])
def test_a_refused_order_is_rejected_with_a_clear_reason(
        sim: SimulatorHandle, code: int, msg: str, reason: str) -> None:
    events = Events()
    venue = make_venue(sim, events)
    sim.inject("reject_next_order", code=code, msg=msg, status=401 if code == -2015 else 400)
    venue.submit(order("tw-j1"))
    (update,) = venue.poll()
    assert update.status == "rejected" and update.reason.startswith(reason)
    assert str(code) in update.reason and msg in update.reason
    assert orders_on_exchange(sim) == Counter() and events.of("OrderResent") == []


def test_natural_refusals_name_the_cause(sim: SimulatorHandle) -> None:
    venue = make_venue(sim, Events())
    venue.submit(order("tw-big", qty="5"))             # 5 BTC for 10 000 USDT
    venue.submit(order("tw-tiny", qty="0.00001"))      # below the 5 USDT notional
    by_id = {u.client_id: u for u in venue.poll()}
    assert by_id["tw-big"].status == "rejected" and by_id["tw-big"].reason.startswith("insufficient balance")
    assert by_id["tw-tiny"].status == "rejected" and "NOTIONAL" in by_id["tw-tiny"].reason
    assert orders_on_exchange(sim) == Counter()


def test_a_clock_offset_rejects_one_order_then_the_venue_resyncs(sim: SimulatorHandle) -> None:
    events = Events()
    venue = make_venue(sim, events)
    sim.inject("clock_skew", ms=-5000)  # the exchange's clock 5 s behind ours: our timestamps look ahead
    venue.submit(order("tw-c1"))
    venue.submit(order("tw-c2"))
    updates = list(venue.poll())
    assert statuses(updates, "tw-c1") == ["rejected"] and "-1021" in updates[0].reason
    assert statuses(updates, "tw-c2") == ["accepted", "filled"]
    assert len(events.of("ClockResynced")) == 1
    sim.inject("clock_skew", ms=0)  # for the observer, which never resynced
    assert orders_on_exchange(sim) == Counter({"tw-c2": 1})


# -- cancelling --------------------------------------------------------------------------------------
def test_cancel_by_exchange_id_releases_the_order(sim: SimulatorHandle) -> None:
    venue = make_venue(sim, Events())
    bid, _ = prices(sim)
    o = order("tw-k1", price=str((bid * D("0.9")).quantize(D("0.01"))))
    venue.submit(o)
    venue.poll()
    venue.cancel("tw-k1")
    updates = list(venue.poll())
    assert statuses(updates, "tw-k1") == ["cancelled"] and updates[0].reason == "cancelled on request"
    assert exchange_order(sim, "tw-k1")["status"] == "canceled" and sim.state()["open_orders"] == []
    assert sim.state()["balances"]["USDT"]["locked"] in ("0", "0E-8", "0.00000000")


def test_cancel_by_client_id_when_the_exchange_id_is_unknown(sim: SimulatorHandle) -> None:
    """An order from before a restart whose answer was lost: cancelled by client id, found and cancelled."""
    bid, _ = prices(sim)
    price = str((bid * D("0.9")).quantize(D("0.01")))
    client(sim).create_order(SYMBOL, "limit", "buy", "0.01", price, {"newClientOrderId": "tw-k2"})
    venue = make_venue(sim, Events())
    venue.adopt(order("tw-k2", price=price), None)
    venue.cancel("tw-k2")
    updates = list(venue.poll())
    assert statuses(updates, "tw-k2") == ["accepted", "cancelled"]
    assert exchange_order(sim, "tw-k2")["status"] == "canceled"
    assert orders_on_exchange(sim) == Counter({"tw-k2": 1})


def test_cancel_while_the_create_is_unresolved_withdraws_it(sim: SimulatorHandle) -> None:
    """The create got a 5xx and every lookup failed; the caller cancels: once the exchange surely does not
    have it, it is withdrawn (never resent)."""
    events = Events()
    clock = Clock()
    venue = make_venue(sim, events, monotonic=clock)
    sim.inject("server_errors", count=8, path="/api/v3/order")
    venue.submit(order("tw-k3"))
    assert venue.open_client_ids == ["tw-k3"] and events.of("VenueError")
    sim.clear_faults()
    venue.cancel("tw-k3")
    assert list(venue.poll()) == []  # not withdrawn while the create could still land
    clock.now += venue.recheck_in() or 0.0
    updates = list(venue.poll())
    assert statuses(updates, "tw-k3") == ["cancelled"]
    assert updates[0].reason == "withdrawn: it never reached the exchange"
    assert events.of("OrderResent") == [] and orders_on_exchange(sim) == Counter()


def test_cancel_of_an_order_placed_by_someone_else_goes_by_client_id(sim: SimulatorHandle) -> None:
    venue = make_venue(sim, Events())
    bid, _ = prices(sim)
    client(sim).create_order(SYMBOL, "limit", "buy", "0.001", str((bid * D("0.9")).quantize(D("0.01"))),
                             {"newClientOrderId": "manual-1"})
    venue.cancel("manual-1")
    assert venue.poll() == [] and exchange_order(sim, "manual-1")["status"] == "canceled"


def test_cancel_of_an_order_that_just_filled_reports_the_fill_not_a_cancel(sim: SimulatorHandle) -> None:
    venue = make_venue(sim, Events())
    bid, _ = prices(sim)
    price = (bid * D("0.998")).quantize(D("0.01"))
    venue.submit(order("tw-f1", qty="0.002", price=str(price)))
    assert statuses(list(venue.poll()), "tw-f1") == ["accepted"]
    for _ in range(48):  # the bot does not look while the market reaches the price
        sim.step()
        if exchange_order(sim, "tw-f1")["status"] == "closed":
            break
    venue.cancel("tw-f1")
    updates = list(venue.poll())
    assert statuses(updates, "tw-f1") == ["filled"]
    assert fills(updates)[0].qty == D("0.002") and fills(updates)[0].price == price
    assert venue.open_client_ids == []


def test_cancel_of_a_partly_filled_order_books_the_fills_before_the_cancel(thin_sim: SimulatorHandle) -> None:
    sim = thin_sim
    venue = make_venue(sim, Events())
    _, ask = prices(sim)
    venue.submit(order("tw-pc", qty="0.05", price=str((ask * D("1.05")).quantize(D("0.01")))))
    sim.step()
    venue.cancel("tw-pc")
    updates = list(venue.poll())
    kinds = statuses(updates, "tw-pc")
    assert kinds[0] == "accepted" and kinds[-1] == "cancelled" and set(kinds[1:-1]) == {"partially_filled"}
    total = sum(D(t["qty"]) for t in sim.state()["fills"])
    assert 0 < sum(f.qty for f in fills(updates)) == total < D("0.05")


def test_a_cancel_whose_fills_cannot_be_read_yet_ends_once_they_are(thin_sim: SimulatorHandle) -> None:
    sim = thin_sim
    events = Events()
    venue = make_venue(sim, events)
    _, ask = prices(sim)
    venue.submit(order("tw-pc2", qty="0.05", price=str((ask * D("1.05")).quantize(D("0.01")))))
    first = fills(list(venue.poll()))
    sim.step()  # more of it fills
    sim.inject("server_errors", count=50, path="/api/v3/myTrades")
    venue.cancel("tw-pc2")
    assert venue.poll() == []  # cancelled, but its latest fills are unreadable: no end reported yet
    assert exchange_order(sim, "tw-pc2")["status"] == "canceled" and events.of("VenueError")
    sim.clear_faults()
    updates = list(venue.poll())
    assert statuses(updates, "tw-pc2") == ["partially_filled", "cancelled"]
    assert updates[-1].reason == "cancelled on request"
    assert sum(f.qty for f in first + fills(updates)) == sum(D(t["qty"]) for t in sim.state()["fills"])
    assert [e["call"] for e in events.of("VenueError")] == ["cancel", "poll"]


# -- restart -----------------------------------------------------------------------------------------
def test_restart_adopts_orders_and_picks_up_what_happened_while_down(thin_sim: SimulatorHandle) -> None:
    sim = thin_sim
    _, ask = prices(sim)
    high = str((ask * D("1.05")).quantize(D("0.01")))
    first = make_venue(sim, Events())
    working = order("tw-w1", qty="0.006", price=high)
    first.submit(working)
    booked_before = fills(list(first.poll()))
    assert booked_before  # part of it filled at once; the process then dies with the rest working
    working.filled_qty = sum((f.qty for f in booked_before), D(0))
    working.transition(OrderStatus.PARTIALLY_FILLED)
    # a second order was sent and placed, but the answer was lost in the crash (intent stored, no id)
    client(sim).create_order(SYMBOL, "limit", "buy", "0.002", high, {"newClientOrderId": "tw-lost"})
    # a third intent was stored but the process died before sending it
    sim.step(3)  # the market moves on while the bot is down

    events = Events()
    clock = Clock()
    second = make_venue(sim, events, monotonic=clock)
    second.adopt(working, working.exchange_id)
    second.adopt(order("tw-lost", qty="0.002", price=high), None)
    second.adopt(order("tw-never", qty="0.0002"), None)
    updates = list(second.poll())
    assert "tw-never" not in {u.client_id for u in updates}  # not resent while a request could still land
    clock.now += second.recheck_in() or 0.0
    updates += second.poll()

    trades = sim.state()["fills"]
    by_order: dict[str, D] = {}
    for t in trades:
        by_order[str(t["orderId"])] = by_order.get(str(t["orderId"]), D(0)) + D(t["qty"])
    new_w1 = sum((f.qty for f in fills(updates, "tw-w1")), D(0))
    assert new_w1 > 0 and working.filled_qty + new_w1 == by_order[str(working.exchange_id)]
    assert statuses(updates, "tw-lost")[0] == "accepted"
    assert statuses(updates, "tw-never")[:2] == ["accepted", "filled"]
    assert sum(f.qty for f in fills(updates, "tw-lost")) == by_order[exchange_order(sim, "tw-lost")["id"]]
    assert orders_on_exchange(sim) == Counter({"tw-w1": 1, "tw-lost": 1, "tw-never": 1})
    assert len(events.of("OrderResent")) == 1  # only the one that never left
    # every trade booked exactly once over both processes
    ids = [f["trade_id"] for f in events.of("ExchangeFill")]
    assert len(ids) == len(set(ids)) == len(trades) - len(booked_before)


def test_adopted_order_with_stored_trade_ids_skips_exactly_those(thin_sim: SimulatorHandle) -> None:
    sim = thin_sim
    _, ask = prices(sim)
    first_events = Events()
    first = make_venue(sim, first_events)
    working = order("tw-t1", qty="0.006", price=str((ask * D("1.05")).quantize(D("0.01"))))
    first.submit(working)
    before = fills(list(first.poll()))
    working.filled_qty = sum((f.qty for f in before), D(0))
    sim.step()
    second_events = Events()
    second = make_venue(sim, second_events)
    second.adopt(working, working.exchange_id, trade_ids=[e["trade_id"] for e in first_events.of("ExchangeFill")])
    after = fills(list(second.poll()))
    assert after and working.filled_qty + sum(f.qty for f in after) == sum(
        D(t["qty"]) for t in sim.state()["fills"])


def test_an_adopted_intent_that_never_left_is_not_resent_when_told_so(sim: SimulatorHandle) -> None:
    clock = Clock()
    venue = make_venue(sim, Events(), monotonic=clock)
    venue.adopt(order("tw-stale"), None, resend_if_missing=False)
    assert venue.poll() == []
    clock.now += venue.recheck_in() or 0.0
    (update,) = venue.poll()
    assert update.status == "rejected" and "not resent" in update.reason
    assert orders_on_exchange(sim) == Counter()


# -- errors while polling ----------------------------------------------------------------------------
def test_poll_errors_never_crash_the_venue_nor_lose_a_fill(thin_sim: SimulatorHandle) -> None:
    sim = thin_sim
    events = Events()
    venue = make_venue(sim, events)
    _, ask = prices(sim)
    venue.submit(order("tw-q1", qty="0.006", price=str((ask * D("1.05")).quantize(D("0.01")))))
    updates = list(venue.poll())
    sim.step()
    sim.inject("rate_limit", count=1, retry_after=1)
    updates += venue.poll()  # the policy waits the retry-after and carries on
    assert any(e["error"] == "DDoSProtection" and e["wait_s"] >= 1 for e in events.of("ExchangeRetry"))
    sim.step()
    sim.inject("server_errors", count=50, path="/api/v3/")
    assert venue.poll() == []  # a 5xx burst longer than the policy's patience: nothing, and no crash
    assert events.of("VenueError") and events.of("ExchangeGaveUp")
    sim.clear_faults()
    for _ in range(20):
        updates += venue.poll()
        if sum(f.qty for f in fills(updates)) == D("0.006"):
            break
        sim.step()
    trades = sim.state()["fills"]
    booked = fills(updates)
    assert sorted(f.qty for f in booked) == sorted(D(t["qty"]) for t in trades)
    assert sum(f.qty for f in booked) == D("0.006") and statuses(updates, "tw-q1")[-1] == "filled"
    ids = [e["trade_id"] for e in events.of("ExchangeFill")]
    assert len(ids) == len(set(ids)) == len(trades)
    assert orders_on_exchange(sim) == Counter({"tw-q1": 1})


def test_a_duplicate_submit_of_the_same_client_id_sends_nothing(sim: SimulatorHandle) -> None:
    venue = make_venue(sim, Events())
    o = order("tw-once")
    venue.submit(o)
    venue.submit(o)
    assert statuses(list(venue.poll()), "tw-once") == ["accepted", "filled"]
    assert orders_on_exchange(sim) == Counter({"tw-once": 1})


def test_errors_and_events_never_carry_request_signatures(sim: SimulatorHandle) -> None:
    events = Events()
    venue = make_venue(sim, events)
    sim.inject("slow_responses", delay_ms=TIMEOUT_MS + 300, path="/api/v3/order")
    venue.submit(order("tw-sig"))
    venue.poll()
    text = repr(events.events)
    assert "signature=" not in text and sim.secret not in text and sim.api_key not in text
