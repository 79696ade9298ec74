"""The payloads of the risk layer and the safety gate (categories ``risk`` and ``gate``): trading states,
breakers and the kill switch; the boot seal, safety checks, refused arming, migrations, audit trails, leases
and locks, foreign writers, filter mismatches, reconciliation mismatches, the halt they cause, and the orders
shadow mode withheld.

Written without ``from __future__ import annotations`` (see :mod:`tradewarden.domain.event_payloads`):
``TypedDict`` reads ``NotRequired`` from evaluated annotations only.
"""

from typing import NotRequired, TypedDict

from tradewarden.domain.payload_fields import Amount, Json

TradingStateChanged = TypedDict("TradingStateChanged", {"scope": str, "from": str, "to": str, "reason": str})


class CircuitBreakerTripped(TypedDict):
    breaker: str
    scope: str
    action: str
    reason: str
    reset: str
    reset_after_ts: int | None


class CircuitBreakerReset(TypedDict):
    breaker: str
    scope: str
    by: str


class KillSwitchDeactivated(TypedDict):
    reason: str
    actor: str
    set_ts: int


class KillSwitchActivated(KillSwitchDeactivated):
    close_positions: bool


class BootSeal(TypedDict):
    version: str
    mode: str
    config_hash: str
    stage: str | None
    strategy: str
    params: Json
    symbol: str                          # the first symbol
    symbols: list[str]                   # every symbol the session trades, in order
    timeframe: str
    exchange: str
    exchange_simulated: bool
    filters: NotRequired[Json]           # per symbol: tick_size, step_size, min_qty, max_qty, min_notional


class ShadowSafetyOk(TypedDict):
    clock_offset_ms: int | None
    keys_present: bool
    kill_switch: bool
    trading_state: str
    stage: str | None
    clock_error: NotRequired[str]        # the exchange did not answer at boot
    # live only: the key's permissions and the account's funding
    key_can_withdraw: NotRequired[bool | str]
    key_permissions: NotRequired[str]
    withdrawal_keys_allowed: NotRequired[bool]
    quote: NotRequired[str]
    free_quote: NotRequired[str]
    base_held: NotRequired[str]
    price: NotRequired[str]
    min_order_qty: NotRequired[str]
    min_order_quote: NotRequired[str]


class SafetyChecks(ShadowSafetyOk):
    mode: str


class LiveArmFailed(TypedDict):
    mode: str
    reason: str
    message: str
    config_hash: str


class StateMigrated(TypedDict):
    from_revision: str | None
    to_revision: str | None


class AuditTrailRefused(TypedDict):
    account: str
    message: str


class InstanceRefused(TypedDict):
    mode: str
    reason: str                          # ACCOUNT_LOCKED
    holder: Json | None                  # {host, pid, since, bot} of the bot holding the account, if known
    message: str
    lock: NotRequired[str]               # the lock file that refused
    database: NotRequired[str]           # or the database whose lease refused


class LeaseTakenOver(TypedDict):
    previous: Json                       # the holder whose lease expired or whose process is gone
    why: str


class LeaseLost(TypedDict):
    message: str


class ForeignWriter(TypedDict):
    orders: list[Json]                   # {kind, subject, ours, exchange, suggestion}


class FiltersRefused(TypedDict):
    message: str
    differences: list[Json]              # {symbol, field, ours, exchange}


class ReconcileMismatch(TypedDict):
    adopted: bool
    mismatches: list[Json]               # {kind, subject, ours, exchange, suggestion}


class HaltedOps(TypedDict):
    reason: str
    what_to_do: str


class ShadowOrder(TypedDict):
    symbol: str
    client_id: str
    would_send: Json                     # the exact ccxt create_order arguments, or {"cancel": client_id}
    reduce_only: NotRequired[bool]
    stop_loss: NotRequired[Amount | None]
    take_profit: NotRequired[Amount | None]
