"""What every component of the node offers: a lifecycle, and its state where it has one."""

from __future__ import annotations

from collections.abc import Mapping
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
