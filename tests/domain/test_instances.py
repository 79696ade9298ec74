"""The instance lifecycle table: the documented path works, nothing else does, and lost is a reader's view."""

from __future__ import annotations

from itertools import pairwise

import pytest

from tradewarden.domain.instances import (
    LOST,
    TRANSITIONS,
    InstanceState,
    InvalidInstanceTransition,
    check_transition,
    shown_state,
)

S = InstanceState


def test_the_documented_path_is_allowed() -> None:
    path = [S.IDLE, S.STARTING, S.WARMING, S.ACTIVE, S.STOPPING, S.STOPPED, S.STARTING]
    for current, target in pairwise(path):
        check_transition(current, target)


@pytest.mark.parametrize("state", [s for s in S if s is not S.ERROR])
def test_error_is_reachable_from_every_state(state: InstanceState) -> None:
    check_transition(state, S.ERROR)


@pytest.mark.parametrize(("current", "target"), [
    (S.IDLE, S.ACTIVE), (S.IDLE, S.WARMING), (S.STOPPED, S.ACTIVE), (S.ACTIVE, S.WARMING),
    (S.STOPPED, S.STOPPING), (S.ERROR, S.ACTIVE), (S.ERROR, S.ERROR), (S.IDLE, S.STOPPED),
])
def test_moves_outside_the_table_are_refused_naming_both_states(current: InstanceState,
                                                               target: InstanceState) -> None:
    assert (current, target) not in TRANSITIONS
    with pytest.raises(InvalidInstanceTransition, match=f"from {current} to {target}"):
        check_transition(current, target)


def test_a_running_state_with_a_stale_heartbeat_shows_as_lost() -> None:
    assert shown_state(S.ACTIVE, 1_000, 20_000, 10_000) == LOST
    assert shown_state(S.WARMING, None, 20_000, 10_000) == LOST
    assert shown_state(S.ACTIVE, 15_000, 20_000, 10_000) == "active"
    # stopped, idle and failed instances have no process whose heartbeat could go stale
    assert shown_state(S.STOPPED, 1_000, 20_000, 10_000) == "stopped"
    assert shown_state(S.ERROR, None, 20_000, 10_000) == "error"
