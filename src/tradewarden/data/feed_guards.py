"""The frame guards of the ccxt.pro feed (:mod:`tradewarden.data.feed_ccxt`): what stands between the exchange's
WebSocket frames and ccxt's parser.

Every decoded frame is validated before ccxt parses it (:func:`tradewarden.data.messages.check_raw`); a frame
ccxt cannot even decode, or one its parser chokes on, is counted, logged and skipped (``MessageRejected``)
instead of silently ending the connection's receive loop; server pings are answered without leaving failed
tasks behind; and a validated final Binance kline of a caught-up stream is delivered from the frame itself,
without ccxt's parse, future and task wake-up (a portfolio's step waits for the last of its symbols' bars).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import ccxt
from aiohttp import WSMessage, WSMsgType

from tradewarden.data.messages import RejectedMessageError, check_raw, row_to_candle
from tradewarden.domain.candles import Candle
from tradewarden.domain.events import EventType
from tradewarden.domain.ports import EventSink

log = logging.getLogger("tradewarden.data.feed_ccxt")  # the feed's own logger: one name for its lines


def wall_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class Subscription:
    """One symbol and timeframe the feed streams: its queue, the bars held back until final, its state."""

    symbol: str
    timeframe: str
    step: int
    last_ts: int | None
    queue: asyncio.Queue[Any] = field(default_factory=asyncio.Queue)
    pending: dict[int, Candle] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    delivered: int = 0
    fresh: bool = True  # no update yet on the current connection
    suspect: bool = False  # a frame was rejected: read the next closed bars over REST, not from the stream
    market_id: str | None = None  # the exchange's id of the symbol (Binance frames name it), once known


class FrameGuards:
    """The feed's frame handling, as a base of :class:`~tradewarden.data.feed_ccxt.CcxtFeed` (which sets these
    attributes and delivers the candles: :meth:`_put`)."""

    exchange: Any
    name: str
    sink: EventSink | None
    clock_ms: Callable[[], int]
    rejected: int
    _subs: dict[tuple[str, str], Subscription]
    _kline_clock: int
    _session_last: float
    _last_data: float
    _pongs: set[asyncio.Future[None]]

    def _put(self, sub: Subscription, candle: Candle) -> None:
        raise NotImplementedError

    def _emit(self, type_: EventType, **fields: Any) -> None:
        if self.sink is not None:
            self.sink.emit(type_, self.clock_ms(), exchange=self.name, **fields)

    def _reject(self, reason: str, symbol: str | None = None) -> None:
        self.rejected += 1
        for sub in self._subs.values():
            sub.suspect = True  # the lost frame may have been a bar's final update
        log.warning("%s: rejected market-data message: %s", self.name, reason)
        self._emit(EventType.MESSAGE_REJECTED, source="feed", symbol=symbol, reason=reason,
                   rejected_total=self.rejected)

    def _install_guards(self) -> None:
        """Validate raw frames before ccxt parses them, and survive frames ccxt cannot even decode.

        ccxt calls ``exchange.handle_message(client, message)`` for every decoded frame; a frame that
        starts like JSON but is not makes ccxt's decoder raise inside its receive loop, which would stop
        the connection silently, so each client's decoder is guarded too.
        """
        # Binance-shaped raw frames (Binance, or the simulator, which speaks its protocol under another name):
        # check their event types, and deliver a final kline at once
        binance = str(getattr(self.exchange, "id", self.name)).startswith("binance")
        original_handle = self.exchange.handle_message
        original_client = self.exchange.client

        def handle_message(client: Any, message: Any) -> Any:
            try:
                event_ms = check_raw(message, binance=binance)
            except RejectedMessageError as rej:
                self._reject(rej.reason)
                return None
            if event_ms is not None and event_ms > self._kline_clock:
                self._kline_clock = event_ms
            if binance and event_ms is not None and self._final_frame(message):
                return None  # delivered: ccxt's parse of it would only be skipped by the stream
            try:
                return original_handle(client, message)
            except Exception as exc:  # ccxt's parser choked on a frame the schema let through
                self._reject(f"unparseable frame ({type(exc).__name__}: {exc})"[:300])
                return None

        def client(url: str) -> Any:
            c = original_client(url)
            if not getattr(c, "_tradewarden_guarded", False):
                decode = c.handle_text_or_binary_message

                def guarded(data: Any) -> Any:
                    try:
                        return decode(data)
                    except ValueError as exc:  # json.JSONDecodeError and friends
                        self._reject(f"undecodable frame ({exc}): {str(data)[:60]!r}")
                        return None

                c.handle_text_or_binary_message = guarded
                frame = c.handle_message

                def handle_frame(message: WSMessage) -> Any:
                    if message.type is WSMsgType.PING:
                        c.last_message_at = wall_ms()
                        self._pong(c, message.data)
                        return None
                    return frame(message)

                c.handle_message = handle_frame
                c._tradewarden_guarded = True
            return c

        self.exchange.handle_message = handle_message
        self.exchange.client = client

    def _final_frame(self, message: Any) -> bool:
        """A validated Binance kline frame whose bar is final (``k.x``): that bar is delivered now, when it is
        the next bar of a stream that is caught up; True if it was (the frame then needs nothing more).

        A portfolio's step waits for the last of its symbols' bars, and through ccxt each frame costs a parse,
        a future, a wake-up of the stream's task and a new ``watch_ohlcv`` call, one symbol after the other.
        Here it costs one dict lookup and the row's check. Anything else (a gap, a stream still catching up
        or reading REST after a rejected frame) takes the usual way through ccxt."""
        body = message.get("data", message) if "stream" in message else message
        k = body["k"]
        if k["x"] is not True:
            return False
        sub = self._stream_of(k["s"], k["i"])
        if sub is None or sub.fresh or sub.suspect or sub.lock.locked() or sub.last_ts is None \
                or k["t"] != sub.last_ts + sub.step:
            return False
        try:  # the values ccxt would make of the frame (its parser reads the same fields as floats)
            candle = row_to_candle([k["t"], float(k["o"]), float(k["h"]), float(k["l"]), float(k["c"]),
                                    float(k["v"])], sub.step)
        except RejectedMessageError:
            return False  # the usual way rejects it, and counts it once
        self._session_last = self._last_data = time.monotonic()
        sub.pending.pop(candle.ts, None)  # its earlier updates: the bar is final now
        self._put(sub, candle)
        return True

    def _stream_of(self, market_id: str, interval: str) -> Subscription | None:
        for sub in self._subs.values():
            if sub.timeframe != interval:
                continue
            if sub.market_id is None:
                try:
                    sub.market_id = str(self.exchange.market_id(sub.symbol))
                except ccxt.BaseError:  # the markets are not loaded yet: the usual way meanwhile
                    continue
            if sub.market_id == market_id:
                return sub
        return None

    def _pong(self, client: Any, data: bytes) -> None:
        """Answer a server ping, as ccxt would, but keep the task and collect its outcome.

        ccxt answers with a fire-and-forget task. A ping read from the buffer of a connection whose transport
        is already closing (the server dropped it, or we are closing it) makes that task fail with "Cannot
        write to closing transport", and asyncio reports it at garbage collection as "Task exception was
        never retrieved", with a traceback, in an otherwise clean run. A closing connection needs no pong.
        """
        connection = client.connection
        if connection is None or connection.closed:
            return
        pong: asyncio.Future[None] = asyncio.ensure_future(connection.pong(data))
        self._pongs.add(pong)
        pong.add_done_callback(self._pong_done)

    def _pong_done(self, pong: asyncio.Future[None]) -> None:
        self._pongs.discard(pong)
        if not pong.cancelled() and pong.exception() is not None:
            log.debug("%s: pong not sent, the connection is closing: %s", self.name, pong.exception())

    def _candles(self, sub: Subscription, rows: Sequence[Any]) -> list[Candle]:
        out: list[Candle] = []
        for row in rows:
            try:
                out.append(row_to_candle(row, sub.step))
            except RejectedMessageError as rej:
                self._reject(rej.reason, sub.symbol)
        return out
