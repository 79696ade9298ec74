"""The notifier and its channels as the config (``notify``) asks for them, and ``notify test``.

Nothing here runs unless ``notify`` has a channel: a Telegram token with chat ids, or a webhook URL.
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass

import aiohttp

from tradewarden.config.models import AppConfig, NotifyConfig
from tradewarden.domain.candles import timeframe_ms
from tradewarden.notify.alerts import Alert, Severity
from tradewarden.notify.channels import Channel, TelegramApi, TelegramChat, Webhook
from tradewarden.notify.commands import CommandDesk
from tradewarden.notify.delivery import Backoff, Counters, deliver
from tradewarden.notify.notifier import Notifier, wall_ms
from tradewarden.notify.pipeline import Pipeline, PipelineSettings, render
from tradewarden.notify.watch import DAY_MS, HOUR_MS, WatchSettings
from tradewarden.persistence import Database


def telegram_api(cfg: NotifyConfig) -> TelegramApi | None:
    token = cfg.telegram.token
    if not cfg.telegram.enabled or token is None:
        return None
    return TelegramApi(cfg.telegram.api_url, token.get_secret_value())


def channels(cfg: NotifyConfig, label: str) -> list[Channel]:
    """Every configured channel: each Telegram chat, then the webhook."""
    found: list[Channel] = []
    api = telegram_api(cfg)
    if api is not None:
        found += [TelegramChat(api, chat) for chat in cfg.telegram.chat_ids]
    if cfg.webhook.url is not None:
        found.append(Webhook(cfg.webhook.url, cfg.webhook.format, label))
    return found


def bot_label(cfg: AppConfig, mode: str) -> str:
    """How messages name the bot: mode, symbols, strategy and host."""
    return f"{mode} {', '.join(cfg.market.traded_symbols)} {cfg.strategy.name} @ {socket.gethostname()}"


def pipeline_settings(cfg: AppConfig) -> PipelineSettings:
    n = cfg.notify
    watch = WatchSettings(timeframe_ms(cfg.market.timeframe), no_trade_ms=int(n.no_trade_hours * HOUR_MS),
                          daily_loss_pct=n.daily_loss_alert_pct, sharpe_floor=n.decay_sharpe_floor,
                          sharpe_window_ms=int(n.decay_window_days * DAY_MS))
    return PipelineSettings(watch, Severity.named(n.min_severity), int(n.collapse_s * 1000))


def build_notifier(cfg: AppConfig, mode: str) -> Notifier | None:
    """The session's notifier (not yet attached), or None when no channel is configured."""
    n = cfg.notify
    if not n.channels_configured:
        return None
    label = bot_label(cfg, mode)
    api = telegram_api(n)
    desk = None
    if api is not None and n.telegram.commands:
        desk = CommandDesk(set(n.telegram.chat_ids), lambda: Database.open(cfg.database.url, cfg.data_dir))
    return Notifier(Pipeline(pipeline_settings(cfg)), channels(n, label), label, telegram=api, desk=desk,
                    queue_size=n.queue_size, backoff=Backoff(n.retries))


@dataclass(frozen=True)
class TestResult:
    channel: str
    ok: bool
    error: str


#: ``notify test`` answers within seconds: two retries, short waits
TEST_BACKOFF = Backoff(retries=2, base_s=0.5, max_s=2.0)


def send_test(cfg: AppConfig, mode: str = "test") -> list[TestResult]:
    """A test message to every configured channel; each channel's result (none: nothing configured)."""
    label = bot_label(cfg, mode)
    found = channels(cfg.notify, label)
    if not found:
        return []
    alert = Alert("test", "notify", Severity.INFO, "test message: notifications reach this channel", wall_ms())
    text = render(alert, label)
    counters = Counters()

    async def run() -> list[bool]:
        async with aiohttp.ClientSession() as http:
            return list(await asyncio.gather(*(deliver(c, http, alert, text, TEST_BACKOFF, counters)
                                               for c in found)))

    oks = asyncio.run(run())
    return [TestResult(c.name, ok, "" if ok else counters.of(c.name).last_error) for c, ok in zip(found, oks,
                                                                                                      strict=True)]
