"""What an instance does, seen from the process that runs it: the contract between the instance runner
(lifecycle, heartbeat, lease) and an instance's work (the market-data warm-up and stream, say).

The runner moves the instance to ``starting``, then awaits the work. The work calls :meth:`InstanceHooks.
warming` before its warm-up, :meth:`InstanceHooks.progress` as it goes, and :meth:`InstanceHooks.active` once
it serves; it returns when ``stop`` is set (the runner then records ``stopping`` → ``stopped``) and raises on
a failure it cannot recover from (the runner records ``error`` with the exception's one-line message).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Protocol

from tradewarden.persistence.fleet_repo import ExchangeView, InstanceView, WarmupProgress


class InstanceHooks(Protocol):
    """How the work reports to its runner; every call is cheap and safe from the event loop."""

    def warming(self, reason: str) -> None:
        """The warm-up starts (the instance goes ``starting → warming``)."""

    def progress(self, progress: WarmupProgress) -> None:
        """Warm-up progress so far; the runner publishes the latest with its next heartbeat."""

    def active(self, reason: str) -> None:
        """The instance serves (``warming → active``, or ``starting → active`` with nothing to warm)."""


#: an instance's work: the instance and its exchange as the registry holds them, the hooks, the stop signal
InstanceWork = Callable[[InstanceView, ExchangeView, InstanceHooks, asyncio.Event], Awaitable[None]]
