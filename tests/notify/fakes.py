"""Local HTTP servers the notifier talks to in the tests: a fake Telegram Bot API (records ``sendMessage``,
serves ``getUpdates``) and a webhook receiver, each an aiohttp app on a port of its own, on a thread of its own."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

#: the longest a getUpdates long poll is held (the real API holds it up to its timeout; tests need no more)
HOLD_S = 0.5


class _Server:
    """An aiohttp application served from a thread with its own event loop."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.loop = asyncio.new_event_loop()
        self.port = 0
        self._runner: web.AppRunner | None = None
        ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(ready,), daemon=True)
        self._thread.start()
        assert ready.wait(30), "the test server did not start"

    def _serve(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)

        async def start() -> None:
            self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False, shutdown_timeout=0.5)
            await self._runner.setup()
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            await site.start()
            self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

        self.loop.run_until_complete(start())
        ready.set()
        self.loop.run_forever()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        async def stop() -> None:
            if self._runner is not None:
                await self._runner.cleanup()
            # a long poll the client gave up on may still be held: end it before the loop stops
            current = asyncio.current_task()
            pending = [t for t in asyncio.all_tasks() if t is not current]
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)


def wait_until(what: str, probe: Callable[[], bool], timeout_s: float = 30.0) -> None:
    """Poll ``probe`` until it holds; fail naming ``what`` (a deadline for a hung test, not a threshold)."""
    deadline = time.monotonic() + timeout_s
    while not probe():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


@dataclass
class Sent:
    token: str
    chat_id: int
    text: str
    body: dict[str, Any]


@dataclass
class FakeTelegram:
    """The Bot API for one token: ``sent`` holds every accepted sendMessage; ``fail_next`` makes the next
    sendMessage calls answer with these HTTP statuses (429 carries ``retry_after`` 0)."""

    token: str
    sent: list[Sent] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)  # every request's path, sendMessage and getUpdates
    fail_next: list[int] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)
    polls: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._next_update = 1
        app = web.Application()
        app.add_routes([web.post("/bot{token}/{method}", self._handle)])
        self.server = _Server(app)
        self.url = self.server.url

    async def _handle(self, request: web.Request) -> web.Response:
        self.requests.append(request.path)
        if request.match_info["token"] != self.token:
            return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
        body = await request.json()
        method = request.match_info["method"]
        if method == "sendMessage":
            with self._lock:
                status = self.fail_next.pop(0) if self.fail_next else 200
            if status == 429:
                return web.json_response({"ok": False, "error_code": 429, "description": "Too Many Requests",
                                          "parameters": {"retry_after": 0}}, status=429)
            if status != 200:
                return web.json_response({"ok": False, "error_code": status, "description": "boom"}, status=status)
            self.sent.append(Sent(self.token, int(body["chat_id"]), str(body["text"]), body))
            return web.json_response({"ok": True, "result": {"message_id": len(self.sent)}})
        if method == "getUpdates":
            self.polls += 1
            offset = int(body.get("offset", 0))
            deadline = time.monotonic() + min(HOLD_S, float(body.get("timeout", 0)))
            while True:
                with self._lock:
                    ready = [u for u in self.updates if u["update_id"] >= offset]
                if ready or time.monotonic() >= deadline:
                    return web.json_response({"ok": True, "result": ready})
                await asyncio.sleep(0.02)
        return web.json_response({"ok": False, "error_code": 404, "description": "Not Found"}, status=404)

    def say(self, chat_id: int, text: str, user_id: int = 42, username: str | None = "ops",
            date: int | None = None) -> None:
        """A message a user sends the bot (served by the next getUpdates)."""
        user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": "Op"}
        if username is not None:
            user["username"] = username
        with self._lock:
            self.updates.append({"update_id": self._next_update, "message": {
                "message_id": self._next_update, "date": int(time.time()) if date is None else date,
                "chat": {"id": chat_id, "type": "private"}, "from": user, "text": text}})
            self._next_update += 1

    def texts(self, chat_id: int | None = None) -> list[str]:
        return [s.text for s in list(self.sent) if chat_id is None or s.chat_id == chat_id]

    def close(self) -> None:
        self.server.close()


@dataclass
class WebhookReceiver:
    """Records every JSON POST to ``/hook`` (and below it); answers ``status``."""

    status: int = 204
    bodies: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        app = web.Application()
        app.add_routes([web.post("/hook", self._handle), web.post("/hook/{rest:.*}", self._handle)])
        self.server = _Server(app)
        self.url = self.server.url + "/hook"

    async def _handle(self, request: web.Request) -> web.Response:
        if self.status >= 300:
            return web.json_response({"message": "nope"}, status=self.status)
        self.bodies.append(await request.json())
        return web.Response(status=self.status)

    def close(self) -> None:
        self.server.close()
