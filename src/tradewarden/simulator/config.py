"""Simulator settings and the parsing of user input into them (symbols, balances, keys)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

from tradewarden.simulator.errors import SimConfigError

DEFAULT_API_KEY = "tradewarden-sim-key"
DEFAULT_SECRET = "tradewarden-sim-secret"  # a public dummy pair: the simulator holds no real money
KEY_ENV = "TRADEWARDEN_SIM_API_KEY"
SECRET_ENV = "TRADEWARDEN_SIM_SECRET"


@dataclass
class SimConfig:
    """Everything that shapes one simulator run. Same config + same requests = same streams and fills."""

    data: Path | None = None  # file or directory; None = the bundled BTC/USDT 1h sample
    symbols: list[str] = field(default_factory=lambda: ["BTC/USDT"])
    timeframe: str | None = None  # None = the data's own timeframe
    speed: float | None = None  # None = stepped clock; otherwise multiple of real time
    seed: int = 1
    balances: dict[str, Decimal] = field(
        default_factory=lambda: {"USDT": Decimal("10000"), "BTC": Decimal(0)}
    )
    host: str = "127.0.0.1"
    port: int = 0
    start_index: int = 100  # candles already in the past at start
    ticks_per_candle: int = 12  # intra-candle price steps (open, extremes, close and the way between)
    spread_bps: Decimal = Decimal("2")  # best ask minus best bid, in basis points of the price
    fee_rate: Decimal = Decimal("0.001")  # 0.1 % in the received asset, maker and taker
    volume_share: Decimal = Decimal("0.25")  # one order fills at most this share of a candle's volume
    api_keys: dict[str, str] = field(default_factory=dict)  # key -> secret; empty = the default pair
    # GET /sapi/v1/account/apiRestrictions reports every key as able to withdraw (to rehearse the live check)
    key_can_withdraw: bool = False
    scenario: Path | None = None
    ws_ping_interval_s: float = 20.0
    ws_max_lifetime_s: float | None = None  # Binance closes after 24 h; None = never
    # frames one WebSocket may have waiting; a client further behind is disconnected (code 1008)
    ws_send_queue: int = 10_000

    def __post_init__(self) -> None:
        if not self.symbols:
            raise SimConfigError("symbols: give at least one symbol such as BTC/USDT")
        for sym in self.symbols:
            if sym.count("/") != 1 or not all(sym.split("/")):
                raise SimConfigError(f"symbols: {sym!r} is not of the form BASE/QUOTE")
        if len(set(self.symbols)) != len(self.symbols):
            raise SimConfigError(f"symbols: duplicates in {self.symbols}")
        if self.speed is not None and self.speed <= 0:
            raise SimConfigError(
                f"speed: must be positive (got {self.speed}); leave it unset for a stepped clock"
            )
        if self.start_index < 1:
            raise SimConfigError(f"start_index: must be at least 1 (got {self.start_index})")
        if self.ws_send_queue < 1:
            raise SimConfigError(f"ws_send_queue: must be at least 1 frame (got {self.ws_send_queue})")
        if self.ticks_per_candle < 4:
            raise SimConfigError(f"ticks_per_candle: must be at least 4 (got {self.ticks_per_candle})")
        for asset, amount in self.balances.items():
            if amount < 0:
                raise SimConfigError(f"balances: {asset} is negative ({amount})")
        if not self.api_keys:
            key = os.environ.get(KEY_ENV, DEFAULT_API_KEY)
            self.api_keys = {key: os.environ.get(SECRET_ENV, DEFAULT_SECRET)}

    @property
    def secret_from_env(self) -> bool:
        return SECRET_ENV in os.environ


def parse_symbols(text: str) -> list[str]:
    """``"BTC/USDT,ETH/USDT"`` to a list; a clear error naming the bad entry."""
    symbols = [s.strip().upper() for s in text.split(",") if s.strip()]
    if not symbols:
        raise SimConfigError("--symbols: empty list")
    return symbols


def parse_balances(text: str) -> dict[str, Decimal]:
    """``"USDT=10000,BTC=0.5"`` to exact amounts."""
    out: dict[str, Decimal] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        asset, sep, amount = part.partition("=")
        if not sep or not asset.strip():
            raise SimConfigError(f"--balances: {part!r} is not ASSET=AMOUNT")
        try:
            value = Decimal(amount.strip())
        except InvalidOperation:
            raise SimConfigError(
                f"--balances: amount {amount.strip()!r} for {asset.strip()} is not a number"
            ) from None
        if not value.is_finite() or value < 0:
            raise SimConfigError(f"--balances: amount for {asset.strip()} must be a non-negative number")
        out[asset.strip().upper()] = value
    return out
