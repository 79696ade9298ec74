"""The channels against local servers: Telegram's sendMessage on the fake Bot API, the webhook's three shapes,
retries with backoff (the waits counted, not waited), failures counted and logged, secrets never sent."""

from __future__ import annotations

import asyncio
import logging
import secrets
import socket
from typing import Any

import aiohttp
import pytest

from tradewarden.notify.alerts import Alert, Severity
from tradewarden.notify.channels import Channel, TelegramApi, TelegramChat, Webhook
from tradewarden.notify.delivery import Backoff, Counters, deliver
from tradewarden.notify.pipeline import render
from tradewarden.observability.scrub import register_secret

from .fakes import FakeTelegram, WebhookReceiver

ALERT = Alert("kill_switch_on", "global", Severity.CRITICAL, "KILL SWITCH ON by ops: exchange down", 1_767_225_600_000)
LABEL = "paper BTC/USDT sma_cross @ host"
THREE = Backoff(retries=3)


def send(channel: Channel, alert: Alert = ALERT, backoff: Backoff = THREE,
         counters: Counters | None = None) -> tuple[bool, list[float], Counters]:
    """One delivery; the backoff's waits are recorded instead of slept."""
    waits: list[float] = []
    counts = counters if counters is not None else Counters()

    async def fake_sleep(seconds: float) -> None:
        waits.append(seconds)

    async def run() -> bool:
        async with aiohttp.ClientSession() as http:
            return await deliver(channel, http, alert, render(alert, LABEL), backoff, counts, fake_sleep)

    return asyncio.run(run()), waits, counts


def chat(telegram: FakeTelegram, chat_id: int = 111) -> TelegramChat:
    return TelegramChat(TelegramApi(telegram.url, telegram.token), chat_id)


def test_telegram_gets_the_message_as_plain_text(telegram: FakeTelegram) -> None:
    ok, waits, counts = send(chat(telegram))
    assert ok and waits == [] and counts.of("telegram chat 111").sent == 1
    (sent,) = telegram.sent
    assert sent.chat_id == 111 and sent.text == render(ALERT, LABEL)
    assert "parse_mode" not in sent.body  # plain text: nothing to escape, nothing to break
    assert telegram.token not in str(sent.body)


def test_server_errors_are_retried_with_doubling_waits(telegram: FakeTelegram) -> None:
    telegram.fail_next = [500, 502, 503]
    ok, waits, counts = send(chat(telegram), backoff=Backoff(retries=4, base_s=1.0, max_s=30.0))
    assert ok and waits == [1.0, 2.0, 4.0] and len(telegram.sent) == 1
    c = counts.of("telegram chat 111")
    assert (c.sent, c.retries, c.failed) == (1, 3, 0)


def test_a_429_waits_what_telegram_asks_and_the_wait_is_capped() -> None:
    assert Backoff(retries=3, base_s=1, max_s=30).delay(1, asked_s=0.0) == 0.0
    assert Backoff(retries=3, base_s=1, max_s=30).delay(1, asked_s=120.0) == 30.0
    assert Backoff(retries=9, base_s=1, max_s=30).delay(9) == 30.0


def test_telegram_429_is_retried(telegram: FakeTelegram) -> None:
    telegram.fail_next = [429]
    ok, waits, _ = send(chat(telegram))
    assert ok and waits == [0.0]


def test_retries_are_bounded_and_the_failure_counted_and_logged_once_a_row(
        telegram: FakeTelegram, caplog: pytest.LogCaptureFixture) -> None:
    telegram.fail_next = [500] * 20
    counts = Counters()
    with caplog.at_level(logging.WARNING, "tradewarden.notify"):
        for _ in range(2):
            ok, waits, _ = send(chat(telegram), backoff=Backoff(retries=2), counters=counts)
            assert not ok and len(waits) == 2
    c = counts.of("telegram chat 111")
    assert (c.sent, c.failed, c.retries) == (0, 2, 4) and c.last_error.startswith("HTTP 500")
    assert len([r for r in caplog.records if "failed after 3 attempt(s)" in r.getMessage()]) == 1
    telegram.fail_next = []
    with caplog.at_level(logging.WARNING, "tradewarden.notify"):
        assert send(chat(telegram), counters=counts)[0]
    assert any("work again after 2 failed" in r.getMessage() for r in caplog.records)


def test_a_refusal_is_not_retried_and_no_log_line_holds_the_token(telegram: FakeTelegram,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    wrong = TelegramChat(TelegramApi(telegram.url, telegram.token + "x"), 111)
    with caplog.at_level(logging.DEBUG):
        ok, waits, counts = send(wrong)
    assert not ok and waits == [] and counts.of("telegram chat 111").last_error == "HTTP 401: Unauthorized"
    assert len(telegram.requests) == 1
    assert caplog.records and not any(telegram.token in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("fmt", ["json", "discord", "slack"])
def test_the_webhook_shapes(webhook: WebhookReceiver, fmt: str) -> None:
    ok, _, _ = send(Webhook(webhook.url, fmt, LABEL))
    assert ok
    (body,) = webhook.bodies
    text = render(ALERT, LABEL)
    expected: dict[str, Any] = {
        "json": {"source": "tradewarden", "bot": LABEL, "severity": "critical", "kind": "kill_switch_on",
                 "subject": "global", "count": 1, "text": ALERT.text, "message": text, "ts": ALERT.ts,
                 "time": "2026-01-01T00:00:00Z"},
        "discord": {"content": text, "username": "tradewarden"},
        "slack": {"text": text},
    }
    assert body == expected[fmt]


def test_a_long_message_is_clipped_to_what_discord_takes(webhook: WebhookReceiver) -> None:
    long = Alert("x", "y", Severity.WARNING, "z" * 5000, 0)
    assert send(Webhook(webhook.url, "discord", LABEL), alert=long)[0]
    assert len(webhook.bodies[0]["content"]) == 2000


def test_a_failing_webhook_is_named_by_its_host_only(webhook: WebhookReceiver) -> None:
    webhook.status = 500
    hook = Webhook(webhook.url.replace("/hook", "/hook/" + secrets.token_hex(8)), "json", LABEL)
    ok, waits, counts = send(hook, backoff=Backoff(retries=1))
    assert not ok and len(waits) == 1
    assert hook.name == "webhook (127.0.0.1)" and counts.of(hook.name).failed == 1


def test_a_connection_refused_is_retried_then_counted() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed when the block ends: nothing listens there
    ok, waits, counts = send(Webhook(f"http://127.0.0.1:{port}/hook", "json", LABEL), backoff=Backoff(retries=2))
    assert not ok and len(waits) == 2 and counts.of("webhook (127.0.0.1)").failed == 1


def test_a_secret_in_an_alert_never_reaches_a_channel(telegram: FakeTelegram, webhook: WebhookReceiver) -> None:
    canary = "canary-" + secrets.token_hex(8)
    register_secret(canary)
    leaky = Alert("order_rejected", "BTC/USDT", Severity.WARNING, f"rejected: bad key {canary}", 0)
    for fmt in ("json", "discord", "slack"):
        assert send(Webhook(webhook.url, fmt, LABEL), alert=leaky)[0]
    assert send(chat(telegram), alert=leaky)[0]
    seen = str(webhook.bodies) + str([s.body for s in telegram.sent])
    assert canary not in seen and seen.count("***") == 5  # json holds it twice (text and message)
