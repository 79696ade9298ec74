"""What every component of the node offers: a lifecycle, and its state where it has one."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Protocol


class Component(Protocol):
    """A part of the node with a lifecycle on the event loop: ``start`` schedules its work (it returns at
    once), ``stop`` ends it and waits until it has ended."""

    def start(self) -> None: ...

    async def stop(self) -> None: ...


class Stateful(Protocol):
    """A component whose state goes into the resume snapshot (JSON types only) and comes back from it."""

    def snapshot(self) -> dict[str, object]: ...

    def restore(self, state: Mapping[str, object]) -> None: ...


class CandleRun(Protocol):
    """The candle loop of one symbol or of a portfolio: runs until ``stop`` is set or the market data ends."""

    async def run(self, stop: asyncio.Event) -> None: ...


class Scheduled(Protocol):
    def start(self) -> None: ...

    def shutdown(self, wait: bool = True) -> None: ...


class Started(Protocol):
    def start(self) -> None: ...


async def run_components(candles: CandleRun, stop: asyncio.Event, monitor: Started,
                         components: Sequence[Component], scheduler: Scheduled) -> None:
    """The node's lifecycle around its candle loop: the loop monitor, then the components in order, then the
    periodic jobs start; once the loop ends, the jobs stop and the components stop in reverse order."""
    monitor.start()
    for component in components:
        component.start()
    scheduler.start()
    try:
        await candles.run(stop)
    finally:
        scheduler.shutdown(wait=False)
        for component in reversed(components):
            await component.stop()
