"""Intra-candle price paths: how the price walks from open through high and low to close.

Each candle is replayed as ``ticks`` equally spaced price steps. The path goes open, then to one extreme,
then the other, then close (which extreme comes first, and when, is drawn from a generator seeded with the
run's seed, the symbol and the candle's time), with straight lines in between rounded to the tick. The
candle's volume is split over the steps. So every candle the simulator closes equals the data candle, and
the same seed gives the same path.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from decimal import Decimal

from tradewarden.simulator.numbers import to_grid


@dataclass(frozen=True, slots=True)
class CandleBar:
    """One candle on the instrument's grids (prices on the tick, volume on the step)."""

    ts: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal


@dataclass(frozen=True, slots=True)
class PathStep:
    """One intra-candle step: the traded price, the traded quantity (may be 0) and who was the maker."""

    price: Decimal
    qty: Decimal
    buyer_is_maker: bool


@dataclass(frozen=True, slots=True)
class CandleStats:
    """What the tape of one candle adds up to: quote volume, trade count and the taker-buy side."""

    quote_volume: Decimal
    trades: int
    taker_buy_base: Decimal
    taker_buy_quote: Decimal
    first_step: int = -1  # the first and last step of the path that traded (-1: none did): the kline's trade ids
    last_step: int = -1


def price_path(
    bar: CandleBar, ticks: int, seed: int, symbol: str, tick_size: Decimal, step_size: Decimal
) -> list[PathStep]:
    rng = random.Random(f"{seed}:{symbol}:{bar.ts}")
    j1 = rng.randint(1, ticks - 3)
    j2 = rng.randint(j1 + 1, ticks - 2)
    first, second = (bar.high, bar.low) if rng.random() < 0.5 else (bar.low, bar.high)
    waypoints = [(0, bar.open), (j1, first), (j2, second), (ticks - 1, bar.close)]
    prices: list[Decimal] = []
    for (a, pa), (b, pb) in itertools.pairwise(waypoints):
        for j in range(a, b):
            prices.append(to_grid(pa + (pb - pa) * (j - a) / (b - a), tick_size))
    prices.append(bar.close)
    share = to_grid(bar.volume / ticks, step_size, "down")
    qtys = [share] * (ticks - 1) + [bar.volume - share * (ticks - 1)]
    steps: list[PathStep] = []
    previous = prices[0]
    for price, qty in zip(prices, qtys, strict=True):
        maker = price < previous or (price == previous and rng.random() < 0.5)
        steps.append(PathStep(price, qty, maker))
        previous = price
    return steps


def path_stats(path: list[PathStep]) -> CandleStats:
    quote = sum((s.price * s.qty for s in path), Decimal(0))
    takers = [s for s in path if not s.buyer_is_maker]
    traded = [j for j, s in enumerate(path) if s.qty > 0]
    return CandleStats(
        quote,
        len(traded),
        sum((s.qty for s in takers), Decimal(0)),
        sum((s.price * s.qty for s in takers), Decimal(0)),
        traded[0] if traded else -1,
        traded[-1] if traded else -1,
    )
