"""Fixtures: an in-process simulator on a free port (stepped clock) and ccxt clients pointed at it."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import ccxt
import pytest

from tradewarden.simulator.config import SimConfig
from tradewarden.simulator.exchange import Exchange
from tradewarden.simulator.testing import SimulatorHandle, start_simulator


@pytest.fixture
def sim() -> Iterator[SimulatorHandle]:
    """A fresh simulator: bundled BTC/USDT 1h sample, seed 1, stepped clock, 10 000 USDT."""
    with start_simulator(seed=1, start_index=100, balances={"USDT": "10000", "BTC": "0.5"}) as handle:
        yield handle


@pytest.fixture
def binance(sim: SimulatorHandle) -> Any:
    """Unmodified sync ccxt with the protocol notes' config, markets loaded."""
    exchange = ccxt.binance(sim.ccxt_config())
    exchange.load_markets()
    return exchange


@pytest.fixture
def core() -> Exchange:
    """The exchange core without a server (no I/O), started."""
    ex = Exchange(SimConfig(balances={"USDT": Decimal("10000"), "BTC": Decimal("1")}))
    ex.start()
    return ex
