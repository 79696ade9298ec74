"""The node's intake of operator requests is bounded: a flood of requests never piles more than
``MAX_COMMANDS_IN_FLIGHT`` jobs on the trading worker; the rest stay pending (unacknowledged) in the database,
are counted and logged once, and are taken, each exactly once, as the worker finishes the earlier ones."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import pytest

from tradewarden.node.commands import RELOAD_PARAMS, NodeCommands
from tradewarden.node.watchers import MAX_COMMANDS_IN_FLIGHT, KillSwitchWatcher
from tradewarden.risk.snapshot import OperatorCommand

TS = 1_700_000_000_000
FLOOD = 2 * MAX_COMMANDS_IN_FLIGHT + 3


class Requests:
    """The operator requests as the node's store shows them, and what the node marked done."""

    def __init__(self, pending: list[OperatorCommand]) -> None:
        self.pending = pending
        self.done: list[int] = []

    def pending_commands(self) -> list[OperatorCommand]:
        return [c for c in self.pending if c.id not in self.done]

    def command_done(self, command_id: int, ts: int, outcome: str) -> None:
        self.done.append(command_id)


class SwitchOff:
    def poll(self, now: int) -> bool:
        return False


def test_a_flood_of_requests_is_taken_a_bounded_batch_at_a_time(caplog: pytest.LogCaptureFixture) -> None:
    store = Requests([OperatorCommand(i, RELOAD_PARAMS, "", "global", "", "alice", TS) for i in range(FLOOD)])
    commands = NodeCommands(store, {}, lambda: "reloaded", lambda: None, lambda: TS, "acct")  # type: ignore[arg-type]

    async def main() -> list[tuple[int, int]]:
        gate = asyncio.Event()
        held = 0

        async def on_worker(fn: Callable[[], None]) -> None:
            nonlocal held
            held += 1
            await gate.wait()  # the worker is busy with a step
            fn()

        watcher = KillSwitchWatcher(SwitchOff(), lambda: None, on_worker, lambda: TS, 60, commands)
        seen = []
        await watcher.check()
        await watcher.check()  # the worker is still busy: nothing more is handed to it
        await asyncio.sleep(0)
        seen.append((held, watcher.refused))
        gate.set()
        while len(store.done) < FLOOD:
            await watcher.stop()  # waits for the jobs handed over
            await watcher.check()
            await asyncio.sleep(0)
        await watcher.stop()
        seen.append((held, watcher.refused))
        return seen

    with caplog.at_level(logging.WARNING, logger="tradewarden.node.watchers"):
        seen = asyncio.run(main())
    waiting = FLOOD - MAX_COMMANDS_IN_FLIGHT
    assert seen[0] == (MAX_COMMANDS_IN_FLIGHT, 2 * waiting)
    assert seen[1][0] == FLOOD  # every request handed over once in the end
    assert sorted(store.done) == list(range(FLOOD)) and len(store.done) == FLOOD
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings[0] == (f"{waiting} operator request(s) left pending: {MAX_COMMANDS_IN_FLIGHT} already with "
                           f"the trading worker (at most {MAX_COMMANDS_IN_FLIGHT}); they are taken as those finish")
    assert len(warnings) == 1  # once per episode of refusals, not once per poll
