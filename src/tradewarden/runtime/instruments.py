"""The session's instruments at boot: the exchange's filters, checked against the config and the stored session.

Paper, shadow and live sessions trade with the filters the exchange publishes (``load_markets``), never with
the config's: a pair traded with another pair's tick or step gets its orders rejected (``-1013``). The
``[instrument]`` section becomes a set of assertions: a value the user set that disagrees with the exchange
refuses the start (``FILTERS_MISMATCH``), values not set are the exchange's. The filters are stored with the
account, because its resume snapshot counts money and position in ticks and steps: a session stored on other
filters than the exchange's now cannot be resumed on them (``FILTERS_CHANGED``). Both are refusals to start
(exit 3): starting again cannot help until the operator acts. Backtests have no exchange and keep the
config's filters.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from decimal import Decimal
from typing import Any, Protocol

from tradewarden.config.models import AppConfig
from tradewarden.data.retry import RetryPolicy
from tradewarden.domain.instrument import Instrument
from tradewarden.persistence.runtime_store import RuntimeStore
from tradewarden.venues.markets import (
    FILTER_FIELDS,
    FilterDifference,
    MarketFiltersError,
    describe,
    filter_differences,
    filters_record,
    instrument_from_market,
)

#: the snapshot (per account, beside the resume snapshot ``session``) that holds the filters it was booked on
SNAPSHOT = "instruments"


class MarketSource(Protocol):
    """The part of a ccxt exchange this module reads."""

    precisionMode: int  # noqa: N815 (ccxt's name)

    def load_markets(self) -> Mapping[str, Any]: ...


class FiltersRefused(Exception):
    """The boot refuses to trade on these filters. ``reason`` is the event type, the message what to do."""

    def __init__(self, reason: str, message: str, differences: Sequence[FilterDifference] = ()) -> None:
        super().__init__(message)
        self.reason = reason
        self.differences = list(differences)

    def details(self) -> list[dict[str, str]]:
        return [d.as_dict() for d in self.differences]


def markets_failure(exchange: str, exc: BaseException, timeout_ms: float | None) -> str:
    """One line for an operator when the exchange's markets could not be loaded at boot (the retry policy gave
    up): which exchange, what failed and where, never the library's multi-line text or a traceback."""
    import ccxt

    text = str(exc)
    url = re.search(r"\b(GET|POST) (\S+)", text)
    where = f" ({url.group(1)} {url.group(2)})" if url else ""
    if isinstance(exc, ccxt.RequestTimeout):
        after = f" after {timeout_ms / 1000:g} s" if timeout_ms else ""
        what = f"timed out{after}"
    elif isinstance(exc, ccxt.ExchangeNotAvailable | ccxt.DDoSProtection):
        what = f"the exchange is not available ({type(exc).__name__})"
    elif isinstance(exc, ccxt.NetworkError):
        what = f"failed: {_os_reason(exc) or 'network error'}"
    else:  # the exchange answered, with an error: its first line says which
        first = text.splitlines()[0][:200] if text else type(exc).__name__
        what = f"was refused: {type(exc).__name__}: {first}"
        where = ""
    return (f"exchange {exchange}: loading markets {what}{where}; check the network and exchange.urls, "
            "then start again")


def _os_reason(exc: BaseException) -> str | None:
    """``connection refused``, ``name or service not known``...: the socket error under the HTTP library's
    wrapping (ccxt only says which request failed)."""
    seen: BaseException | None = exc
    for _ in range(8):  # the chain is short; a bound keeps a cyclic one from looping
        if seen is None:
            break
        found = re.search(r"\[Errno -?\d+\] ([^\"')]+)", str(seen))
        if found:
            return found.group(1).strip().lower()
        seen = seen.__cause__ or seen.__context__
    return None


def configured_filters(cfg: AppConfig) -> dict[str, Decimal]:
    """The ``[instrument]`` values the user set (file, environment or ``--set``); defaults do not count."""
    section = cfg.instrument
    return {name: getattr(section, name) for name in FILTER_FIELDS if name in section.model_fields_set}


def decide_instrument(exchange: Instrument, configured: Mapping[str, Decimal],
                      stored: Mapping[str, Decimal] | None) -> Instrument:
    """The exchange's instrument, unless the config or the stored session disagrees with it."""
    symbol = exchange.symbol
    wrong = filter_differences(symbol, configured, exchange)
    if wrong:
        raise FiltersRefused(
            "FILTERS_MISMATCH",
            f"the config's [instrument] filters disagree with the exchange ({describe(wrong, 'config')}): "
            "remove them from the config to trade with the exchange's filters, or correct them", wrong)
    changed = filter_differences(symbol, stored, exchange) if stored is not None else []
    if changed:
        raise FiltersRefused(
            "FILTERS_CHANGED",
            f"the exchange's filters changed since this account's session was stored "
            f"({describe(changed, 'stored')}): its position and orders are booked on the old grid and cannot "
            "be resumed on the new one; settle the open orders and the position on the exchange, then start "
            "the account afresh (another database.url or data_dir)", changed)
    return exchange


def _stored_filters(cfg: AppConfig, store: RuntimeStore, symbol: str) -> dict[str, Decimal] | None:
    """The filters the account's stored session was booked on; None when there is nothing to resume."""
    session = store.snapshot("session")
    if session is None:
        return None
    if session.get("completed") and cfg.exchange.id is None:
        return None  # the built-in simulator's paper account starts over after a clean stop (session._resume)
    recorded = (store.snapshot(SNAPSHOT) or {}).get(symbol)
    if isinstance(recorded, Mapping):
        return {name: Decimal(str(recorded[name])) for name in FILTER_FIELDS if name in recorded}
    # stored before the filters came from the exchange: the session was booked on the config's
    legacy = cfg.trading_instrument()
    return {name: getattr(legacy, name) for name in FILTER_FIELDS}


def session_instruments(cfg: AppConfig, symbols: Sequence[str], exchange: MarketSource, retry: RetryPolicy,
                        store: RuntimeStore) -> dict[str, Instrument]:
    """Every traded symbol's instrument from the exchange's markets (loaded once, under the retry policy).

    Raises :class:`FiltersRefused` when a symbol has no usable market, when a filter the config sets disagrees
    with the exchange, or when the account's stored session was booked on other filters.
    """
    markets = retry.call(exchange.load_markets, label="load_markets")
    mode = exchange.precisionMode
    configured = configured_filters(cfg)
    out: dict[str, Instrument] = {}
    for symbol in symbols:
        try:
            from_exchange = instrument_from_market(symbol, markets, mode)
        except MarketFiltersError as exc:
            raise FiltersRefused("MARKET_UNAVAILABLE", str(exc)) from None
        out[symbol] = decide_instrument(from_exchange, configured, _stored_filters(cfg, store, symbol))
    return out


def record_instruments(store: RuntimeStore, instruments: Mapping[str, Instrument], ts: int) -> None:
    """Store the filters the session trades on with the account (after its resume, which may reset it)."""
    with store.step() as w:
        w.save_snapshot(SNAPSHOT, {s: filters_record(i) for s, i in instruments.items()}, ts)


def seal(instruments: Mapping[str, Instrument]) -> dict[str, dict[str, str]]:
    """What ``BOOT_SEAL`` and the recording's header record: each symbol's filters as plain decimal strings."""
    return {s: filters_record(i) for s, i in instruments.items()}


def recorded_instrument(cfg: AppConfig, sealed: object) -> Instrument:
    """The instrument a recorded session traded on (``replay``): the filters its header records, or the config's
    for a recording made before the filters came from the exchange."""
    inst = cfg.trading_instrument()
    filters = sealed.get(inst.symbol) if isinstance(sealed, Mapping) else None
    if not isinstance(filters, Mapping):
        return inst
    try:
        tick, step, min_qty, max_qty, min_notional = (Decimal(str(filters[name])) for name in FILTER_FIELDS)
        return replace(inst, tick_size=tick, step_size=step, min_qty=min_qty, max_qty=max_qty,
                       min_notional=min_notional)
    except (KeyError, ArithmeticError, ValueError) as exc:
        raise ValueError(f"the recorded filters of {inst.symbol} are not valid: {exc!r}") from None
