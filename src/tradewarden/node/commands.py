"""Operator requests the node carries out itself: close one symbol's position, reload the parameters.

``tradewarden serve`` (and anything else sharing the database) queues them as rows of ``operator_requests``;
the risk book's poll carries out its own kinds (breaker resets, pausing and resuming entries) and leaves these
(:data:`~tradewarden.risk.snapshot.NODE_COMMANDS`) pending. The kill-switch watcher asks :meth:`pending` on its
poll thread and hands each request to the trading worker once (:meth:`carry_out`), which acts on the engine and
marks the row handled with the outcome: that is the acknowledgement the API reports. A close of a symbol this
bot does not trade stays pending for the bot that does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal

from tradewarden.domain.orders import Order, OrderSide, OrderType
from tradewarden.node.runner import StrategyRunner
from tradewarden.risk.manager import RiskStore
from tradewarden.risk.snapshot import NODE_COMMANDS, OperatorCommand

CLOSE_POSITION = "close_position"
RELOAD_PARAMS = "reload_params"


class NodeCommands:
    """This node's share of the operator requests. ``reload`` reloads the parameters and says how it went;
    ``persist`` stores what a command changed (on the worker, like every step)."""

    def __init__(self, store: RiskStore, runners: Mapping[str, StrategyRunner], reload: Callable[[], str],
                 persist: Callable[[], None], clock_ms: Callable[[], int]) -> None:
        self.store = store
        self.runners = runners
        self.reload = reload
        self.persist = persist
        self.clock_ms = clock_ms

    def pending(self) -> list[OperatorCommand]:
        """The requests this node can carry out (a database query: not on the event loop)."""
        return [c for c in self.store.pending_commands()
                if c.kind in NODE_COMMANDS and (c.kind != CLOSE_POSITION or c.scope in self.runners)]

    def carry_out(self, command: OperatorCommand) -> None:
        """On the trading worker: act on the request, then mark it handled with what happened."""
        try:
            outcome = self._close(command) if command.kind == CLOSE_POSITION else self.reload()
            self.persist()
        except Exception as exc:  # the outcome says so; the session goes on
            outcome = f"failed: {exc}"
        self.store.command_done(command.id, self.clock_ms(), outcome)

    def _close(self, command: OperatorCommand) -> str:
        """A reduce-only market order for the whole position, through the risk gate like any other."""
        runner = self.runners[command.scope]
        engine = runner.engine
        qty = engine.instrument.from_steps(engine.pos_steps)
        if qty == 0:
            return f"no position in {command.scope}"
        ts = self.clock_ms()
        side = OrderSide.SELL if qty > 0 else OrderSide.BUY
        order = Order(f"tw-op-{command.id}-{ts}", command.scope, side, OrderType.MARKET, abs(qty), reduce_only=True,
                      created_ts=ts, reason=f"operator close ({command.actor}): {command.reason}".strip())
        h = engine.history
        last = Decimal(repr(float(h.ohlcv[3, h.n - 1]))) if h.n else Decimal(0)
        if not engine.place(order, last):
            return f"close of {command.scope} denied by the risk gate: {order.reason}"
        runner.poll()
        return f"closing {command.scope}: {side.value} {abs(qty)} at market (reduce-only)"
