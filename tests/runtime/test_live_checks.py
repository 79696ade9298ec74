"""The live boot's exchange checks, against the simulator through ccxt: the endpoint's name, the key's
permissions (and where that question may be sent), and whether the account can fund one order."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from decimal import Decimal

import ccxt
import pytest

from tradewarden.data.retry import RetryPolicy
from tradewarden.domain.instrument import Instrument
from tradewarden.runtime.live_checks import (
    configured_origin,
    identify_endpoint,
    live_account_checks,
    minimum_order,
    read_key_permissions,
)
from tradewarden.simulator.testing import SimulatorHandle, start_simulator

BTC = Instrument.default_spot("BTC/USDT")


@pytest.fixture
def sim() -> Iterator[SimulatorHandle]:
    with start_simulator(balances={"USDT": "10000", "BTC": "0"}) as handle:
        yield handle


def closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_the_simulator_given_in_urls_is_named_as_such(sim: SimulatorHandle) -> None:
    urls = sim.ccxt_config()["urls"]
    endpoint = identify_endpoint("binance", urls, sandbox=False)
    assert endpoint.simulator and endpoint.label == f"binance via simulator at {sim.base_url}"
    # the bare api-URL map (used for both modes) is read the same way
    assert identify_endpoint("binance", urls["api"], sandbox=True).label == endpoint.label


def test_another_endpoint_is_named_by_its_url_and_the_exchange_by_its_id() -> None:
    port = closed_port()
    other = identify_endpoint("binance", {"api": {"private": f"http://user:pw@127.0.0.1:{port}/api/v3"}}, False)
    assert not other.simulator and other.label == f"binance via http://127.0.0.1:{port}"  # no credentials shown
    assert identify_endpoint("binance", None, sandbox=False).label == "binance"
    assert identify_endpoint("binance", None, sandbox=True).label == "binance (sandbox)"


@pytest.mark.parametrize(("urls", "sandbox", "origin"), [
    ({"api": {"public": "https://a.example/api", "private": "https://b.example:8443/api"}}, False,
     "https://b.example:8443"),
    ({"api": {"private": "https://a.example/api"}, "test": {"private": "http://127.0.0.1:9/api"}}, True,
     "http://127.0.0.1:9"),
    ({"api": "http://127.0.0.1:8765"}, False, "http://127.0.0.1:8765"),
    ({"public": "http://[::1]:8765/api/v3"}, False, "http://[::1]:8765"),
    ({"api": {"ws": {"spot": "ws://127.0.0.1:1/ws"}}}, False, None),
    ({}, False, None),
])
def test_configured_origin_is_where_orders_go(urls: dict[str, object], sandbox: bool, origin: str | None) -> None:
    assert configured_origin(urls, sandbox) == origin


def test_key_permissions_are_read_through_ccxt(sim: SimulatorHandle) -> None:
    rest = ccxt.binance(sim.ccxt_config())
    permissions = read_key_permissions(rest, RetryPolicy(exchange=rest))
    assert permissions.can_withdraw is False and permissions.recorded is False
    with start_simulator(key_can_withdraw=True) as withdrawing:
        rest = ccxt.binance(withdrawing.ccxt_config())
        assert read_key_permissions(rest, RetryPolicy(exchange=rest)).recorded is True


def test_the_key_is_never_sent_to_a_wallet_api_elsewhere_than_the_trading_api(sim: SimulatorHandle) -> None:
    conf = sim.ccxt_config()
    del conf["urls"]["api"]["sapi"]  # trading at the simulator, ccxt's default sapi is api.binance.com
    rest = ccxt.binance(conf)
    sent: list[str] = []

    def fetch(url: str, *args: object, **kwargs: object) -> None:  # every ccxt request passes here
        sent.append(url)
        raise ccxt.NetworkError("not sent in this test")

    rest.fetch = fetch
    permissions = read_key_permissions(rest, RetryPolicy(exchange=rest))
    assert permissions.can_withdraw is None and permissions.recorded == "unknown"
    assert "api.binance.com" in permissions.source
    assert sent == []


def test_an_exchange_that_does_not_report_permissions_is_unknown() -> None:
    rest = ccxt.kraken()
    permissions = read_key_permissions(rest, RetryPolicy(exchange=rest))
    assert permissions.recorded == "unknown" and "kraken" in permissions.source


@pytest.mark.parametrize(("price", "qty", "cost"), [
    (Decimal("60000"), Decimal("0.00009"), Decimal("5.40000")),  # min_notional 5 rounded up to the lot step
    (Decimal("1000000"), Decimal("0.00001"), Decimal("10.00000")),  # min_qty binds
])
def test_minimum_order_on_the_lot_grid(price: Decimal, qty: Decimal, cost: Decimal) -> None:
    assert minimum_order(BTC, price) == (qty, cost)


@pytest.mark.parametrize(("balances", "refused"), [
    ({"USDT": "10000", "BTC": "0"}, False),
    ({"USDT": "3", "BTC": "0"}, True),
    ({"USDT": "0", "BTC": "0.01"}, False),  # the money is in a position the bot must still be able to sell
    ({"USDT": "0", "BTC": "0.000001"}, True),  # dust below one lot: nothing to sell
])
def test_funding_needs_one_minimum_order(balances: dict[str, str], refused: bool) -> None:
    with start_simulator(balances=balances) as sim:
        rest = ccxt.binance(sim.ccxt_config())
        checks, refusal = live_account_checks(rest, BTC, RetryPolicy(exchange=rest), allow_withdrawal_keys=False)
    assert Decimal(checks["free_quote"]) == Decimal(balances["USDT"])
    assert Decimal(checks["base_held"]) == Decimal(balances["BTC"])
    price = Decimal(checks["price"])
    assert (Decimal(checks["min_order_qty"]), Decimal(checks["min_order_quote"])) == minimum_order(BTC, price)
    assert (refusal is not None and refusal.reason == "INSUFFICIENT_BALANCE") is refused


def test_a_withdrawal_key_is_refused_first_unless_allowed() -> None:
    with start_simulator(balances={"USDT": "0", "BTC": "0"}, key_can_withdraw=True) as sim:
        rest = ccxt.binance(sim.ccxt_config())
        checks, refusal = live_account_checks(rest, BTC, RetryPolicy(exchange=rest), allow_withdrawal_keys=False)
        assert checks["key_can_withdraw"] is True
        assert refusal is not None and refusal.reason == "KEY_CAN_WITHDRAW"
        checks, refusal = live_account_checks(rest, BTC, RetryPolicy(exchange=rest), allow_withdrawal_keys=True)
        assert checks["withdrawal_keys_allowed"] is True
        assert refusal is not None and refusal.reason == "INSUFFICIENT_BALANCE"


def test_a_server_that_does_not_speak_http_is_not_the_simulator() -> None:
    import threading

    from tradewarden.runtime.live_checks import answers_as_simulator

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]

        def babble() -> None:  # answers anything with a line that is not an HTTP status line
            conn, _ = server.accept()
            with conn:
                conn.recv(1024)
                conn.sendall(b"SSH-2.0-OpenSSH_9.6\r\n")

        thread = threading.Thread(target=babble)
        thread.start()
        assert answers_as_simulator(f"http://127.0.0.1:{port}", timeout=5) is False
        thread.join()
