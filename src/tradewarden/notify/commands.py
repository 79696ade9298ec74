"""Telegram commands: read the bots' state, turn the kill switch on, pause and resume, from the allowed chats.

:meth:`CommandDesk.answer_update` takes one update from ``getUpdates`` and returns the reply (chat id and
text), or None. A message from a chat not in ``notify.telegram.chat_ids`` is ignored and logged; a command
older than :data:`MAX_AGE_S` (sent while no bot listened) is refused, not carried out late.

Reads come from the read model the bots publish (:mod:`tradewarden.api.readmodel`, :mod:`tradewarden.api.status`),
for the bots running on this database. Writes go exactly where the HTTP API's go: ``/kill`` through the risk
store (every bot halts within ``runtime.kill_switch_poll_s`` and acknowledges), ``/pause`` and ``/resume`` as
``operator_requests`` (:mod:`tradewarden.api.commands`), each with its operator action in the same
transaction, which every bot copies into its audit trail. The actor names the Telegram user:
``telegram:@name(id)``. Turning the kill switch off stays a deliberate act at a shell (``kill-switch off``).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from tradewarden.api import commands as api_commands
from tradewarden.api import readmodel as rm
from tradewarden.api.status import collect
from tradewarden.persistence import Database
from tradewarden.persistence.ops_models import BotEquityRow
from tradewarden.risk.store import RiskStateStore

log = logging.getLogger(__name__)
DAY_MS = 86_400_000
#: a command older than this was sent while no bot listened: refused rather than carried out late
MAX_AGE_S = 300
DAILY_DAYS = 7
HELP = """tradewarden commands:
/status - health of every running bot, the kill switch and trading states
/positions - open positions
/profit - equity and PnL
/daily - equity and PnL of the last 7 UTC days
/balance - balances
/kill <reason> - turn the kill switch ON (every bot halts); off only from a shell: tradewarden kill-switch off
/pause - no new entries (exits still allowed)
/resume - entries allowed again
/help - this list"""
_COMMAND = re.compile(r"^/([A-Za-z_]+)(?:@\w+)?(?:\s+(.*))?$", re.DOTALL)


def parse(text: str) -> tuple[str, str] | None:
    """``("kill", "reason")`` from ``/kill reason`` (or ``/kill@MyBot reason`` in a group); None for other text."""
    m = _COMMAND.match(text.strip())
    return None if m is None else (m[1].lower(), (m[2] or "").strip())


def actor(user: Mapping[str, Any]) -> str:
    """``telegram:@name(id)``, or the first name when the user has no user name."""
    uid = user.get("id")
    name = user.get("username")
    if isinstance(name, str) and name:
        who = "@" + re.sub(r"[^A-Za-z0-9_]", "", name)[:64]
    else:
        who = re.sub(r"[^\w .-]", "", str(user.get("first_name") or "unknown"))[:64]
    return f"telegram:{who}({uid})"


def _num(value: Decimal | None) -> str:
    if value is None:
        return "-"
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "0") else text


def _signed(value: Decimal) -> str:
    return ("+" if value > 0 else "") + _num(value)


def _when(ts: int) -> str:
    return datetime.fromtimestamp(ts / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")


class CommandDesk:
    """Answers commands against the bots' database, opened on first use with ``open_db``."""

    def __init__(self, allowed_chats: set[int], open_db: Callable[[], Database],
                 clock_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000, ack_wait_s: float = 5.0) -> None:
        self.allowed = allowed_chats
        self._open_db = open_db
        self.db: Database | None = None
        self.clock_ms = clock_ms
        self.ack_wait_s = ack_wait_s
        self.ignored = 0  # messages from chats not allowed

    def close(self) -> None:
        if self.db is not None:
            self.db.close()
            self.db = None

    def _database(self) -> Database:
        if self.db is None:
            self.db = self._open_db()
        return self.db

    # -- one update ----------------------------------------------------------------------------------------
    def chat_of(self, update: Mapping[str, Any]) -> int | None:
        """The update's chat when it is an allowed one (where a reply may go), else None."""
        message = update.get("message")
        chat = message.get("chat") if isinstance(message, Mapping) else None
        chat_id = chat.get("id") if isinstance(chat, Mapping) else None
        return chat_id if isinstance(chat_id, int) and chat_id in self.allowed else None

    def answer_update(self, update: Mapping[str, Any], ready: bool = True) -> tuple[int, str] | None:
        """The reply to one update (chat id, text), or None. ``ready``: the bot's database is open."""
        message = update.get("message")
        if not isinstance(message, Mapping):
            return None
        chat = message.get("chat")
        chat_id = chat.get("id") if isinstance(chat, Mapping) else None
        user = message.get("from")
        who = actor(user if isinstance(user, Mapping) else {})
        if not isinstance(chat_id, int) or chat_id not in self.allowed:
            self.ignored += 1
            log.warning("ignored a Telegram message from chat %s (%s): not in notify.telegram.chat_ids",
                        chat_id, who)
            return None
        text = message.get("text")
        command = parse(text) if isinstance(text, str) else None
        if command is None:
            return chat_id, "send /help for the commands"
        sent = message.get("date")
        age = self.clock_ms() / 1000 - sent if isinstance(sent, int | float) else 0
        if age > MAX_AGE_S:
            log.warning("refused /%s from %s: sent %.0f s ago, while no bot listened", command[0], who, age)
            return chat_id, f"/{command[0]} was sent {age / 60:.0f} min ago, while no bot listened: not carried " \
                            "out; send it again if it still holds"
        if not ready:
            return chat_id, "the bot is starting; send the command again in a moment"
        log.info("Telegram command /%s from %s", command[0], who)
        return chat_id, self.answer(command[0], command[1], who)

    def answer(self, name: str, args: str, who: str) -> str:
        handlers: dict[str, Callable[[str, str], str]] = {
            "help": lambda _a, _w: HELP, "start": lambda _a, _w: HELP, "status": self._status,
            "positions": self._positions, "profit": self._profit, "daily": self._daily, "balance": self._balance,
            "kill": self._kill, "pause": self._pause, "resume": self._resume}
        handler = handlers.get(name)
        if handler is None:
            return f"unknown command /{name}; send /help"
        return handler(args, who)

    # -- reads --------------------------------------------------------------------------------------------
    def _bots(self) -> list[rm.BotView]:
        with self._database().session() as s:
            return [b for b in rm.bots(s, self.clock_ms()) if b.state != "stopped"]

    @staticmethod
    def _label(bot: rm.BotView) -> str:
        return f"{bot.mode} {', '.join(bot.symbols)} ({bot.strategy})"

    def _status(self, _args: str, _who: str) -> str:
        report = collect(RiskStateStore(self._database()), self.clock_ms())
        lines = ["healthy" if report.healthy else "NOT healthy"]
        risk = report.risk
        lines.append(f"kill switch: {'ON: ' + risk.kill_switch_reason if risk.kill_switch else 'off'}")
        states = ", ".join(f"{scope} {state}" for scope, state in risk.trading_states.items()) or "global ACTIVE"
        lines.append(f"trading: {states}")
        for b in report.bots:
            if b.bot.state == "stopped":
                continue
            age = "-" if b.candle_age_s is None else f"{b.candle_age_s} s"
            lines.append(f"{self._label(b.bot)}: {b.bot.state}, equity {_num(b.equity)}, pnl "
                         f"{_num(b.pnl)}, newest candle {age} ago, {len(b.open_orders)} open order(s)")
        lines += [f"problem: {p}" for p in report.problems]
        return "\n".join(lines)

    def _positions(self, _args: str, _who: str) -> str:
        bots = self._bots()
        with self._database().session() as s:
            held = rm.positions_of(s, [b.id for b in bots], self.clock_ms())
        lines = []
        for b in bots:
            for p in held[b.id]:
                if p.qty != 0:
                    lines.append(f"{self._label(b)}: {p.symbol} {_num(p.qty)} @ {_num(p.entry_price)}, mark "
                                 f"{_num(p.mark)}, unrealized {_signed(p.unrealized)}")
        return "\n".join(lines) if lines else "no open position" + ("" if bots else " (no running bot)")

    def _profit(self, _args: str, _who: str) -> str:
        bots = self._bots()
        if not bots:
            return "no running bot"
        now = self.clock_ms()
        with self._database().session() as s:
            latest = rm.latest_equity_of(s, [b.id for b in bots])
            held = rm.positions_of(s, [b.id for b in bots], now)
        lines = []
        for b in bots:
            point = latest.get(b.id)
            today = sum((p.realized_today + p.unrealized for p in held[b.id]), Decimal(0))
            realized = sum((p.realized for p in held[b.id]), Decimal(0))
            lines.append(f"{self._label(b)}: equity {_num(point.equity if point else None)}, pnl "
                         f"{_signed(point.pnl) if point else '-'} (realized {_signed(realized)}, today "
                         f"{_signed(today)})")
        return "\n".join(lines)

    def _daily(self, _args: str, _who: str) -> str:
        bots = self._bots()
        if not bots:
            return "no running bot"
        today = self.clock_ms() // DAY_MS
        lines = []
        with self._database().session() as s:
            for b in bots:
                lines.append(self._label(b) + ":")
                # the equity at each day's end (the last sample before it), the oldest first
                ends = [s.scalar(select(BotEquityRow.equity).where(
                    BotEquityRow.bot == b.id, BotEquityRow.ts < (day + 1) * DAY_MS)
                    .order_by(BotEquityRow.ts.desc()).limit(1)) for day in range(today - DAILY_DAYS, today + 1)]
                for i, day in enumerate(range(today - DAILY_DAYS + 1, today + 1), 1):
                    end, before = ends[i], ends[i - 1]
                    if end is None:
                        continue
                    change = "" if before is None else f" ({_signed(end - before)})"
                    lines.append(f"  {_when(day * DAY_MS)[:10]}: equity {_num(end)}{change}")
        return "\n".join(lines)

    def _balance(self, _args: str, _who: str) -> str:
        bots = self._bots()
        lines = []
        with self._database().session() as s:
            for b in bots:
                held = rm.balances(s, b.id)
                shown = ", ".join(f"{asset} {_num(amount)}" for asset, amount in held.items()) or "none published"
                lines.append(f"{self._label(b)}: {shown}")
        return "\n".join(lines) if lines else "no running bot"

    # -- writes -------------------------------------------------------------------------------------------
    def _kill(self, reason: str, who: str) -> str:
        if not reason:
            return "say why: /kill <reason>"
        store = RiskStateStore(self._database())
        current = store.kill_switch()
        if current.active:
            return f"the kill switch is already ON since {_when(current.ts)} by {current.actor}: {current.reason}"
        status = store.set_kill_switch(True, reason[:500], who, self.clock_ms())
        acks = self._await_ack(store, status.event_id)
        heard = f"acknowledged by {', '.join(a.bot for a in acks)}" if acks else \
            f"no bot acknowledged within {self.ack_wait_s:g} s (each halts when it next reads the switch or starts)"
        return f"kill switch ON (by {who}: {reason[:500]}); {heard}. Turn it off from a shell: " \
               "tradewarden kill-switch off --reason ..."

    def _await_ack(self, store: RiskStateStore, event_id: int) -> list[Any]:
        deadline = time.monotonic() + self.ack_wait_s
        while True:
            acks = store.kill_switch_acks(event_id)
            if acks or time.monotonic() >= deadline:
                return acks
            time.sleep(0.2)

    def _queue(self, kind: str, reason: str, who: str) -> str:
        done = api_commands.request(self._database(), kind, "global", reason[:500], who, self.clock_ms())
        return f"{kind} queued as command {done.id}; the running bots apply it within a second or two"

    def _pause(self, reason: str, who: str) -> str:
        return self._queue(api_commands.PAUSE_ENTRIES, reason, who)

    def _resume(self, reason: str, who: str) -> str:
        return self._queue(api_commands.RESUME, reason, who)
