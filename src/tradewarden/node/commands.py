"""Operator requests the node carries out itself: close one symbol's position, flatten it (cancel every open
order, then close; the emergency stop's), reload the parameters.

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

from tradewarden.api.commands import target_of
from tradewarden.domain.orders import Order, OrderSide, OrderType
from tradewarden.node.runner import StrategyRunner
from tradewarden.risk.manager import RiskStore
from tradewarden.risk.snapshot import NODE_COMMANDS, OperatorCommand

CLOSE_POSITION = "close_position"
RELOAD_PARAMS = "reload_params"
FLATTEN = "flatten"
#: a flatten that did everything it had to says so first (``tradewarden emergency-stop`` reads it)
FLATTENED = "flattened"

__all__ = ["CLOSE_POSITION", "FLATTEN", "FLATTENED", "RELOAD_PARAMS", "NodeCommands", "target_of"]


class NodeCommands:
    """This node's share of the operator requests. ``reload`` reloads the parameters and says how it went;
    ``persist`` stores what a command changed (on the worker, like every step). A request whose ``target`` is
    set is another bot's unless it is :func:`target_of` this node's ``account`` (two bots may trade one symbol)."""

    def __init__(self, store: RiskStore, runners: Mapping[str, StrategyRunner], reload: Callable[[], str],
                 persist: Callable[[], None], clock_ms: Callable[[], int], account: str = "") -> None:
        self.store = store
        self.runners = runners
        self.reload = reload
        self.persist = persist
        self.clock_ms = clock_ms
        self.target = target_of(account)

    def pending(self) -> list[OperatorCommand]:
        """The requests this node can carry out (a database query: not on the event loop)."""
        return [c for c in self.store.pending_commands()
                if c.kind in NODE_COMMANDS and c.target in ("", self.target)
                and (c.kind not in (CLOSE_POSITION, FLATTEN) or c.scope in self.runners)]

    def carry_out(self, command: OperatorCommand) -> None:
        """On the trading worker: act on the request, then mark it handled with what happened."""
        try:
            if command.kind == CLOSE_POSITION:
                outcome = self._close(command)
            elif command.kind == FLATTEN:
                outcome = self._flatten(command)
            else:
                outcome = self.reload()
            self.persist()
        except Exception as exc:  # the outcome says so; the session goes on
            outcome = f"failed: {exc}"
        self.store.command_done(command.id, self.clock_ms(), outcome)

    def _flatten(self, command: OperatorCommand) -> str:
        """The emergency stop's: cancel every open order of the symbol (the protective stop too: a market close
        follows), then close the whole position like :meth:`_close`. Starts with :data:`FLATTENED` when both
        are done; says what is left otherwise."""
        runner = self.runners[command.scope]
        engine = runner.engine
        wanted = sorted(engine.open_orders)
        for client_id in wanted:
            engine.cancel(client_id)
        runner.poll()
        left = sorted(engine.open_orders)
        cancelled = f"cancelled {len(wanted) - len(left)} open order(s)"
        if left:
            return f"failed: {cancelled}; still open: {', '.join(left)} (the close was not sent)"
        closed = self._close(command)
        if closed.startswith(("closing ", "no position ")):
            return f"{FLATTENED} {command.scope}: {cancelled}; {closed}"
        return f"failed: {cancelled}; {closed}"

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
