"""Reconciliation as a pure function: what the exchange says against what we recorded.

Anything we cannot explain is a :class:`Mismatch` with a suggestion for the operator; the runtime turns a
non-empty result into ``RECONCILE_MISMATCH`` and halts new orders until the operator decides (``--adopt``
takes the exchange's view).

While the bot runs, an order that fills between the bot's own poll and the exchange's answer looks like a
difference for one reconciliation. :func:`judge` is the debounce, as pure state: a difference about the same
subject (an order's client id, an asset) seen again within :data:`RECURRENCE_WINDOW` reconciliations is
confirmed, whatever its amounts and kind then; one seen once is only suspect. :func:`foreign_orders` finds
orders under our client-id prefix that this bot did not send: another writer on the account, confirmed at once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class OpenOrderView:
    client_id: str
    symbol: str
    side: str
    qty: Decimal
    filled: Decimal
    exchange_id: str | None = None    # what an operator's --adopt needs to take the order over
    price: Decimal | None = None
    stop_price: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Mismatch:
    kind: str          # UNKNOWN_OPEN_ORDER | MISSING_OPEN_ORDER | FILL_MISMATCH | BALANCE_MISMATCH | FOREIGN_WRITER
    subject: str       # client id or asset
    ours: str
    theirs: str
    suggestion: str

    def describe(self) -> str:
        return f"{self.kind} {self.subject}: ours={self.ours} exchange={self.theirs}. {self.suggestion}"


def reconcile(ours_open: Sequence[OpenOrderView], theirs_open: Sequence[OpenOrderView],
              ours_balances: Mapping[str, Decimal], theirs_balances: Mapping[str, Decimal],
              tolerance: Mapping[str, Decimal] | None = None, our_prefix: str = "tw-") -> list[Mismatch]:
    """Compare open orders (by client id) and balances (per asset, within ``tolerance``)."""
    tolerance = tolerance or {}
    out: list[Mismatch] = []
    mine = {o.client_id: o for o in ours_open}
    theirs = {o.client_id: o for o in theirs_open}
    for cid, order in sorted(theirs.items()):
        if cid not in mine:
            who = "placed by this bot but not recorded" if cid.startswith(our_prefix) else "not placed by this bot"
            out.append(Mismatch(
                "UNKNOWN_OPEN_ORDER", cid, "none", f"{order.side} {order.qty} {order.symbol} filled {order.filled}",
                f"An open order {who}. Cancel it on the exchange, or run with --adopt to take it over.",
            ))
        elif order.filled != mine[cid].filled:
            out.append(Mismatch(
                "FILL_MISMATCH", cid, str(mine[cid].filled), str(order.filled),
                "Fills happened that the bot did not record; --adopt books the exchange's fills.",
            ))
    for cid, order in sorted(mine.items()):
        if cid not in theirs:
            out.append(Mismatch(
                "MISSING_OPEN_ORDER", cid, f"{order.side} {order.qty} {order.symbol}", "not open",
                "The exchange no longer has this order open: look it up (filled or cancelled while the bot was "
                "away); --adopt takes the exchange's final state.",
            ))
    for asset in sorted(set(ours_balances) | set(theirs_balances)):
        a = ours_balances.get(asset, Decimal(0))
        b = theirs_balances.get(asset, Decimal(0))
        if abs(a - b) > tolerance.get(asset, Decimal(0)):
            out.append(Mismatch(
                "BALANCE_MISMATCH", asset, str(a), str(b),
                "Balances differ beyond the tolerance (a deposit, withdrawal or trade the bot did not make?); "
                "--adopt takes the exchange's balances.",
            ))
    return out


FOREIGN_WRITER = "FOREIGN_WRITER"
#: a difference seen again within this many reconciliations (the current one included) is confirmed. An
#: in-flight fill explains one reconciliation's difference, never the same subject differing again after a
#: clean one: a second bot on the account showed its position as BALANCE_MISMATCH at every other
#: reconciliation, and "two in a row" never halted it.
RECURRENCE_WINDOW = 3


def difference_key(m: Mismatch) -> tuple[str, str]:
    """What a difference is about: an order (any of the order kinds) or an asset's balance; not its amounts."""
    return ("balance" if m.kind == "BALANCE_MISMATCH" else "order", m.subject)


@dataclass(frozen=True, slots=True)
class ReconcileMemory:
    """What the latest reconciliations found (their difference keys, oldest first; a clean one is empty)."""

    recent: tuple[frozenset[tuple[str, str]], ...] = ()


@dataclass(frozen=True, slots=True)
class Judgement:
    confirmed: tuple[Mismatch, ...]   # halt new orders now
    suspect: tuple[Mismatch, ...]     # seen for the first time: the next reconciliation decides
    memory: ReconcileMemory           # to pass to the next :func:`judge`

    @property
    def foreign(self) -> tuple[Mismatch, ...]:
        return tuple(m for m in self.confirmed if m.kind == FOREIGN_WRITER)


def judge(memory: ReconcileMemory, mismatches: Sequence[Mismatch]) -> Judgement:
    """Debounce one reconciliation's differences against the previous ones (see :data:`RECURRENCE_WINDOW`)."""
    earlier: set[tuple[str, str]] = set().union(*memory.recent)
    confirmed = tuple(m for m in mismatches if m.kind == FOREIGN_WRITER or difference_key(m) in earlier)
    suspect = tuple(m for m in mismatches if m not in confirmed)
    recent = (*memory.recent, frozenset(difference_key(m) for m in mismatches))[-(RECURRENCE_WINDOW - 1):]
    return Judgement(confirmed, suspect, ReconcileMemory(recent))


def foreign_orders(seen: Sequence[OpenOrderView], sent: Mapping[str, str | None], history: Set[str | None],
                   our_prefix: str) -> list[Mismatch]:
    """Orders on the exchange under our client-id prefix that this bot did not send.

    ``seen`` are the exchange's recent orders of the symbol (open or not); ``sent`` maps the client id of
    every order this bot sent or took over to its exchange order id (None while the create's answer is
    pending); ``history`` holds the exchange ids of the orders that were there when the bot started (an
    earlier run's, no evidence of anyone else). Client ids are deterministic, so a second bot with the same
    strategy sends the very same ids: its orders show as a second exchange order under one of ours.
    """
    fresh = [o for o in seen if o.client_id.startswith(our_prefix) and o.exchange_id not in history]
    per_id = Counter(o.client_id for o in fresh)
    out: list[Mismatch] = []
    for order in fresh:
        cid = order.client_id
        if cid not in sent:
            why = "under a client id this bot never used"
        elif sent[cid] == order.exchange_id or (sent[cid] is None and per_id[cid] == 1):
            continue  # ours (or, its create's answer pending, the only one that can be)
        else:
            why = "a second order under a client id this bot sent once"
        out.append(Mismatch(
            FOREIGN_WRITER, cid, f"order {sent.get(cid) or 'none'}",
            f"order {order.exchange_id}: {order.side} {order.qty} {order.symbol} filled {order.filled} ({why})",
            "Another writer places orders under this bot's client ids (a second bot with this API key?): stop "
            "it, then compare the account's orders and balances with the bot's before trading again.",
        ))
    return out
