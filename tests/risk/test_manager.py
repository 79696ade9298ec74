"""The RiskManager around the rules: events, audit records, breakers, states, kill switch, stages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tradewarden.domain.orders import OrderSide, OrderStatus
from tradewarden.domain.portfolio import Fill, Position
from tradewarden.risk import GLOBAL, AuditTrail, RiskManager, TradingState, verify_audit

from .conftest import INSTRUMENT, SYMBOL, MemoryEvents, dec, make_config, make_ctx, make_order

MIN = 60_000
DAY = 86_400_000


def manager(events: MemoryEvents, audit: AuditTrail | None = None, **cfg: Any) -> RiskManager:
    return RiskManager(make_config(**cfg), events, audit=audit, instruments={SYMBOL: INSTRUMENT})


def read_audit(path: Path) -> list[dict[str, Any]]:
    import json

    return [json.loads(line) for line in path.read_text().splitlines()]


# -- the gate ------------------------------------------------------------------------------------------
def test_denial_emits_event_and_audit(events: MemoryEvents, tmp_path: Path) -> None:
    with AuditTrail(tmp_path / "audit.jsonl") as audit:
        rm = manager(events, audit, max_trades_per_day=1)
        assert rm.check(make_order(cid="a"), make_ctx(ts=1000)).approved
        result = rm.check(make_order(cid="b"), make_ctx(ts=2000))
    assert not result.approved and result.reason_code == "MAX_TRADES_PER_DAY"
    assert events.of("OrderDenied") == [
        {
            "client_id": "b",
            "symbol": SYMBOL,
            "side": "buy",
            "qty": dec(1),
            "reason_code": "MAX_TRADES_PER_DAY",
            "message": result.message,
        }
    ]
    records = read_audit(tmp_path / "audit.jsonl")
    assert [r["type"] for r in records] == ["TRADE_APPROVED", "TRADE_REJECTED"]
    assert records[1]["reason_code"] == "MAX_TRADES_PER_DAY" and records[1]["client_id"] == "b"
    assert rm.counters.as_dict()["denials"] == {"MAX_TRADES_PER_DAY": 1}
    assert rm.counters.approved == 1
    assert verify_audit(tmp_path / "audit.jsonl").ok


def test_approval_returns_resized_copy(events: MemoryEvents) -> None:
    rm = manager(events, risk_per_trade_pct=1, max_position_notional=1500)
    order = make_order(qty="0.5", stop_loss="98")
    result = rm.check(order, make_ctx())
    assert result.approved and result.order is not None
    assert result.order.qty == dec("15.000") and order.qty == dec("0.5")
    assert result.order.status is OrderStatus.NEW  # the engine moves it on


def test_rate_limit_counts_approved_orders(events: MemoryEvents) -> None:
    rm = manager(events, max_orders_per_second=2)
    assert rm.check(make_order(side="sell", cid="1"), make_ctx(ts=0, pos="5")).approved
    assert rm.check(make_order(side="sell", cid="2"), make_ctx(ts=500, pos="5")).approved
    assert rm.check(make_order(side="sell", cid="3"), make_ctx(ts=999, pos="5")).reason_code == "RATE_LIMIT"
    assert rm.check(make_order(side="sell", cid="4"), make_ctx(ts=1000, pos="5")).approved  # the first left


def test_trades_per_day_resets_at_utc_midnight(events: MemoryEvents) -> None:
    rm = manager(events, max_trades_per_day=1)
    rm.on_mark(DAY - 2 * MIN, dec(10000))
    assert rm.check(make_order(cid="1"), make_ctx(ts=DAY - MIN)).approved
    assert rm.check(make_order(cid="2"), make_ctx(ts=DAY - 1)).reason_code == "MAX_TRADES_PER_DAY"
    assert rm.check(make_order(cid="3"), make_ctx(ts=DAY)).approved


def test_unknown_symbol_denied_when_instruments_given(events: MemoryEvents) -> None:
    rm = manager(events)
    assert rm.check(make_order(symbol="ETH/USDT"), make_ctx()).reason_code == "UNKNOWN_SYMBOL"


# -- daily loss ----------------------------------------------------------------------------------------
def test_daily_loss_halts_until_next_day(events: MemoryEvents) -> None:
    rm = manager(events, max_daily_loss_pct=2)
    rm.on_mark(0, dec(10000))
    rm.on_mark(MIN, dec("9800.01"))
    assert rm.state() is TradingState.ACTIVE
    rm.on_mark(2 * MIN, dec(9800))  # exactly 2% down: the limit is reached
    assert rm.state() is TradingState.HALTED
    assert rm.check(make_order(), make_ctx(ts=3 * MIN, equity="9850")).reason_code == "MAX_DAILY_LOSS"
    assert [e["breaker"] for e in events.of("CircuitBreakerTripped")] == ["daily_loss"]
    assert events.of("TradingStateChanged")[-1] == {
        "scope": GLOBAL,
        "from": "ACTIVE",
        "to": "HALTED",
        "reason": events.of("TradingStateChanged")[-1]["reason"],
    }
    rm.on_mark(DAY, dec(9800))  # next UTC day: reset, new start-of-day equity
    assert rm.state() is TradingState.ACTIVE
    assert events.of("CircuitBreakerReset") == [
        {"breaker": "daily_loss", "scope": GLOBAL, "by": "day rollover"}
    ]
    assert rm.check(make_order(), make_ctx(ts=DAY + MIN, equity="9800")).approved


def test_daily_loss_counts_unrealised_loss(events: MemoryEvents) -> None:
    rm = manager(events, max_daily_loss_pct=5)
    pos = Position(SYMBOL)
    pos.apply(Fill(0, "x", SYMBOL, OrderSide.BUY, dec(50), dec(100), dec(0)))
    cash = dec(10000) - dec(5000)
    rm.on_mark(0, cash + pos.qty * dec(100))
    rm.on_mark(MIN, cash + pos.qty * dec(90))  # -500 = -5%, nothing realised
    assert rm.state() is TradingState.HALTED


def test_daily_loss_manual_reset_stays_until_operator(events: MemoryEvents) -> None:
    rm = manager(events, max_daily_loss_pct=2, breakers={"daily_loss": {"reset": "manual"}})
    rm.on_mark(0, dec(10000))
    rm.on_mark(MIN, dec(9700))
    rm.on_mark(DAY, dec(9700))
    assert rm.state() is TradingState.HALTED
    assert rm.reset_breaker(DAY + MIN, "daily_loss")
    assert rm.state() is TradingState.ACTIVE
    rm.on_mark(DAY + 2 * MIN, dec(9700))  # counts from the reset, does not re-trip at once
    assert rm.state() is TradingState.ACTIVE


# -- drawdown (open positions included) ------------------------------------------------------------------
def test_drawdown_breaker_trips_on_open_position(events: MemoryEvents) -> None:
    rm = manager(events, breakers={"drawdown": {"max_drawdown_pct": 10}})
    pos = Position(SYMBOL)
    pos.apply(Fill(0, "x", SYMBOL, OrderSide.BUY, dec(100), dec(100), dec(0)))
    cash = dec(500)
    marks = [(dec(100), "10500"), (dec(105), "11000"), (dec("96.00"), "10100"), (dec("95.99"), "10099")]
    states = []
    for i, (price, expected_equity) in enumerate(marks):
        equity = cash + pos.qty * price
        assert equity == dec(expected_equity)
        rm.on_mark(i * MIN, equity, {SYMBOL: price})
        states.append(rm.state())
    # peak 11000; 10100 is 8.18% down, 10099 is 8.19%: not yet; now to exactly 10% below the peak
    assert states == [TradingState.ACTIVE] * 4
    rm.on_mark(5 * MIN, cash + pos.qty * dec("94.01"))  # 9901: 9.99%
    assert rm.state() is TradingState.ACTIVE
    rm.on_mark(6 * MIN, cash + pos.qty * dec("94.00"))  # 9900: 10.00%
    assert rm.state() is TradingState.HALTED
    assert pos.realized_pnl == 0  # nothing was closed: the loss is unrealised
    trip = events.of("CircuitBreakerTripped")[0]
    assert trip["breaker"] == "drawdown" and trip["action"] == "HALTED" and trip["reset"] == "manual"
    # entries are denied; the protective exit passes
    assert rm.check(make_order(), make_ctx(ts=7 * MIN, pos="100")).reason_code == "MAX_DRAWDOWN"
    exit_ = make_order(side="sell", qty="100", reduce_only=True)
    assert rm.check(exit_, make_ctx(ts=7 * MIN, pos="100", last="94")).approved
    assert rm.reset_breaker(8 * MIN, "drawdown")
    assert rm.state() is TradingState.ACTIVE
    rm.on_mark(9 * MIN, dec(9900))  # the peak starts again from here
    assert rm.state() is TradingState.ACTIVE


def test_drawdown_reducing_with_timed_reset(events: MemoryEvents) -> None:
    cfg = {"max_drawdown_pct": 5, "action": "REDUCING", "reset": "timed", "reset_after_minutes": 30}
    rm = manager(events, breakers={"drawdown": cfg})
    rm.on_mark(0, dec(1000))
    rm.on_mark(MIN, dec(950))
    assert rm.state() is TradingState.REDUCING
    assert rm.check(make_order(side="sell", qty="1"), make_ctx(ts=MIN, pos="2")).approved  # shrinks: allowed
    assert rm.check(make_order(), make_ctx(ts=MIN, pos="2")).reason_code == "MAX_DRAWDOWN"
    rm.on_mark(31 * MIN - 1, dec(950))
    assert rm.state() is TradingState.REDUCING
    rm.on_mark(31 * MIN, dec(950))
    assert rm.state() is TradingState.ACTIVE
    assert events.of("CircuitBreakerReset")[-1]["by"] == "timer"


def test_timed_reset_needs_a_delay() -> None:
    from tradewarden.risk import RiskConfigError, load_risk_config

    with pytest.raises(
        RiskConfigError, match=r"risk\.breakers\.drawdown: reset 'timed' needs reset_after_minutes"
    ):
        load_risk_config({"breakers": {"drawdown": {"reset": "timed"}}})


# -- consecutive losses, cool-downs ---------------------------------------------------------------------
def test_consecutive_losses_breaker(events: MemoryEvents) -> None:
    rm = manager(events, breakers={"consecutive_losses": {"max_losses": 3}})
    rm.on_trade_closed(1, SYMBOL, dec(-1))
    rm.on_trade_closed(2, SYMBOL, dec(-1))
    rm.on_trade_closed(3, SYMBOL, dec(5))  # a win ends the streak
    rm.on_trade_closed(4, SYMBOL, dec(-1))
    rm.on_trade_closed(5, SYMBOL, dec(-1))
    assert rm.state() is TradingState.ACTIVE
    rm.on_trade_closed(6, SYMBOL, dec(-1))
    assert rm.state() is TradingState.HALTED
    assert rm.counters.breaker_trips == {"consecutive_losses": 1}


def test_consecutive_losses_per_symbol(events: MemoryEvents) -> None:
    rm = manager(events, breakers={"consecutive_losses": {"max_losses": 2, "per_symbol": True}})
    rm.on_trade_closed(1, SYMBOL, dec(-1))
    rm.on_trade_closed(2, "ETH/USDT", dec(-1))
    assert rm.state(SYMBOL) is TradingState.ACTIVE
    rm.on_trade_closed(3, SYMBOL, dec(-1))
    assert rm.state(SYMBOL) is TradingState.HALTED
    assert rm.state("ETH/USDT") is TradingState.ACTIVE and rm.state() is TradingState.ACTIVE
    change = events.of("TradingStateChanged")[-1]
    assert (change["scope"], change["from"], change["to"]) == (SYMBOL, "ACTIVE", "HALTED")


def test_cooldown_after_a_losing_trade(events: MemoryEvents) -> None:
    rm = manager(events, cooldown_after_loss_minutes=10, global_cooldown_after_loss_minutes=2)
    rm.on_trade_closed(0, SYMBOL, dec(-1))
    assert rm.check(make_order(cid="1"), make_ctx(ts=10 * MIN - 1)).reason_code == "COOLDOWN"
    assert rm.check(make_order(cid="2"), make_ctx(ts=10 * MIN)).approved
    eth = make_order(symbol="ETH/USDT", cid="3")
    rm2 = RiskManager(make_config(global_cooldown_after_loss_minutes=2), events)
    rm2.on_trade_closed(0, SYMBOL, dec(-1))
    assert rm2.check(eth, make_ctx(ts=2 * MIN - 1)).reason_code == "COOLDOWN"  # global: every symbol
    assert rm2.check(eth, make_ctx(ts=2 * MIN)).approved


def test_no_cooldown_after_a_win(events: MemoryEvents) -> None:
    rm = manager(events, cooldown_after_loss_minutes=10)
    rm.on_trade_closed(0, SYMBOL, dec(0))
    assert rm.check(make_order(), make_ctx(ts=1)).approved


# -- error rate, stale data --------------------------------------------------------------------------
def test_error_rate_breaker_window(events: MemoryEvents) -> None:
    rm = manager(events, breakers={"error_rate": {"max_errors": 3, "window_minutes": 5}})
    for ts in (0, MIN, 5 * MIN):  # the first has left the window when the third comes
        rm.on_order_error(ts, SYMBOL, "-2010")
    assert rm.state() is TradingState.ACTIVE
    rm.on_order_error(5 * MIN + 1, SYMBOL, "-2010")  # MIN, 5*MIN, 5*MIN+1 within five minutes
    assert rm.state() is TradingState.HALTED
    assert "last -2010" in events.of("CircuitBreakerTripped")[0]["reason"]


def test_stale_data_breaker_trips_after_grace_and_resets_on_recovery(events: MemoryEvents) -> None:
    rm = manager(events, breakers={"stale_data": {"grace_seconds": 30}})
    rm.on_feed_health(0, False)
    rm.on_feed_health(29_999, False)
    assert rm.state() is TradingState.ACTIVE
    rm.on_feed_health(30_000, False)
    assert rm.state() is TradingState.HALTED
    assert rm.check(make_order(), make_ctx(ts=31_000)).reason_code == "STALE_DATA"
    rm.on_feed_health(40_000, True)
    assert rm.state() is TradingState.ACTIVE
    assert events.of("CircuitBreakerReset")[-1]["by"] == "recovery"


def test_stale_data_manual_reset_stays_after_recovery(events: MemoryEvents) -> None:
    rm = manager(events, breakers={"stale_data": {"reset": "manual"}})
    rm.on_feed_health(0, False)
    rm.on_feed_health(1000, True)
    assert rm.state() is TradingState.HALTED


# -- states ------------------------------------------------------------------------------------------
def test_manual_state_per_symbol(events: MemoryEvents) -> None:
    rm = manager(events)
    rm.set_manual_state(0, SYMBOL, TradingState.REDUCING, "delisting soon")
    assert rm.state(SYMBOL) is TradingState.REDUCING and rm.state() is TradingState.ACTIVE
    assert rm.check(make_order(), make_ctx(ts=1)).reason_code == "MANUAL"
    rm.set_manual_state(2, SYMBOL, TradingState.ACTIVE, "")
    assert rm.state(SYMBOL) is TradingState.ACTIVE


def test_most_restrictive_cause_wins(events: MemoryEvents) -> None:
    rm = manager(
        events,
        breakers={
            "drawdown": {"max_drawdown_pct": 5, "action": "REDUCING"},
            "consecutive_losses": {"max_losses": 1},
        },
    )
    rm.on_mark(0, dec(100))
    rm.on_mark(1, dec(90))
    assert rm.state() is TradingState.REDUCING
    rm.on_trade_closed(2, SYMBOL, dec(-1))
    assert rm.state() is TradingState.HALTED
    rm.reset_breaker(3, "consecutive_losses")
    assert rm.state() is TradingState.REDUCING
    assert [(e["from"], e["to"]) for e in events.of("TradingStateChanged")] == [
        ("ACTIVE", "REDUCING"),
        ("REDUCING", "HALTED"),
        ("HALTED", "REDUCING"),
    ]


# -- kill switch (in process) ------------------------------------------------------------------------
def test_kill_switch_while_orders_are_open(events: MemoryEvents, tmp_path: Path) -> None:
    with AuditTrail(tmp_path / "audit.jsonl") as audit:
        rm = RiskManager(
            make_config(kill_switch_close_positions=True),
            events,
            audit=audit,
            instruments={SYMBOL: INSTRUMENT},
        )
        entry = make_order(type_="limit", price="99", qty="1", cid="entry")
        stop = make_order(
            side="sell", type_="stop_market", stop_price="90", qty="2", reduce_only=True, cid="sl"
        )
        done = make_order(cid="filled")
        for o in (entry, stop, done):
            o.transition(OrderStatus.SUBMITTED)
        done.transition(OrderStatus.FILLED)
        assert rm.kill_switch_plan(0, [entry, stop, done], {SYMBOL: dec(2)}).empty  # off: nothing to do

        rm.activate_kill_switch(1000, "exchange incident", "ops")
        assert rm.state() is TradingState.HALTED and rm.poll_kill_switch(1500)
        plan = rm.kill_switch_plan(2000, [entry, stop, done], {SYMBOL: dec(2), "ETH/USDT": dec(0)})
        assert plan.cancel == ("entry",)  # the protective stop stays
        assert [(c.side.value, c.qty, c.type.value, c.reduce_only) for c in plan.close] == [
            ("sell", dec(2), "market", True)
        ]
        # the close-out passes the gate while halted; a new entry does not
        assert rm.check(plan.close[0], make_ctx(ts=2000, pos="2")).approved
        assert rm.check(make_order(cid="new"), make_ctx(ts=2000, pos="2")).reason_code == "KILL_SWITCH"
        # once the close-out is working, the plan does not send another
        plan.close[0].transition(OrderStatus.SUBMITTED)
        assert rm.kill_switch_plan(3000, [stop, plan.close[0]], {SYMBOL: dec(2)}).close == ()
        rm.deactivate_kill_switch(4000, "resolved", "ops")
        assert rm.state() is TradingState.ACTIVE
    assert events.of("KillSwitchActivated") == [
        {"reason": "exchange incident", "actor": "ops", "set_ts": 1000, "close_positions": True}
    ]
    assert events.of("KillSwitchDeactivated") == [{"reason": "resolved", "actor": "ops", "set_ts": 4000}]
    types = [r["type"] for r in read_audit(tmp_path / "audit.jsonl")]
    assert types == [
        "KILL_SWITCH_ACTIVATED",
        "STATE_CHANGED",
        "TRADE_APPROVED",
        "TRADE_REJECTED",
        "KILL_SWITCH_DEACTIVATED",
        "STATE_CHANGED",
    ]


def test_kill_switch_without_closing_positions(events: MemoryEvents) -> None:
    rm = manager(events)
    rm.activate_kill_switch(0, "stop", "me")
    assert rm.kill_switch_plan(1, [], {SYMBOL: dec(1)}).close == ()


def test_kill_switch_halts_a_symbol_state_too(events: MemoryEvents) -> None:
    rm = manager(events)
    rm.activate_kill_switch(0, "stop", "me")
    assert rm.state(SYMBOL) is TradingState.HALTED


# -- stages ------------------------------------------------------------------------------------------
STAGES = {
    "canary": {
        "risk_per_trade_pct": "0.10",
        "max_daily_loss_pct": "0.5",
        "max_trades_per_day": 1,
        "advance_after_days": 14,
        "advance_after_trades": 2,
        "advance_max_drawdown_pct": 3,
        "next_stage": "stage1",
    },
    "stage1": {"risk_per_trade_pct": "0.15", "max_daily_loss_pct": "0.5"},
}


def test_active_stage_limits_apply(events: MemoryEvents, tmp_path: Path) -> None:
    with AuditTrail(tmp_path / "a.jsonl") as audit:
        rm = RiskManager(
            make_config(risk_per_trade_pct=1, stages=STAGES, active_stage="canary"),
            events,
            audit,
            instruments={SYMBOL: INSTRUMENT},
        )
        first = rm.check(make_order(stop_loss="98", cid="1"), make_ctx(ts=1000))
        assert first.order is not None and first.order.qty == dec("5.000")  # 10000 x 0.10% / 2
        assert (
            rm.check(make_order(stop_loss="98", cid="2"), make_ctx(ts=2000)).reason_code
            == "MAX_TRADES_PER_DAY"
        )
    records = read_audit(tmp_path / "a.jsonl")
    assert records[0]["type"] == "STAGE_CHANGED"
    assert (records[0]["from_stage"], records[0]["to_stage"]) == (None, "canary")
    assert records[0]["limits"]["risk_per_trade_pct"] == "0.10"


def test_stage_progress_is_recorded(events: MemoryEvents) -> None:
    from tradewarden.risk import criteria, ready_to_advance

    cfg = make_config(stages=STAGES, active_stage="canary")
    rm = RiskManager(cfg, events)
    rm.on_mark(0, dec(1000))
    rm.on_mark(DAY, dec(1100))
    rm.on_trade_closed(DAY, SYMBOL, dec(-20))
    rm.on_mark(14 * DAY, dec(1078))  # 2% below the peak
    rm.on_trade_closed(14 * DAY, SYMBOL, dec(5))
    progress = rm.book.stages["canary"]
    assert (progress.days, progress.trades, progress.losing_trades, progress.largest_loss) == (
        14,
        2,
        1,
        dec(20),
    )
    assert progress.max_drawdown_pct == dec(2)
    assert [c.met for c in criteria(cfg.stages["canary"], progress)] == [True, True, True]
    assert ready_to_advance(cfg.stages["canary"], progress)


def test_cooldown_after_any_closed_trade_rests_that_symbol_only(events: MemoryEvents) -> None:
    rm = manager(events, cooldown_after_trade_minutes=30)
    rm.on_trade_closed(0, SYMBOL, dec(5))  # a win too
    assert rm.check(make_order(cid="1"), make_ctx(ts=30 * MIN - 1)).reason_code == "COOLDOWN"
    assert rm.check(make_order(cid="2", symbol="ETH/USDT"), make_ctx(ts=1)).reason_code != "COOLDOWN"
    assert rm.check(make_order(cid="3"), make_ctx(ts=30 * MIN)).approved


def test_a_longer_loss_cooldown_is_not_shortened_by_the_trade_cooldown(events: MemoryEvents) -> None:
    rm = manager(events, cooldown_after_trade_minutes=5, cooldown_after_loss_minutes=60)
    rm.on_trade_closed(0, SYMBOL, dec(-1))
    assert rm.check(make_order(cid="1"), make_ctx(ts=59 * MIN)).reason_code == "COOLDOWN"
