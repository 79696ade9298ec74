"""The notifier as the node runs it: built from the config, subscribed to a real event bus, sending to the fake
Bot API and a webhook receiver from its own thread, long-polling getUpdates for commands, closed after the bus."""

from __future__ import annotations

import secrets
from decimal import Decimal
from pathlib import Path
from typing import Any

from prometheus_client import generate_latest
from sqlalchemy import select

from tradewarden.config import AppConfig, load_config
from tradewarden.domain.events import EventType as E
from tradewarden.notify.alerts import Alert, Severity
from tradewarden.notify.build import build_notifier
from tradewarden.notify.notifier import Notifier
from tradewarden.observability.bus import EventBus
from tradewarden.observability.metrics import BotMetrics
from tradewarden.persistence import Database
from tradewarden.persistence.models import OperatorRequest

from .fakes import FakeTelegram, WebhookReceiver, wait_until

CHAT, OTHER = 111, 999
STARTED = {"mode": "paper", "version": "1", "config_hash": "abc", "symbols": ["BTC/USDT"],
           "strategy": {"name": "sma_cross", "params": {}}}
KILL = {"reason": "exchange down", "actor": "ops@host", "set_ts": 1, "close_positions": False}
FINISHED = {"trades": 0, "final_equity": None, "run_dir": "r", "mode": "paper", "reason": "signal SIGTERM",
            "candles": 3}


def config(tmp_path: Path, telegram: FakeTelegram | None, webhook: WebhookReceiver | None,
           **settings: str) -> AppConfig:
    env = {"TRADEWARDEN_DATA_DIR": str(tmp_path / "data")}
    if telegram is not None:
        env |= {"TRADEWARDEN_NOTIFY__TELEGRAM__TOKEN": telegram.token,
                "TRADEWARDEN_NOTIFY__TELEGRAM__CHAT_IDS": str(CHAT),
                "TRADEWARDEN_NOTIFY__TELEGRAM__API_URL": telegram.url}
    if webhook is not None:
        env |= {"TRADEWARDEN_NOTIFY__WEBHOOK__URL": webhook.url}
    env |= {f"TRADEWARDEN_NOTIFY__{k.upper()}": v for k, v in settings.items()}
    return load_config(None, {}, env=env)


def notifier(cfg: AppConfig) -> Notifier:
    found = build_notifier(cfg, "paper")
    assert found is not None
    found.poll_timeout_s = 1
    return found


def test_no_channel_no_notifier(tmp_path: Path) -> None:
    assert build_notifier(config(tmp_path, None, None), "paper") is None


def test_bot_started_kill_switch_and_stop_reach_every_channel(tmp_path: Path, telegram: FakeTelegram,
                                                              webhook: WebhookReceiver) -> None:
    n = notifier(config(tmp_path, telegram, webhook))
    bus = EventBus()
    n.attach(bus)
    bus.emit(E.RUN_STARTED, 1, **STARTED)
    bus.emit(E.KILL_SWITCH_ACTIVATED, 2, **KILL)
    wait_until("two messages on Telegram", lambda: len(telegram.texts(CHAT)) >= 2)
    bus.emit(E.RUN_FINISHED, 3, **FINISHED)
    bus.close()
    n.close()
    texts = telegram.texts(CHAT)
    assert [t.splitlines()[1].split(":")[0] for t in texts] == ["bot started", "KILL SWITCH ON by ops@host",
                                                                "bot stopped (signal SIGTERM)"]
    assert "CRITICAL" in texts[1] and "paper BTC/USDT donchian" in texts[1]
    assert [b["kind"] for b in webhook.bodies] == ["bot_started", "kill_switch_on", "bot_stopped"]
    counts = n.counts()
    assert counts.sent == {f"telegram chat {CHAT}": 3, "webhook (127.0.0.1)": 3} and counts.dropped == 0


def test_a_burst_of_a_thousand_events_is_a_handful_of_messages(tmp_path: Path, telegram: FakeTelegram,
                                                               webhook: WebhookReceiver) -> None:
    n = notifier(config(tmp_path, telegram, webhook))
    bus = EventBus()
    n.attach(bus)
    for i in range(1000):
        bus.emit(E.ORDER_REJECTED, i, client_id=f"tw-{i}", symbol=("BTC/USDT", "ETH/USDT")[i % 2], reason="-1013")
    bus.close()
    n.close()  # ends the collapse windows early: their counts are sent
    assert len(webhook.bodies) == 4 and len(telegram.texts(CHAT)) == 4
    assert sum(b["count"] for b in webhook.bodies) == 1000
    assert sorted(b["count"] for b in webhook.bodies) == [1, 1, 499, 499]
    assert next(s for s in bus.stats() if s.name == "notify").dropped == 0


def test_silence_is_told_by_the_notifiers_own_timer(tmp_path: Path, telegram: FakeTelegram) -> None:
    n = notifier(config(tmp_path, telegram, None))
    now = [0]
    n.clock_ms, n.tick_s = (lambda: now[0]), 0.02
    bus = EventBus()
    n.attach(bus)
    bus.emit(E.RUN_STARTED, 1, **STARTED)  # market.timeframe 1h by default: two bars are 2 h
    wait_until("bot started", lambda: len(telegram.texts(CHAT)) == 1)
    now[0] = 2 * 3_600_000 + 1
    wait_until("the no-candle alert", lambda: len(telegram.texts(CHAT)) == 2)
    assert "no candle for 120 min" in telegram.texts(CHAT)[1]
    bus.close()
    n.close()


def test_a_full_queue_drops_and_counts() -> None:
    n = Notifier(_pipeline(), [], "label", queue_size=2)
    for _ in range(5):
        n.enqueue(Alert("x", "y", Severity.WARNING, "t", 0))
    assert n.counts().dropped == 3


def _pipeline() -> Any:
    from tradewarden.notify.pipeline import Pipeline, PipelineSettings
    from tradewarden.notify.watch import WatchSettings

    return Pipeline(PipelineSettings(WatchSettings(60_000)))


def test_the_counters_are_metrics(tmp_path: Path, telegram: FakeTelegram, webhook: WebhookReceiver) -> None:
    webhook.status = 404
    n = notifier(config(tmp_path, telegram, webhook))
    metrics = BotMetrics(process=False)
    metrics.count_notifications(n.counts)
    bus = EventBus()
    n.attach(bus)
    bus.emit(E.KILL_SWITCH_ACTIVATED, 2, **KILL)
    bus.close()
    n.close()
    text = generate_latest(metrics.registry).decode()
    assert f'tradewarden_notify_sent_total{{channel="telegram chat {CHAT}"}} 1.0' in text
    assert 'tradewarden_notify_failures_total{channel="webhook (127.0.0.1)"} 1.0' in text
    assert "tradewarden_notify_dropped_total 0.0" in text


def test_commands_from_the_allowed_chat_are_carried_out_and_others_ignored(
        tmp_path: Path, telegram: FakeTelegram) -> None:
    cfg = config(tmp_path, telegram, None)
    Database.open(None, cfg.data_dir).close()  # the bot's boot migrates the database before RunStarted
    n = notifier(cfg)
    bus = EventBus()
    n.attach(bus)
    bus.emit(E.RUN_STARTED, 1, **STARTED)
    telegram.say(OTHER, "/pause from a stranger", user_id=7, username="mallory")
    telegram.say(CHAT, "/pause maintenance", user_id=42, username="ops")
    wait_until("the reply", lambda: any("queued" in t for t in telegram.texts(CHAT)))
    bus.close()
    n.close()
    assert telegram.texts(OTHER) == []
    assert n.desk is not None and n.desk.ignored == 1
    db = Database.open(None, cfg.data_dir)
    try:
        with db.session() as s:
            rows = [(r.kind, r.actor, r.reason) for r in s.scalars(select(OperatorRequest))]
    finally:
        db.close()
    assert rows == [("pause_entries", "telegram:@ops(42)", "maintenance")]


def test_the_token_and_other_secrets_are_never_in_a_message(tmp_path: Path, telegram: FakeTelegram,
                                                            webhook: WebhookReceiver) -> None:
    canary = "canary-" + secrets.token_hex(8)
    cfg = config(tmp_path, telegram, webhook)
    n = notifier(cfg)
    bus = EventBus()
    n.attach(bus)
    # the bus's journal scrubs too; handing the notifier a raw record shows that it scrubs on its own
    from tradewarden.observability.bus import Event
    from tradewarden.observability.scrub import register_secret

    register_secret(canary)
    n.handle(Event(1, E.KILL_SWITCH_ACTIVATED, 1, {**KILL, "reason": f"leaked {canary} and {telegram.token}"}))
    n.handle(Event(2, E.ORDER_REJECTED, 2, {"client_id": "c", "symbol": "BTC/USDT",
                                            "reason": f"apiKey={canary}", "equity": Decimal(1)}))
    bus.close()
    n.close()
    sent = str([s.body for s in telegram.sent]) + str(webhook.bodies)
    assert len(telegram.sent) == 2 and len(webhook.bodies) == 2
    assert canary not in sent and telegram.token not in sent and "***" in sent
