"""A list that keeps only its newest items: the per-bar and per-fill records of a session running for weeks.

A session's engine appends a bar, an equity mark, a fill or a trade per candle or per order; kept whole, those
lists grow with the session's length. A :class:`Window` counts every item ever appended and indexes them by
that absolute position, but holds only the newest ``keep`` (up to twice as many, so trimming is amortised):
the state keeper writes each item to the store while it is still held, and the reports at the end read the
full series back from the store. Without ``keep`` (backtests, which are batch) it holds everything.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Generic, TypeVar, overload

T = TypeVar("T")

#: bars, fills and trades an engine of a session (``run``, and ``replay`` of one) holds in memory; its state keeper
#: stores all of them. At least two chunks of the stored series (a step rewrites the chunk that grew from its start)
SESSION_WINDOW = 1024


def session_history_bars(lookback: int) -> int:
    """Candles an engine of a session keeps for its strategy (:attr:`History.max_bars`): a few lookbacks."""
    return max(4 * lookback, 2_000)


class Window(Generic[T]):
    def __init__(self, keep: int | None = None) -> None:
        if keep is not None and keep < 1:
            raise ValueError(f"a window keeps at least one item, not {keep}")
        self.keep = keep
        self.start = 0  # absolute position of the oldest item held
        self._items: list[T] = []

    @property
    def complete(self) -> bool:
        """Whether every item ever appended is still held."""
        return self.start == 0

    def kept(self) -> list[T]:
        """The items held, oldest first (the list itself, not a copy: do not change it)."""
        return self._items

    def append(self, item: T) -> None:
        self._items.append(item)
        if self.keep is not None and len(self._items) >= 2 * self.keep:
            drop = len(self._items) - self.keep
            del self._items[:drop]
            self.start += drop

    def extend(self, items: Iterable[T]) -> None:
        for item in items:
            self.append(item)

    def __len__(self) -> int:
        """Every item ever appended, held or not."""
        return self.start + len(self._items)

    def __bool__(self) -> bool:
        return len(self) > 0

    def __iter__(self) -> Iterator[T]:
        """The items held (all of them without ``keep``)."""
        return iter(self._items)

    @overload
    def __getitem__(self, index: int) -> T: ...

    @overload
    def __getitem__(self, index: slice) -> list[T]: ...

    def __getitem__(self, index: int | slice) -> T | list[T]:
        """By absolute position, as in a list of every item; asking for one no longer held is an error."""
        total = len(self)
        if isinstance(index, slice):
            lo, hi, step = index.indices(total)
            if step != 1:
                raise ValueError("a window is read in order, without a step")
            if lo < self.start and lo < hi:
                raise IndexError(f"items {lo}..{self.start - 1} are no longer held (kept: {self.start}..{total - 1})")
            return self._items[max(lo, self.start) - self.start : max(hi, self.start) - self.start]
        pos = index + total if index < 0 else index
        if not 0 <= pos < total:
            raise IndexError(f"item {index} of {total}")
        if pos < self.start:
            raise IndexError(f"item {pos} is no longer held (kept: {self.start}..{total - 1})")
        return self._items[pos - self.start]

    def __repr__(self) -> str:
        return f"Window(keep={self.keep}, start={self.start}, held={len(self._items)})"
