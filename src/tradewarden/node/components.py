"""What every component of the node offers: a lifecycle, and its state where it has one."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import Iterator, Mapping, Sequence
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
    periodic jobs start; once the loop ends, the jobs stop and the components stop in reverse order. The
    objects of the boot are frozen out of the garbage collector meanwhile (:func:`boot_heap_frozen`)."""
    with boot_heap_frozen():
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


@contextlib.contextmanager
def boot_heap_frozen() -> Iterator[None]:
    """Keep what the boot allocated out of the cyclic garbage collector's full collections while the session
    runs; give it back afterwards.

    By the end of the boot the process holds some 400,000 tracked objects (ccxt's and SQLAlchemy's modules,
    markets, the strategies, the in-process simulator) that live as long as the session. A full collection
    walks every one of them while holding the GIL: 150 to 550 ms, during which the event loop (feed, kill
    switch, heartbeat) and the simulator's thread wait; it was the longest stall of the loop. Frozen
    (:func:`gc.freeze`), they are never walked again, and a full collection walks only what the session
    allocated since. Nothing is collected first: a collection here would be the same stall, and the cyclic
    garbage of the boot (a few hundred objects) is kept instead. Unfrozen at the end, so a process that runs
    several sessions (the tests) gets its memory back."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
