"""Trading states and reason codes: the vocabulary every other module of the risk layer speaks."""

from __future__ import annotations

from enum import StrEnum

GLOBAL = "global"  #: scope of the whole bot; any other scope is a symbol


class TradingState(StrEnum):
    """``ACTIVE``: all orders. ``REDUCING``: only orders that shrink a position. ``HALTED``: no new orders;
    cancels and protective exits (reduce-only orders that shrink a position) still pass."""

    ACTIVE = "ACTIVE"
    REDUCING = "REDUCING"
    HALTED = "HALTED"

    @property
    def severity(self) -> int:
        return _SEVERITY[self]


_SEVERITY = {TradingState.ACTIVE: 0, TradingState.REDUCING: 1, TradingState.HALTED: 2}


def most_restrictive(*states: TradingState) -> TradingState:
    return max(states, key=lambda s: s.severity, default=TradingState.ACTIVE)


class ReasonCode(StrEnum):
    """Machine-readable reason for a denial (``OrderDenied.reason_code``) or a state change."""

    KILL_SWITCH = "KILL_SWITCH"
    MAX_DAILY_LOSS = "MAX_DAILY_LOSS"
    MAX_DRAWDOWN = "MAX_DRAWDOWN"
    CONSECUTIVE_LOSSES = "CONSECUTIVE_LOSSES"
    ERROR_RATE = "ERROR_RATE"
    STALE_DATA = "STALE_DATA"
    MANUAL = "MANUAL"
    REDUCE_ONLY = "REDUCE_ONLY"
    REDUCE_ONLY_INVALID = "REDUCE_ONLY_INVALID"
    COOLDOWN = "COOLDOWN"
    MAX_TRADES_PER_DAY = "MAX_TRADES_PER_DAY"
    MAX_OPEN_POSITIONS = "MAX_OPEN_POSITIONS"
    STOP_LOSS_REQUIRED = "STOP_LOSS_REQUIRED"
    INVALID_STOP_LOSS = "INVALID_STOP_LOSS"
    MAX_POSITION_NOTIONAL = "MAX_POSITION_NOTIONAL"
    MAX_TOTAL_EXPOSURE = "MAX_TOTAL_EXPOSURE"
    MAX_SYMBOL_EXPOSURE = "MAX_SYMBOL_EXPOSURE"
    MAX_LOSS_PER_TRADE = "MAX_LOSS_PER_TRADE"
    FAT_FINGER = "FAT_FINGER"
    UNKNOWN_SYMBOL = "UNKNOWN_SYMBOL"
    FILTER_PRICE = "FILTER_PRICE"
    FILTER_LOT_SIZE = "FILTER_LOT_SIZE"
    FILTER_MIN_NOTIONAL = "FILTER_MIN_NOTIONAL"
    INSUFFICIENT_BALANCE = "INSUFFICIENT_BALANCE"
    RATE_LIMIT = "RATE_LIMIT"
    NO_PRICE = "NO_PRICE"


#: which reason code a breaker's trip denies orders with
BREAKER_REASON = {
    "daily_loss": ReasonCode.MAX_DAILY_LOSS,
    "drawdown": ReasonCode.MAX_DRAWDOWN,
    "consecutive_losses": ReasonCode.CONSECUTIVE_LOSSES,
    "error_rate": ReasonCode.ERROR_RATE,
    "stale_data": ReasonCode.STALE_DATA,
    "manual": ReasonCode.MANUAL,
}
