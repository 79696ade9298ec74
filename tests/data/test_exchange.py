"""The exchange factory: any ccxt id, URL and option overrides, sync/async/pro, sandbox, clear errors."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tradewarden.data.exchange import (
    ExchangeConfigError,
    ExchangeSettings,
    make_exchange,
    settings_from_ccxt_config,
    settings_from_config,
)

LOCAL = {
    "public": "http://127.0.0.1:9/api/v3",
    "private": "http://127.0.0.1:9/api/v3",
    "ws": {"spot": "ws://127.0.0.1:9/ws"},
}


@pytest.mark.parametrize("flavor", ["sync", "async", "pro"])
def test_url_overrides_reach_every_flavor_and_survive_sandbox(flavor: str) -> None:
    s = ExchangeSettings(
        id="binance",
        urls=LOCAL,
        options={"fetchMarkets": {"types": ["spot"]}},
        sandbox=True,
        api_key="k",
        api_secret="s",
    )
    ex = make_exchange(s, flavor)  # type: ignore[arg-type]
    assert ex.urls["api"]["public"] == LOCAL["public"]  # sandbox swapped in urls.test, which is local too
    assert ex.options["fetchMarkets"]["types"] == ["spot"]
    assert ex.apiKey == "k" and ex.secret == "s"


def test_other_exchange_ids_work() -> None:
    assert make_exchange(ExchangeSettings(id="kraken")).id == "kraken"


def test_unknown_exchange_and_flavor_are_clear() -> None:
    with pytest.raises(ExchangeConfigError, match="unknown exchange id 'nope'"):
        make_exchange(ExchangeSettings(id="nope"))
    with pytest.raises(ExchangeConfigError, match="unknown exchange flavor"):
        make_exchange(ExchangeSettings(id="binance"), "grpc")  # type: ignore[arg-type]


def test_secrets_stay_out_of_repr() -> None:
    s = ExchangeSettings(id="binance", api_key="KEY123", api_secret="SECRET456")
    assert "KEY123" not in repr(s) and "SECRET456" not in repr(s)


def test_settings_from_app_config_like_object() -> None:
    secret = SimpleNamespace(get_secret_value=lambda: "sek")
    cfg = SimpleNamespace(
        exchange=SimpleNamespace(
            id="binance",
            urls={"api": LOCAL},
            options={"a": 1},
            api_key="key",
            api_secret=secret,
            sandbox=False,
        )
    )
    s = settings_from_config(cfg)
    assert (s.id, s.api_key, s.api_secret, s.options) == ("binance", "key", "sek", {"a": 1})
    assert s.ccxt_config()["urls"] == {"api": LOCAL}
    other = settings_from_config(cfg, "kraken")  # a different exchange does not inherit binance's overrides
    assert (other.id, other.urls, other.api_key) == ("kraken", {}, None)
    with pytest.raises(ExchangeConfigError, match="no exchange given"):
        settings_from_config(SimpleNamespace(exchange=SimpleNamespace(id=None)))


def test_settings_from_ccxt_config_round_trip() -> None:
    raw = {
        "apiKey": "k",
        "secret": "s",
        "urls": {"api": LOCAL, "test": LOCAL},
        "options": {"x": 1},
        "enableRateLimit": False,
        "timeout": 3000,
        "verbose": False,
    }
    s = settings_from_ccxt_config("binance", raw)
    # Binance's own 5 s request window unless the settings say otherwise
    assert s.ccxt_config() == {**raw, "options": {"recvWindow": 5000, "x": 1}}
    again = settings_from_ccxt_config("binance", {**raw, "options": {"recvWindow": 8000}})
    assert again.ccxt_config()["options"] == {"recvWindow": 8000}
