"""The boot's choice of filters: the exchange's, unless the config or the stored session disagrees."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import ccxt
import pytest

from tradewarden.config import load_config
from tradewarden.data.retry import RetryPolicy
from tradewarden.domain.instrument import Instrument
from tradewarden.persistence import Database
from tradewarden.persistence.runtime_store import RuntimeStore
from tradewarden.runtime.instruments import (
    FiltersRefused,
    configured_filters,
    decide_instrument,
    record_instruments,
    recorded_instrument,
    session_instruments,
)
from tradewarden.venues.markets import TICK_SIZE

ETH = Instrument("ETH/USDT", "ETH", "USDT", Decimal("0.01"), Decimal("0.0001"), Decimal("0.0001"), Decimal(9000),
                 Decimal(5))


class Markets:
    """A ccxt exchange's ``load_markets``: the first call fails as a busy exchange does, then the markets."""

    precisionMode = TICK_SIZE  # noqa: N815 (ccxt's name)

    def __init__(self, markets: Mapping[str, Any]) -> None:
        self.markets = markets
        self.calls = 0

    def load_markets(self) -> Mapping[str, Any]:
        self.calls += 1
        if self.calls == 1:
            raise ccxt.ExchangeNotAvailable("503 Service Unavailable")
        return self.markets


ETH_MARKET = {"ETH/USDT": {"symbol": "ETH/USDT", "base": "ETH", "quote": "USDT", "active": True,
                           "precision": {"price": 0.01, "amount": 0.0001},
                           "limits": {"amount": {"min": 0.0001, "max": 9000.0}, "cost": {"min": 5.0}}}}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[RuntimeStore]:
    with Database.open(None, tmp_path) as db:
        yield RuntimeStore(db, "live:binance:ETH/USDT:sma_cross")


def retry() -> RetryPolicy:
    return RetryPolicy(sleep=lambda _s: None, max_total_s=60.0)


def test_only_the_filters_the_user_set_are_checked() -> None:
    assert configured_filters(load_config(None, {}, env={})) == {}
    cfg = load_config(None, {"instrument.tick_size": "0.01", "instrument.min_notional": "10"}, env={})
    assert configured_filters(cfg) == {"tick_size": Decimal("0.01"), "min_notional": Decimal(10)}


def test_the_exchange_wins_where_nothing_disagrees() -> None:
    assert decide_instrument(ETH, {}, None) is ETH
    assert decide_instrument(ETH, {"step_size": Decimal("0.00010")}, {"step_size": Decimal("0.0001")}) is ETH


def test_a_config_value_that_disagrees_is_refused_with_both_values() -> None:
    with pytest.raises(FiltersRefused) as refused:
        decide_instrument(ETH, {"min_notional": Decimal(10), "tick_size": Decimal("0.01")}, None)
    assert refused.value.reason == "FILTERS_MISMATCH"
    assert refused.value.details() == [{"symbol": "ETH/USDT", "field": "min_notional", "ours": "10",
                                        "exchange": "5"}]
    assert "ETH/USDT min_notional: config 10, exchange 5" in str(refused.value)


def test_boot_loads_markets_under_the_retry_policy_and_stores_what_it_trades_on(store: RuntimeStore) -> None:
    cfg = load_config(None, {"market.symbol": "ETH/USDT", "exchange.id": "binance"}, env={})
    exchange = Markets(ETH_MARKET)
    instruments = session_instruments(cfg, ["ETH/USDT"], exchange, retry(), store)
    assert exchange.calls == 2 and instruments == {"ETH/USDT": ETH}
    record_instruments(store, instruments, 1)
    # the account's session is now stored on those filters; the exchange changes its step before the restart
    with store.step() as w:
        w.save_snapshot("session", {"completed": True}, 2)
    changed = {"ETH/USDT": {**ETH_MARKET["ETH/USDT"], "precision": {"price": 0.01, "amount": 0.001}}}
    with pytest.raises(FiltersRefused) as refused:
        session_instruments(cfg, ["ETH/USDT"], Markets(changed), retry(), store)
    assert refused.value.reason == "FILTERS_CHANGED"
    assert [(d.field, d.ours, d.exchange) for d in refused.value.differences] == [
        ("step_size", Decimal("0.0001"), Decimal("0.001"))]


def test_a_session_stored_before_the_filters_were_recorded_was_booked_on_the_configs(store: RuntimeStore) -> None:
    cfg = load_config(None, {"market.symbol": "ETH/USDT", "exchange.id": "binance"}, env={})
    with store.step() as w:
        w.save_snapshot("session", {"completed": False}, 1)
    with pytest.raises(FiltersRefused) as refused:  # the config's default step is BTC's 0.00001
        session_instruments(cfg, ["ETH/USDT"], Markets(ETH_MARKET), retry(), store)
    assert refused.value.reason == "FILTERS_CHANGED"


def test_a_symbol_the_exchange_does_not_trade_is_named(store: RuntimeStore) -> None:
    cfg = load_config(None, {"market.symbol": "ETH/BTC", "exchange.id": "binance"}, env={})
    with pytest.raises(FiltersRefused, match="no market ETH/BTC") as refused:
        session_instruments(cfg, ["ETH/BTC"], Markets(ETH_MARKET), retry(), store)
    assert refused.value.reason == "MARKET_UNAVAILABLE"


def test_a_replay_trades_on_the_recorded_filters_or_on_the_configs_for_an_older_recording() -> None:
    cfg = load_config(None, {"market.symbol": "ETH/USDT"}, env={})
    sealed = {"ETH/USDT": {"tick_size": "0.01", "step_size": "0.0001", "min_qty": "0.0001", "max_qty": "9000",
                           "min_notional": "5"}}
    assert recorded_instrument(cfg, sealed) == ETH
    assert recorded_instrument(cfg, None) == cfg.trading_instrument()
    with pytest.raises(ValueError, match="recorded filters of ETH/USDT"):
        recorded_instrument(cfg, {"ETH/USDT": {**sealed["ETH/USDT"], "step_size": "x"}})
