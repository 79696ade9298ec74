"""A trading instance's bot gets the registry's exchange, URLs and symbols through its environment, the cache when
Redis is configured, and its account's key pair only in live mode, read from the variables the account names;
its command line never carries a secret, and what the environment says is what the bot's config loads."""

from __future__ import annotations

from pathlib import Path

import pytest

from tradewarden.config import load_config
from tradewarden.domain.instances import DesiredState, InstanceRole, InstanceState
from tradewarden.fleet.trading import KEY_VARIABLES, BotSetupError, bot_launch
from tradewarden.persistence.fleet_repo import AccountView, ExchangeView, InstanceView, WarmupProgress

SIM = ExchangeView(7, "simx", "binance", "Sim", "http://127.0.0.1:8765", "ws://127.0.0.1:8765/stream/ws", True,
                   False)
ACCOUNT = AccountView(3, "ann", "simx", "ann main", "ANN_KEY", "ANN_SECRET", True, False)
KEY, SECRET = "canary-key-5f1c", "canary-secret-9b2e"


def instance(symbols: tuple[str, ...] = ("ETH/USDT",), timeframes: tuple[str, ...] = ("15m",)) -> InstanceView:
    return InstanceView(11, 7, "simx", 3, InstanceRole.TRADING, "box", None, InstanceState.STARTING,
                        DesiredState.RUNNING, symbols, timeframes, WarmupProgress(0, 0, 0, 0), None, None, None,
                        None)


def test_a_paper_bot_trades_the_registry_exchange_and_holds_no_key(tmp_path: Path) -> None:
    cfg = load_config(None, {"data_dir": str(tmp_path)}, env={})
    environ = {"ANN_KEY": KEY, "ANN_SECRET": SECRET, "TRADEWARDEN_EXCHANGE__API_KEY": "instance-own", "PATH": "/bin"}
    launch = bot_launch(cfg, instance(), SIM, ACCOUNT, environ, tmp_path / "my.toml")
    assert launch.command[4:7] == ("run", "--mode", "paper")
    assert "--config" in launch.command and str(tmp_path / "my.toml") in launch.command
    assert launch.run_dir.parent == tmp_path / "instances" / "trading-11"
    assert not set(KEY_VARIABLES) & set(launch.env)  # paper: the live gate refuses any key material
    assert launch.env["PATH"] == "/bin"
    bot = load_config(None, env=launch.env)
    assert (bot.exchange.id, bot.exchange.registry_slug) == ("binance", "simx")
    assert bot.market.traded_symbols == ["ETH/USDT"] and bot.market.symbol == "ETH/USDT"
    assert bot.market.timeframe == "15m"
    assert bot.exchange.urls is not None
    assert bot.exchange.urls["api"]["public"] == "http://127.0.0.1:8765/api/v3"
    assert bot.exchange.urls["api"]["ws"]["spot"] == "ws://127.0.0.1:8765/stream/ws"
    assert bot.exchange.options["fetchMarkets"] == {"types": ["spot"]}
    assert bot.exchange.api_key is None and not bot.market.warmup_from_cache


def test_several_symbols_and_a_redis_make_a_portfolio_bot_that_warms_up_from_the_cache(tmp_path: Path) -> None:
    redis = {"TRADEWARDEN_REDIS__URL": "redis://127.0.0.1:6379/15"}  # the instance's, which the bot inherits
    cfg = load_config(None, {"data_dir": str(tmp_path)}, env=redis)
    launch = bot_launch(cfg, instance(("BTC/USDT", "ETH/USDT")), SIM, ACCOUNT, redis)
    bot = load_config(None, env=launch.env)
    assert bot.market.traded_symbols == ["BTC/USDT", "ETH/USDT"]
    assert bot.market.warmup_from_cache


def test_a_live_bot_gets_the_accounts_keys_in_its_environment_only(tmp_path: Path) -> None:
    confirm = "ab" * 32
    cfg = load_config(None, {"data_dir": str(tmp_path), "fleet.trading_mode": "live",
                             "fleet.trading_live_confirm": confirm}, env={})
    launch = bot_launch(cfg, instance(), SIM, ACCOUNT, {"ANN_KEY": KEY, "ANN_SECRET": SECRET})
    assert launch.command[4:7] == ("run", "--mode", "live")
    assert launch.command[-2:] == ("--live-confirm", confirm)
    assert (launch.env["TRADEWARDEN_EXCHANGE__API_KEY"], launch.env["TRADEWARDEN_EXCHANGE__API_SECRET"]) == (KEY,
                                                                                                         SECRET)
    assert not [part for part in launch.command if KEY in part or SECRET in part]


@pytest.mark.parametrize(("account", "environ", "message"), [
    (ACCOUNT, {"ANN_KEY": KEY}, "account 3 (ann main): the API secret variable ANN_SECRET is not set in the "
                                "instance's environment"),
    (AccountView(3, "ann", "simx", "ann main", None, "ANN_SECRET", True, False), {},
     "account 3 (ann main) names no API key variable; set it with `tradewarden accounts update 3 --api-key-env"),
])
def test_a_live_bot_whose_account_keys_are_missing_is_refused_naming_the_variable(
        tmp_path: Path, account: AccountView, environ: dict[str, str], message: str) -> None:
    cfg = load_config(None, {"data_dir": str(tmp_path), "fleet.trading_mode": "live"}, env={})
    with pytest.raises(BotSetupError) as caught:
        bot_launch(cfg, instance(), SIM, account, environ)
    assert str(caught.value).startswith(message)
    assert KEY not in str(caught.value)


def test_a_registry_url_that_is_not_one_is_refused_naming_the_exchange(tmp_path: Path) -> None:
    cfg = load_config(None, {"data_dir": str(tmp_path)}, env={})
    bad = ExchangeView(7, "simx", "binance", "Sim", "ftp://nowhere", None, True, False)
    with pytest.raises(BotSetupError, match=r"exchange 'simx': rest_url 'ftp://nowhere' is not a http or https URL"):
        bot_launch(cfg, instance(), bad, ACCOUNT, {})


def test_an_instance_with_several_timeframes_is_refused_naming_them(tmp_path: Path) -> None:
    cfg = load_config(None, {"data_dir": str(tmp_path)}, env={})
    with pytest.raises(BotSetupError, match=r"instance 11: a trading bot trades one timeframe, the instance lists "
                                            r"1m, 1h; fix it in the registry"):
        bot_launch(cfg, instance(timeframes=("1m", "1h")), SIM, ACCOUNT, {})
