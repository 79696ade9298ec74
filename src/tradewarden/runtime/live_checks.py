"""What only the exchange can tell before a live session trades: which endpoint it really is, what the API
key may do, and whether the account can fund one order.

The live gate (:mod:`tradewarden.runtime.live_gate`) decides from the configuration alone; these checks run at
boot against the exchange and refuse with the same :class:`LiveGateError`, so a refusal is ``LIVE_ARM_FAILED``
and exit 3 whichever of them says no. Their findings are ``SAFETY_CHECKS`` fields:

* **the endpoint**: ``exchange.urls`` may point the ccxt exchange elsewhere than the exchange itself. An
  endpoint that answers ``GET /_sim/info`` as the tradewarden simulator is named as such in ``BOOT_SEAL``
  ("binance via simulator at http://127.0.0.1:8765"), any other as the URL it is;
* **the key's permissions**, where the exchange reports them (Binance: ``GET /sapi/v1/account/apiRestrictions``).
  A key that can withdraw is refused unless ``exchange.allow_withdrawal_keys`` is set: a trading bot never
  needs to move money off the exchange, and a leaked key that cannot withdraw cannot empty the account. An
  exchange that does not say is recorded as ``"unknown"`` and not refused;
* **funding**: the free quote balance must pay for one minimum order (the instrument's ``min_notional`` and
  ``min_qty`` at the last price, on the lot grid), unless the account holds at least that much of the base
  asset: a bot restarted with its money in a position must still be able to protect and sell it.
"""

from __future__ import annotations

import http.client
import json
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from tradewarden.data.retry import RetryPolicy
from tradewarden.domain.instrument import Instrument, Rounding
from tradewarden.runtime.live_gate import LiveGateError
from tradewarden.simulator.client_config import SIMULATOR_NAME
from tradewarden.venues.exchange_state import ExchangeViewError, exact, read, total_balances

#: how long the boot waits for ``/_sim/info`` from a configured endpoint (a real exchange answers 404 at once)
PROBE_TIMEOUT_S = 3.0


@dataclass(frozen=True)
class Endpoint:
    """Where the exchange's orders really go, as ``BOOT_SEAL`` names it."""

    label: str
    origin: str | None  # scheme://host[:port] of the configured private REST URL; None: the exchange's own
    simulator: bool


def origin_of(url: str) -> str | None:
    """``scheme://host[:port]`` of ``url`` (credentials in it dropped), None when it is not a URL."""
    parts = urlsplit(url)
    if not parts.scheme or not parts.hostname:
        return None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")


def configured_origin(urls: Mapping[str, Any] | None, sandbox: bool) -> str | None:
    """The origin of the private REST URL (where orders go) that ``exchange.urls`` sets, if it sets one.

    The shapes are those :class:`tradewarden.data.exchange.ExchangeSettings` accepts: ``{"api": ..., "test":
    ...}`` (``test`` in sandbox mode) or the bare api map used for both; in each, ``private`` or else the first
    URL found.
    """
    if not urls:
        return None
    section: Any = urls
    if "api" in urls or "test" in urls:
        section = urls.get("test" if sandbox else "api", urls.get("api"))
    if isinstance(section, str):
        return origin_of(section)
    if not isinstance(section, Mapping):
        return None
    private = section.get("private")
    if isinstance(private, str):
        return origin_of(private)
    return next((o for o in map(_first_url, section.values()) if o is not None), None)


def _first_url(value: Any) -> str | None:
    if isinstance(value, str):
        return origin_of(value) if value.startswith(("http://", "https://")) else None
    if isinstance(value, Mapping):
        return next((o for o in map(_first_url, value.values()) if o is not None), None)
    return None


def answers_as_simulator(origin: str, timeout: float = PROBE_TIMEOUT_S) -> bool:
    """Whether ``origin`` answers ``GET /_sim/info`` as the tradewarden simulator (any failure: no)."""
    if not origin.startswith(("http://", "https://")):
        return False
    # straight to the endpoint, as ccxt goes: an HTTP(S)_PROXY of the environment must not answer for it
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"{origin}/_sim/info", timeout=timeout) as resp:
            info = json.loads(resp.read(65_536))
    except (OSError, ValueError, http.client.HTTPException):  # down, not HTTP, not JSON: not the simulator
        return False
    return isinstance(info, dict) and info.get("simulator") == SIMULATOR_NAME


def identify_endpoint(exchange_id: str, urls: Mapping[str, Any] | None, sandbox: bool,
                      probe: Callable[[str], bool] = answers_as_simulator) -> Endpoint:
    """The endpoint a configured exchange really trades on: its own, the simulator's, or another URL."""
    origin = configured_origin(urls, sandbox)
    if origin is None:
        return Endpoint(f"{exchange_id} (sandbox)" if sandbox else exchange_id, None, False)
    if probe(origin):
        return Endpoint(f"{exchange_id} via simulator at {origin}", origin, True)
    return Endpoint(f"{exchange_id} via {origin}", origin, False)


# -- the key's permissions ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class KeyPermissions:
    can_withdraw: bool | None  # None: the exchange does not say (or could not be asked)
    source: str  # the endpoint that answered, or why there is no answer

    @property
    def recorded(self) -> bool | str:
        """The ``SAFETY_CHECKS`` value: true, false or "unknown"."""
        return "unknown" if self.can_withdraw is None else self.can_withdraw


def _binance_permissions(rest: Any, retry: RetryPolicy) -> KeyPermissions:
    api = rest.urls.get("api")
    sapi = api.get("sapi") if isinstance(api, Mapping) else None
    private = api.get("private") if isinstance(api, Mapping) else None
    if not isinstance(sapi, str) or not isinstance(private, str):
        return KeyPermissions(None, "this endpoint has no wallet API (sapi), e.g. the testnet")
    # the signed request goes only where the orders go: exchange.urls that move the trading API but not sapi
    # would otherwise send the key to api.binance.com
    if origin_of(sapi) != origin_of(private):
        return KeyPermissions(None, f"the wallet API ({origin_of(sapi)}) is not where orders go "
                                    f"({origin_of(private)}); set exchange.urls api.sapi to ask it")
    try:
        answer = read(retry, "binance key permissions", rest.sapi_get_account_apirestrictions)
    except ExchangeViewError as exc:
        return KeyPermissions(None, str(exc))
    flag = answer.get("enableWithdrawals") if isinstance(answer, Mapping) else None
    if not isinstance(flag, bool):
        return KeyPermissions(None, "GET /sapi/v1/account/apiRestrictions answered without enableWithdrawals")
    return KeyPermissions(flag, "GET /sapi/v1/account/apiRestrictions")


#: ccxt exchange id -> how to read a key's permissions there; exchanges not listed do not report them
PERMISSION_READERS: dict[str, Callable[[Any, RetryPolicy], KeyPermissions]] = {"binance": _binance_permissions}


def read_key_permissions(rest: Any, retry: RetryPolicy) -> KeyPermissions:
    reader = PERMISSION_READERS.get(str(rest.id))
    if reader is None:
        return KeyPermissions(None, f"{rest.id} does not report an API key's permissions")
    return reader(rest, retry)


# -- funding ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Funding:
    instrument: Instrument
    free_quote: Decimal
    base_held: Decimal  # free and locked (a protective stop locks it)
    price: Decimal
    min_order_qty: Decimal
    min_order_quote: Decimal

    @property
    def funded(self) -> bool:
        """One minimum buy paid from free quote, or one minimum sell of what the account holds."""
        return self.free_quote >= self.min_order_quote or self.base_held >= self.min_order_qty

    def fields(self) -> dict[str, Any]:
        i = self.instrument
        return {"quote": i.quote, "free_quote": str(self.free_quote), "base_held": str(self.base_held),
                "price": str(self.price), "min_order_qty": str(self.min_order_qty),
                "min_order_quote": str(self.min_order_quote)}


def minimum_order(instrument: Instrument, price: Decimal) -> tuple[Decimal, Decimal]:
    """(quantity, quote cost) of the smallest order the filters accept at ``price``, on the lot grid."""
    qty = max(instrument.min_qty, instrument.step_size)
    if instrument.min_notional:
        qty = max(qty, instrument.round_qty(instrument.min_notional / price, Rounding.UP))
    return qty, qty * price


def free_balance(balance: Mapping[str, Any], asset: str) -> Decimal:
    """The free amount of ``asset`` in ccxt's ``fetch_balance`` answer (Binance's raw string when present)."""
    info = balance.get("info")
    rows = info.get("balances") if isinstance(info, Mapping) else None
    if isinstance(rows, list):
        for row in rows:
            if isinstance(row, Mapping) and row.get("asset") == asset:
                return exact({"info": row}, "free", "free", f"balance {asset}")
        return Decimal(0)
    free = balance.get("free")
    amount = free.get(asset) if isinstance(free, Mapping) else None
    return Decimal(0) if amount is None else exact({"free": amount}, "free", "free", f"balance {asset}")


def read_funding(rest: Any, instrument: Instrument, retry: RetryPolicy) -> Funding:
    name = str(rest.id)
    balance = read(retry, f"{name} fetch_balance", rest.fetch_balance)
    ticker = read(retry, f"{name} fetch_ticker {instrument.symbol}", rest.fetch_ticker, instrument.symbol)
    price = exact(ticker, "lastPrice", "last", f"ticker {instrument.symbol}")
    if price <= 0:
        raise ExchangeViewError(f"ticker {instrument.symbol}: last price {price} is not positive")
    qty, cost = minimum_order(instrument, price)
    return Funding(instrument, free_balance(balance, instrument.quote),
                   total_balances(balance).get(instrument.base, Decimal(0)), price, qty, cost)


# -- the boot check -----------------------------------------------------------------------------------------
def live_account_checks(rest: Any, instrument: Instrument, retry: RetryPolicy,
                        allow_withdrawal_keys: bool) -> tuple[dict[str, Any], LiveGateError | None]:
    """The ``SAFETY_CHECKS`` fields of a live boot, and the refusal they call for (None: go on).

    A balance or price that cannot be read raises :class:`ExchangeViewError` (the session cannot start, but
    a restart may help: exit 1, not a refusal).
    """
    permissions = read_key_permissions(rest, retry)
    funding = read_funding(rest, instrument, retry)
    checks: dict[str, Any] = {"key_can_withdraw": permissions.recorded, "key_permissions": permissions.source,
                              "withdrawal_keys_allowed": allow_withdrawal_keys, **funding.fields()}
    if permissions.can_withdraw and not allow_withdrawal_keys:
        return checks, LiveGateError(
            "KEY_CAN_WITHDRAW",
            "the API key can withdraw funds (the exchange says so); a trading bot never needs that, and a leaked "
            "key that can withdraw can empty the account. Use a key with withdrawals disabled, or set "
            "exchange.allow_withdrawal_keys = true to accept the risk (it changes the config hash)",
        )
    if not funding.funded:
        i = instrument
        return checks, LiveGateError(
            "INSUFFICIENT_BALANCE",
            f"the account cannot fund one minimum order: free {i.quote} {funding.free_quote} is less than "
            f"{funding.min_order_quote} ({funding.min_order_qty} {i.base} at {funding.price}; min_notional "
            f"{i.min_notional}, min_qty {i.min_qty}) and it holds no {i.base} to sell. Deposit {i.quote}, or "
            "check that the key belongs to the intended account",
        )
    return checks, None
