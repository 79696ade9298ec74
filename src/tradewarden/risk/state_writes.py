"""The risk manager's foundation: the fields its layers share and when its state is written.

:class:`StateWrites` holds the configuration, the event sink, the audit trail, the store and the book (the
whole mutable risk state), and decides when the book is saved and the audit trail's head synced: at once after
each hook, or once at the end of a :meth:`StateWrites.writes_held` block (a candle step). ``RiskStore`` is what
it needs from persistence; ``serialized`` puts a public method under the manager's one re-entrant lock (see
:mod:`tradewarden.risk.manager`). The trading-state machine (:mod:`tradewarden.risk.state_machine`) and the gate
(:class:`tradewarden.risk.manager.RiskManager`) are built on it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

from tradewarden.domain.instrument import Instrument
from tradewarden.domain.ports import EventSink
from tradewarden.risk.audit import AuditTrail
from tradewarden.risk.book import RiskBook
from tradewarden.risk.config import RiskConfig
from tradewarden.risk.counters import RiskCounters
from tradewarden.risk.killswitch import KillSwitchStatus
from tradewarden.risk.snapshot import OperatorCommand, RiskSnapshot


class RiskStore(Protocol):
    """What the manager needs from persistence (:class:`tradewarden.risk.store.RiskStateStore`)."""

    def kill_switch(self) -> KillSwitchStatus: ...

    def set_kill_switch(self, active: bool, reason: str, actor: str, ts: int) -> KillSwitchStatus: ...

    def acknowledge_kill_switch(self, event_id: int, bot: str, ts: int) -> None: ...

    def pending_commands(self) -> list[OperatorCommand]: ...

    def command_done(self, command_id: int, ts: int, outcome: str) -> None: ...

    def load(self) -> RiskSnapshot: ...

    def save(self, snap: RiskSnapshot, ts: int) -> None: ...


_P = ParamSpec("_P")
_R = TypeVar("_R")
_Self = TypeVar("_Self", bound="StateWrites")


def serialized(method: Callable[Concatenate[_Self, _P], _R]) -> Callable[Concatenate[_Self, _P], _R]:
    """Run ``method`` holding the manager's lock (see :mod:`tradewarden.risk.manager`)."""
    def locked(self: _Self, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        with self.lock:
            return method(self, *args, **kwargs)

    locked.__doc__, locked.__name__ = method.__doc__, method.__name__
    return locked


class StateWrites:
    """The shared fields of the risk manager and the writing of its state (see the module docstring)."""

    def __init__(self, config: RiskConfig, events: EventSink, audit: AuditTrail | None = None,
                 store: RiskStore | None = None, instruments: Mapping[str, Instrument] | None = None) -> None:
        self.config = config
        self.rules = config.effective()  # the active stage's limits applied
        self.events = events
        self.audit = audit
        self.store = store
        self.instruments = None if instruments is None else dict(instruments)
        self.book = RiskBook.restore(store.load()) if store is not None else RiskBook()
        self._started = False
        self._dirty = False
        self._held = 0  # inside writes_held(): the hooks leave the store write to the end of the block
        self._held_ts: int | None = None
        self._acked = 0  # the kill switch event this bot last acknowledged
        # see tradewarden.risk.manager's docstring; callers may hold it over several calls
        self.lock = threading.RLock()

    @property
    def counters(self) -> RiskCounters:
        return self.book.counters

    # -- persistence ---------------------------------------------------------------------------------------
    def _audit(self, type_: str, ts: int, **fields: Any) -> None:
        if self.audit is not None:
            self.audit.append(type_, ts, **fields)
            if self._held:  # the trail's head is written with the state, when the step ends
                self._held_ts = ts

    def _flush(self, ts: int) -> None:
        if self._held:
            if self._dirty or (self.audit is not None and self.audit.pending):
                self._held_ts = ts
            return
        self._write(ts)

    def _write(self, ts: int) -> None:
        if self.store is not None and self._dirty:
            self.store.save(self.book.snapshot(), ts)
        self._dirty = False
        if self.audit is not None:
            self.audit.sync(ts)  # the head of an account's trail, after the records it covers

    @contextmanager
    def writes_held(self) -> Iterator[None]:
        """Within the block the hooks change the state in memory only; it is written once, when the block ends
        (stamped with the time of the last hook that changed it, as the last of the separate writes would have
        been).

        The runtime wraps each candle step in it, so the database write of the candle's mark follows the order
        the candle causes instead of delaying it. Events and audit records are still written at once. A crash
        inside the block loses only state the restart recomputes: the session resumes from the step before,
        so the candle is marked again.
        """
        with self.lock:
            self._held += 1
        try:
            yield
        finally:
            with self.lock:
                self._held -= 1
                if not self._held and self._held_ts is not None:
                    ts, self._held_ts = self._held_ts, None
                    self._write(ts)

    @serialized
    def flush(self, ts: int) -> None:
        """Write the state to the store now, inside :meth:`writes_held` too (denial counters from ``check``
        are otherwise written at the next hook call)."""
        self._dirty = True
        self._write(ts)
