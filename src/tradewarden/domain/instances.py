"""Fleet instances and their lifecycle, written as an explicit transition table (like an order's).

An instance is one process that serves one exchange: a market-data instance keeps that exchange's candles
current in the shared cache, a trading instance trades one account on it. It moves
idle → starting → warming → active → stopping → stopped, and to error from any state; a stopped or failed
instance starts again from ``starting``. Any move not in :data:`TRANSITIONS` raises
:class:`InvalidInstanceTransition`. ``lost`` is not a state anyone writes: it is how a reader shows an instance
whose heartbeat is older than the staleness limit (:func:`shown_state`), since a killed process cannot say so.
"""

from __future__ import annotations

from enum import StrEnum


class InstanceState(StrEnum):
    IDLE = "idle"
    STARTING = "starting"
    WARMING = "warming"
    ACTIVE = "active"
    STOPPING = "stopping"
    STOPPED = "stopped"
    ERROR = "error"

    @property
    def is_running(self) -> bool:
        """A process should be alive and heartbeating in this state."""
        return self in RUNNING_STATES


class InstanceRole(StrEnum):
    MARKET_DATA = "market_data"
    TRADING = "trading"


class DesiredState(StrEnum):
    """What the operator asked for (the Connect and Stop buttons); the agent makes the actual state follow."""

    RUNNING = "running"
    STOPPED = "stopped"


RUNNING_STATES = frozenset({InstanceState.STARTING, InstanceState.WARMING, InstanceState.ACTIVE,
                            InstanceState.STOPPING})
#: how a reader shows a running-state instance whose heartbeat went stale
LOST = "lost"

S = InstanceState
TRANSITIONS: frozenset[tuple[InstanceState, InstanceState]] = frozenset({
    (S.IDLE, S.STARTING),
    (S.STOPPED, S.STARTING),     # started again
    (S.ERROR, S.STARTING),       # restarted after a failure (the agent, with backoff)
    (S.STARTING, S.WARMING),
    (S.STARTING, S.ACTIVE),      # nothing to warm up
    (S.WARMING, S.ACTIVE),
    (S.STARTING, S.STOPPING),
    (S.WARMING, S.STOPPING),
    (S.ACTIVE, S.STOPPING),
    (S.STOPPING, S.STOPPED),
    # a process that died while running is found by its stale heartbeat and its lease's expiry; whoever
    # takes it over records that, so a running state may also move straight to starting (a takeover)
    (S.STARTING, S.STARTING),
    (S.WARMING, S.STARTING),
    (S.ACTIVE, S.STARTING),
    (S.STOPPING, S.STARTING),
    *((state, S.ERROR) for state in S if state is not S.ERROR),
})
del S


class InvalidInstanceTransition(ValueError):
    """A lifecycle move the table does not allow; the message names both states."""


def check_transition(current: InstanceState, target: InstanceState) -> None:
    """Raise :class:`InvalidInstanceTransition` unless ``current → target`` is in the table."""
    if (current, target) not in TRANSITIONS:
        raise InvalidInstanceTransition(f"an instance cannot go from {current} to {target}")


def shown_state(state: InstanceState, heartbeat_ms: int | None, now_ms: int, stale_ms: int) -> str:
    """The state a reader shows: ``lost`` for a running state whose heartbeat is older than ``stale_ms``."""
    if state.is_running and (heartbeat_ms is None or now_ms - heartbeat_ms > stale_ms):
        return LOST
    return state.value
