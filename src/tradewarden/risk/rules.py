"""The pre-trade rules: a functional core with no I/O.

Each rule takes the order, the engine's :class:`CheckContext`, the effective :class:`RiskConfig` and a
:class:`GateView` (the few facts of the risk layer's own state a rule needs) and returns either the order,
possibly resized or rounded (a new object; the input is never changed), or a :class:`Denial`. :func:`evaluate`
runs them in a fixed order and stops at the first denial, so a denial always names the first rule broken.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

from tradewarden.domain.instrument import FilterViolation, Instrument, Rounding
from tradewarden.domain.orders import Order, OrderSide, OrderType
from tradewarden.domain.ports import CheckContext
from tradewarden.risk.config import RiskConfig
from tradewarden.risk.state import ReasonCode, TradingState

HUNDRED = Decimal(100)
CENT = Decimal("0.01")
#: quantities are cut to this when no instrument (and so no step size) is known
FALLBACK_STEP = Decimal("0.00000001")


@dataclass(frozen=True, slots=True)
class Denial:
    code: ReasonCode
    message: str


@dataclass(frozen=True, slots=True)
class GateView:
    """The risk layer's own state as the rules see it, for the order's symbol."""

    state: TradingState = TradingState.ACTIVE
    state_cause: ReasonCode | None = None
    day_start_equity: Decimal | None = None
    cooldown_until: int = 0
    trades_today: int = 0
    orders_last_second: int = 0
    orders_last_minute: int = 0


@dataclass(frozen=True, slots=True)
class Verdict:
    order: Order | None
    denial: Denial | None = None
    adjustments: tuple[str, ...] = ()

    @property
    def approved(self) -> bool:
        return self.denial is None


@dataclass(frozen=True, slots=True)
class Gate:
    """Everything a rule may read."""

    ctx: CheckContext
    cfg: RiskConfig
    view: GateView
    instrument: Instrument | None
    require_instrument: bool
    reducing: bool  # judged on the order as submitted


Rule = Callable[[Order, Gate], "Order | Denial"]


# -- helpers -----------------------------------------------------------------------------------------
def is_reducing(order: Order, position_qty: Decimal) -> bool:
    """True when the order only shrinks the current position (opposite side, not past flat)."""
    if position_qty == 0:
        return False
    opposite = (order.side is OrderSide.SELL) == (position_qty > 0)
    return opposite and order.qty <= abs(position_qty)


def reference_price(order: Order, ctx: CheckContext) -> Decimal:
    """The price the order is expected to execute at: its limit, its trigger, or the last price."""
    if order.type in (OrderType.LIMIT, OrderType.STOP_LIMIT) and order.price is not None:
        return order.price
    if order.type is OrderType.STOP_MARKET and order.stop_price is not None:
        return order.stop_price
    return ctx.last_price


def _copy(order: Order, **changes: object) -> Order:
    # dataclasses.replace would share the history list between the two orders
    return dataclasses.replace(order, history=list(order.history), **changes)  # type: ignore[arg-type]


def _floor_qty(qty: Decimal, instrument: Instrument | None) -> Decimal:
    if qty <= 0:
        return Decimal(0)
    if instrument is not None:
        return instrument.round_qty(qty, Rounding.DOWN)
    return qty.quantize(FALLBACK_STEP, rounding=ROUND_DOWN)


def _pct(x: Decimal) -> str:
    return f"{x.normalize():f}%"


# -- rules -------------------------------------------------------------------------------------------
def rule_price_known(o: Order, g: Gate) -> Order | Denial:
    if reference_price(o, g.ctx) <= 0:
        return Denial(ReasonCode.NO_PRICE, f"no usable price for {o.symbol} (last price {g.ctx.last_price})")
    return o


def rule_trading_state(o: Order, g: Gate) -> Order | Denial:
    state = g.view.state
    if state is TradingState.ACTIVE:
        return o
    if state is TradingState.REDUCING and g.reducing:
        return o
    if state is TradingState.HALTED and g.reducing and o.reduce_only:
        return o
    cause = g.view.state_cause or ReasonCode.MANUAL
    allowed = "reduce-only exits" if state is TradingState.HALTED else "orders that reduce a position"
    return Denial(cause, f"trading is {state.value} ({cause.value}); only {allowed} are allowed")


def rule_reduce_only(o: Order, g: Gate) -> Order | Denial:
    if o.reduce_only and not g.reducing:
        return Denial(ReasonCode.REDUCE_ONLY_INVALID,
                      f"reduce-only {o.side.value} of {o.qty} would not reduce the position "
                      f"({g.ctx.position_qty})")
    return o


def rule_daily_loss(o: Order, g: Gate) -> Order | Denial:
    limit, start = g.cfg.max_daily_loss_pct, g.view.day_start_equity
    if limit is None or start is None or start <= 0:
        return o
    loss_pct = (start - g.ctx.equity) / start * HUNDRED
    if loss_pct >= limit:
        return Denial(ReasonCode.MAX_DAILY_LOSS,
                      f"today's loss {_pct(loss_pct.quantize(CENT))} reached the limit {_pct(limit)}")
    return o


def rule_cooldown(o: Order, g: Gate) -> Order | Denial:
    if g.ctx.ts < g.view.cooldown_until:
        left = (g.view.cooldown_until - g.ctx.ts + 999) // 1000
        return Denial(ReasonCode.COOLDOWN, f"{o.symbol} cooling down after a closed trade: {left} s left")
    return o


def rule_trades_per_day(o: Order, g: Gate) -> Order | Denial:
    limit = g.cfg.max_trades_per_day
    if limit is not None and g.view.trades_today >= limit:
        return Denial(ReasonCode.MAX_TRADES_PER_DAY,
                      f"{g.view.trades_today} entries today; the limit is {limit}")
    return o


def rule_open_positions(o: Order, g: Gate) -> Order | Denial:
    limit = g.cfg.max_open_positions
    if limit is not None and g.ctx.position_qty == 0 and g.ctx.open_positions >= limit:
        return Denial(ReasonCode.MAX_OPEN_POSITIONS,
                      f"{g.ctx.open_positions} positions open; the limit is {limit}")
    return o


def rule_stop_loss(o: Order, g: Gate) -> Order | Denial:
    if o.stop_loss is None:
        if g.cfg.require_stop_loss:
            return Denial(ReasonCode.STOP_LOSS_REQUIRED, "entry orders must carry a stop-loss")
        return o
    entry = reference_price(o, g.ctx)
    wrong = o.stop_loss >= entry if o.side is OrderSide.BUY else o.stop_loss <= entry
    if wrong or o.stop_loss <= 0:
        side = "below" if o.side is OrderSide.BUY else "above"
        return Denial(ReasonCode.INVALID_STOP_LOSS,
                      f"stop-loss {o.stop_loss} must be {side} the entry price {entry} for a {o.side.value}")
    return o


def rule_size_from_risk(o: Order, g: Gate) -> Order | Denial:
    """qty = equity x risk% / |entry - stop|, rounded down to the step."""
    pct = g.cfg.risk_per_trade_pct
    if pct is None or o.stop_loss is None:
        return o
    distance = abs(reference_price(o, g.ctx) - o.stop_loss)
    qty = _floor_qty(g.ctx.equity * pct / HUNDRED / distance, g.instrument)
    return o if qty == o.qty else _copy(o, qty=qty)


def rule_position_notional(o: Order, g: Gate) -> Order | Denial:
    """Cut the order so the resulting position's notional stays at or below the maximum."""
    cap = g.cfg.max_position_notional
    if cap is None:
        return o
    price = reference_price(o, g.ctx)
    held = abs(g.ctx.position_qty)
    same_way = g.ctx.position_qty == 0 or (g.ctx.position_qty > 0) == (o.side is OrderSide.BUY)
    room = cap / price - held if same_way else held + cap / price
    allowed = _floor_qty(room, g.instrument)
    if allowed <= 0:
        return Denial(ReasonCode.MAX_POSITION_NOTIONAL,
                      f"position notional {held * price} already at the maximum {cap}")
    return o if o.qty <= allowed else _copy(o, qty=allowed)


def _capped(o: Order, g: Gate, held_value: Decimal, cap: Decimal, code: ReasonCode, what: str) -> Order | Denial:
    """Cut an entry so ``held_value`` (the exposure it adds to) stays at or below ``cap``; deny when no room."""
    price = reference_price(o, g.ctx)
    same_way = g.ctx.position_qty == 0 or (g.ctx.position_qty > 0) == (o.side is OrderSide.BUY)
    if not same_way:  # a flip: the part that closes the position frees its exposure first
        held_value -= abs(g.ctx.position_qty) * price
    allowed = _floor_qty((cap - held_value) / price + (0 if same_way else abs(g.ctx.position_qty)), g.instrument)
    if allowed <= 0:
        return Denial(code, f"{what} {held_value} already at the maximum {cap}")
    return o if o.qty <= allowed else _copy(o, qty=allowed)


def rule_total_exposure(o: Order, g: Gate) -> Order | Denial:
    """Cut an entry so Σ |marked position| over the portfolio stays within the cap (% of equity)."""
    pct = g.cfg.max_total_exposure_pct
    if pct is None or g.ctx.equity <= 0:
        return o
    exposure = g.ctx.exposure if g.ctx.exposure is not None else abs(g.ctx.position_qty) * g.ctx.last_price
    return _capped(o, g, exposure, g.ctx.equity * pct / HUNDRED, ReasonCode.MAX_TOTAL_EXPOSURE,
                   f"portfolio exposure ({_pct(pct)} of equity allowed)")


def rule_symbol_exposure(o: Order, g: Gate) -> Order | Denial:
    """Cut an entry so this symbol's position stays within the cap (% of portfolio equity)."""
    pct = g.cfg.max_symbol_exposure_pct
    if pct is None or g.ctx.equity <= 0:
        return o
    return _capped(o, g, abs(g.ctx.position_qty) * g.ctx.last_price, g.ctx.equity * pct / HUNDRED,
                   ReasonCode.MAX_SYMBOL_EXPOSURE, f"{o.symbol} exposure ({_pct(pct)} of equity allowed)")


_FILTER_CODES = {"PRICE_FILTER": ReasonCode.FILTER_PRICE, "LOT_SIZE": ReasonCode.FILTER_LOT_SIZE,
                 "NOTIONAL": ReasonCode.FILTER_MIN_NOTIONAL}


def rule_exchange_filters(o: Order, g: Gate) -> Order | Denial:
    """Round onto the grid (never in the trader's disfavour for quantity, never paying more for price),
    then deny whatever the exchange would reject with -1013."""
    inst = g.instrument
    if inst is None:
        if g.require_instrument:
            return Denial(ReasonCode.UNKNOWN_SYMBOL, f"no exchange filters known for {o.symbol}")
        return o
    changes: dict[str, object] = {"qty": inst.round_qty(o.qty, Rounding.DOWN)}
    if o.price is not None:
        toward_safety = Rounding.DOWN if o.side is OrderSide.BUY else Rounding.UP
        changes["price"] = inst.round_price(o.price, toward_safety)
    for name in ("stop_price", "stop_loss", "take_profit"):
        value = getattr(o, name)
        if value is not None:
            changes[name] = inst.round_price(value, Rounding.NEAREST)
    rounded = o if all(getattr(o, k) == v for k, v in changes.items()) else _copy(o, **changes)
    price = rounded.price if rounded.type in (OrderType.LIMIT, OrderType.STOP_LIMIT) else rounded.stop_price
    try:
        inst.check(rounded.qty, price)
        if rounded.stop_price is not None and price is not rounded.stop_price:
            inst.check(rounded.qty, rounded.stop_price)
    except FilterViolation as exc:
        return Denial(_FILTER_CODES.get(exc.filter_name, ReasonCode.FILTER_LOT_SIZE), f"{o.symbol}: {exc}")
    if price is None and inst.min_notional:  # market orders: judge the notional at the last price
        notional = rounded.qty * g.ctx.last_price
        if notional < inst.min_notional:
            return Denial(ReasonCode.FILTER_MIN_NOTIONAL,
                          f"{o.symbol}: NOTIONAL: notional {notional} below minimum {inst.min_notional}")
    return rounded


def rule_loss_per_trade(o: Order, g: Gate) -> Order | Denial:
    pct = g.cfg.max_loss_per_trade_pct
    if pct is None:
        return o
    limit = g.ctx.equity * pct / HUNDRED
    entry = reference_price(o, g.ctx)
    if o.stop_loss is not None:
        worst = o.qty * abs(entry - o.stop_loss)
    elif o.side is OrderSide.BUY:
        worst = o.qty * entry  # without a stop the price can fall to zero
    else:
        return Denial(ReasonCode.MAX_LOSS_PER_TRADE, "a short without a stop-loss has no bounded loss")
    if worst > limit:
        return Denial(ReasonCode.MAX_LOSS_PER_TRADE,
                      f"possible loss {worst} exceeds {_pct(pct)} of equity ({limit})")
    return o


def rule_fat_finger(o: Order, g: Gate) -> Order | Denial:
    limit = g.cfg.max_price_deviation_pct
    last = g.ctx.last_price
    if limit is None or o.price is None or last <= 0:
        return o
    deviation = abs(o.price - last) / last * HUNDRED
    if deviation > limit:
        return Denial(ReasonCode.FAT_FINGER,
                      f"limit price {o.price} is {_pct(deviation.quantize(CENT))} from the last price "
                      f"{last}; the maximum is {_pct(limit)}")
    return o


def rule_balance(o: Order, g: Gate) -> Order | Denial:
    if not g.cfg.check_balance or g.reducing:
        return o
    if o.side is OrderSide.BUY:
        cost = o.qty * reference_price(o, g.ctx) * (1 + g.cfg.balance_buffer_pct / HUNDRED)
        if cost > g.ctx.cash:
            return Denial(ReasonCode.INSUFFICIENT_BALANCE, f"buying costs {cost}; only {g.ctx.cash} is free")
    elif not g.cfg.allow_short and o.qty > max(g.ctx.position_qty, Decimal(0)):
        return Denial(ReasonCode.INSUFFICIENT_BALANCE,
                      f"selling {o.qty} {o.symbol} but holding {max(g.ctx.position_qty, Decimal(0))}")
    return o


def rule_rate_limit(o: Order, g: Gate) -> Order | Denial:
    per_s, per_m = g.cfg.max_orders_per_second, g.cfg.max_orders_per_minute
    if per_s is not None and g.view.orders_last_second >= per_s:
        return Denial(ReasonCode.RATE_LIMIT,
                      f"{g.view.orders_last_second} orders in the last second; the limit is {per_s}")
    if per_m is not None and g.view.orders_last_minute >= per_m:
        return Denial(ReasonCode.RATE_LIMIT,
                      f"{g.view.orders_last_minute} orders in the last minute; the limit is {per_m}")
    return o


#: (rule, applies to reducing orders too)
RULES: tuple[tuple[Rule, bool], ...] = (
    (rule_price_known, True),
    (rule_trading_state, True),
    (rule_reduce_only, True),
    (rule_daily_loss, False),
    (rule_cooldown, False),
    (rule_trades_per_day, False),
    (rule_open_positions, False),
    (rule_stop_loss, False),
    (rule_size_from_risk, False),
    (rule_position_notional, False),
    (rule_symbol_exposure, False),
    (rule_total_exposure, False),
    (rule_exchange_filters, True),
    (rule_loss_per_trade, False),
    (rule_fat_finger, True),
    (rule_balance, True),
    (rule_rate_limit, True),
)


def _adjustments(before: Order, after: Order) -> tuple[str, ...]:
    fields = ("qty", "price", "stop_price", "stop_loss", "take_profit")
    return tuple(f"{f} {getattr(before, f)} -> {getattr(after, f)}" for f in fields
                 if getattr(before, f) != getattr(after, f))


def evaluate(order: Order, ctx: CheckContext, cfg: RiskConfig, view: GateView,
             instrument: Instrument | None = None, require_instrument: bool = False) -> Verdict:
    """Run every rule in order; the first denial wins. ``cfg`` should be the effective (staged) config."""
    gate = Gate(ctx, cfg, view, instrument, require_instrument, is_reducing(order, ctx.position_qty))
    current = order
    for rule, for_reducing in RULES:
        if gate.reducing and not for_reducing:
            continue
        out = rule(current, gate)
        if isinstance(out, Denial):
            return Verdict(None, out)
        current = out
    return Verdict(current, None, _adjustments(order, current))
