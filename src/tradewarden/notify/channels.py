"""Where messages go: Telegram chats (the Bot API over plain HTTP) and a webhook (JSON, Discord or Slack shape).

Each channel's ``send`` makes one attempt and raises :class:`DeliveryError` saying whether a retry could help
(a timeout, a connection refused, HTTP 429 or 5xx: yes; HTTP 400/401/403/404: no) and, for a 429, how long the
server asked to wait. Every text and every webhook body is scrubbed of secrets before it leaves
(:mod:`tradewarden.observability.scrub`), and no error text ever holds a URL: the bot token is part of the
Bot API's URLs, and a Discord or Slack webhook URL is a token itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

import aiohttp

from tradewarden.notify.alerts import Alert
from tradewarden.observability.scrub import scrub, scrub_value

#: Telegram refuses longer texts; Discord 2000 characters, Slack ~40000
TELEGRAM_MAX = 4096
DISCORD_MAX = 2000


class DeliveryError(Exception):
    def __init__(self, message: str, retryable: bool, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after_s = retry_after_s


class Channel(Protocol):
    @property
    def name(self) -> str: ...

    async def send(self, http: aiohttp.ClientSession, alert: Alert, text: str) -> None: ...


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "\u2026"


async def _post(http: aiohttp.ClientSession, url: str, body: Mapping[str, Any],
                timeout_s: float) -> tuple[int, Any]:
    """POST JSON; (status, decoded JSON body or None). Network trouble is a retryable DeliveryError."""
    try:
        async with http.post(url, json=body, timeout=aiohttp.ClientTimeout(total=timeout_s)) as resp:
            try:
                data = await resp.json(content_type=None)
            except ValueError:
                data = None
            return resp.status, data
    except TimeoutError:
        raise DeliveryError(f"no answer within {timeout_s:g} s", retryable=True) from None
    except aiohttp.ClientError as exc:
        # its text may name the URL; the class says enough (connection refused, reset, DNS...)
        raise DeliveryError(f"{type(exc).__name__}: {_oserror(exc)}", retryable=True) from None


def _oserror(exc: aiohttp.ClientError) -> str:
    if isinstance(exc, aiohttp.ClientConnectorError):
        return exc.os_error.strerror or "cannot connect"
    return "connection failed"


def _http_error(status: int, detail: str, retry_after: float | None = None) -> DeliveryError:
    retryable = status == 429 or status >= 500
    return DeliveryError(f"HTTP {status}" + (f": {scrub(detail)[:200]}" if detail else ""), retryable,
                         retry_after)


# -- Telegram -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TelegramApi:
    """The Bot API at ``base_url`` (``https://api.telegram.org``, or a fake in tests) for one bot token."""

    base_url: str
    token: str
    timeout_s: float = 10.0

    def _url(self, method: str) -> str:
        return f"{self.base_url}/bot{self.token}/{method}"

    async def call(self, http: aiohttp.ClientSession, method: str, body: Mapping[str, Any],
                   timeout_s: float | None = None) -> Any:
        """The method's ``result``; a DeliveryError when Telegram says no (``ok`` false) or cannot be reached."""
        status, data = await _post(http, self._url(method), body, timeout_s or self.timeout_s)
        if status == 200 and isinstance(data, dict) and data.get("ok") is True:
            return data.get("result")
        detail = str(data.get("description", "")) if isinstance(data, dict) else ""
        params = data.get("parameters") if isinstance(data, dict) else None
        retry_after = params.get("retry_after") if isinstance(params, dict) else None
        raise _http_error(status, detail, float(retry_after) if isinstance(retry_after, int | float) else None)

    async def send_message(self, http: aiohttp.ClientSession, chat_id: int, text: str) -> None:
        await self.call(http, "sendMessage", {"chat_id": chat_id, "text": _clip(scrub(text), TELEGRAM_MAX),
                                              "disable_web_page_preview": True})

    async def get_updates(self, http: aiohttp.ClientSession, offset: int, timeout_s: int) -> list[dict[str, Any]]:
        """Long poll: the updates after ``offset`` (waits up to ``timeout_s`` for one)."""
        result = await self.call(http, "getUpdates", {"offset": offset, "timeout": timeout_s,
                                                      "allowed_updates": ["message"]}, timeout_s + 10.0)
        return [u for u in result if isinstance(u, dict)] if isinstance(result, list) else []


@dataclass(frozen=True)
class TelegramChat:
    api: TelegramApi
    chat_id: int

    @property
    def name(self) -> str:
        return f"telegram chat {self.chat_id}"

    async def send(self, http: aiohttp.ClientSession, alert: Alert, text: str) -> None:
        await self.api.send_message(http, self.chat_id, text)


# -- webhook --------------------------------------------------------------------------------------------
def webhook_body(fmt: str, alert: Alert, text: str, label: str) -> dict[str, Any]:
    """The JSON a webhook gets (docs/NOTIFY.md): Discord's ``content``, Slack's ``text``, or ours."""
    if fmt == "discord":
        return {"content": _clip(text, DISCORD_MAX), "username": "tradewarden"}
    if fmt == "slack":
        return {"text": text}
    return {"source": "tradewarden", "bot": label, "severity": alert.severity.label, "kind": alert.kind,
            "subject": alert.subject, "count": alert.count, "text": alert.text, "message": text, "ts": alert.ts,
            "time": datetime.fromtimestamp(alert.ts / 1000, UTC).isoformat().replace("+00:00", "Z")}


@dataclass(frozen=True)
class Webhook:
    url: str
    format: str
    label: str
    timeout_s: float = 10.0

    @property
    def name(self) -> str:
        # the host only: a Discord or Slack URL's path is its token
        return f"webhook ({urlsplit(self.url).hostname or '?'})"

    async def send(self, http: aiohttp.ClientSession, alert: Alert, text: str) -> None:
        body = scrub_value(webhook_body(self.format, alert, text, self.label))
        status, data = await _post(http, self.url, body, self.timeout_s)
        if 200 <= status < 300:
            return
        retry_after = data.get("retry_after") if isinstance(data, dict) else None  # Discord says how long
        detail = str(data.get("message", "")) if isinstance(data, dict) else ""
        raise _http_error(status, detail, float(retry_after) if isinstance(retry_after, int | float) else None)
