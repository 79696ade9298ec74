"""Works for the fleet's tests, with the factory signature of ``market_data_work``: ``(AppConfig) -> work``.

They stand in for the market-data work where a test is about the runner and the agent (lifecycle, lease,
signals, restarts), so the instance processes run the real ``tradewarden instance run`` and only the work
differs. Subprocesses import this module with ``tests/fleet`` on ``PYTHONPATH``
(``--work instance_works:steady_work``).
"""

from __future__ import annotations

import asyncio

from tradewarden.config import AppConfig
from tradewarden.fleet.work import InstanceHooks, InstanceWork
from tradewarden.persistence.fleet_repo import ExchangeView, InstanceView, WarmupProgress

CANDLES_PER_SERIES = 100


def steady_work(config: AppConfig) -> InstanceWork:
    """Warms up each symbol and timeframe (publishing progress), then serves until asked to stop."""

    async def work(instance: InstanceView, exchange: ExchangeView, hooks: InstanceHooks,
                   stop: asyncio.Event) -> None:
        series = [(s, tf) for s in instance.symbols for tf in instance.timeframes]
        hooks.warming(f"warming {len(series)} series of {exchange.slug}")
        for done in range(1, len(series) + 1):
            hooks.progress(WarmupProgress(done // len(instance.timeframes), len(instance.symbols),
                                          done * CANDLES_PER_SERIES, len(series) * CANDLES_PER_SERIES))
            await asyncio.sleep(0)
        hooks.active(f"{len(series)} series warm")
        await stop.wait()

    return work


def failing_work(config: AppConfig) -> InstanceWork:
    """Fails during its warm-up, as a work does when the exchange refuses it."""

    async def work(instance: InstanceView, exchange: ExchangeView, hooks: InstanceHooks,
                   stop: asyncio.Event) -> None:
        hooks.warming("warming")
        raise ConnectionError(f"{exchange.slug} refused the connection\nsecond line never shown")

    return work


#: the file under ``data_dir`` whose existence lets :func:`gated_work`'s warm-up go on
GATE = "warmup-gate"


def gated_work(config: AppConfig) -> InstanceWork:
    """Warms up like :func:`steady_work`, but holds at 0 % until the test creates ``data_dir/warmup-gate``, so
    a page can be seen showing ``warming`` and its bar however slow the page is; once the gate exists (a
    restart after it), the warm-up runs straight through."""
    gate = config.data_dir / GATE

    async def work(instance: InstanceView, exchange: ExchangeView, hooks: InstanceHooks,
                   stop: asyncio.Event) -> None:
        series = [(s, tf) for s in instance.symbols for tf in instance.timeframes]
        total = len(series) * CANDLES_PER_SERIES
        hooks.warming(f"warming {len(series)} series of {exchange.slug}")
        hooks.progress(WarmupProgress(0, len(instance.symbols), 0, total))
        while not gate.exists():
            try:
                await asyncio.wait_for(stop.wait(), 0.1)
                return
            except TimeoutError:
                pass
        for done in range(1, len(series) + 1):
            hooks.progress(WarmupProgress(done // len(instance.timeframes), len(instance.symbols),
                                          done * CANDLES_PER_SERIES, total))
            await asyncio.sleep(0)
        hooks.active(f"{len(series)} series warm")
        await stop.wait()

    return work
