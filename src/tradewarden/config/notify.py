"""The ``notify`` section of the configuration: the Telegram and webhook channels (their URLs checked, the
Telegram token and its chats required together), the severity sent at once, repeat collapsing, the thresholds
of the alerts with memory (the day's loss, no trade, parameter decay) and the send queue and retries.
:mod:`tradewarden.notify` acts on it.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from tradewarden.config.section import Pct, Section

_HTTP_URL = re.compile(r"^https?://[^\s/]+")


def _http_url(value: str, what: str) -> str:
    if not _HTTP_URL.match(value.strip()):
        raise ValueError(f"{what} must be an http:// or https:// URL")
    return value.strip()


class TelegramConfig(Section):
    """Telegram alerts and commands (docs/NOTIFY.md). The bot token is a secret: environment
    (``TRADEWARDEN_NOTIFY__TELEGRAM__TOKEN``) or the secrets file only."""

    token: SecretStr | None = None
    chat_ids: list[int] = Field(default_factory=list)  # alerts go to each; commands are taken from these only
    api_url: str = "https://api.telegram.org"          # the Bot API's base URL (tests: a local fake)
    commands: bool = True                              # answer /status, /kill ... from the allowed chats

    @field_validator("chat_ids", mode="before")
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        # "123,-100456" from the environment or --set
        return [part.strip() for part in value.split(",") if part.strip()] if isinstance(value, str) else value

    @field_validator("api_url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _http_url(value, "the Bot API URL").rstrip("/")  # methods are appended as /bot<token>/<method>

    @model_validator(mode="after")
    def _both_or_neither(self) -> TelegramConfig:
        has_token = self.token is not None and self.token.get_secret_value().strip() != ""
        if has_token and not self.chat_ids:
            raise ValueError("a token needs chat_ids: the chats that get alerts and may send commands")
        if self.chat_ids and not has_token:
            raise ValueError("chat_ids need a token (TRADEWARDEN_NOTIFY__TELEGRAM__TOKEN or the secrets file)")
        return self

    @property
    def enabled(self) -> bool:
        return self.token is not None and bool(self.chat_ids)


class WebhookConfig(Section):
    """A JSON POST per alert (docs/NOTIFY.md: the json, discord and slack shapes)."""

    # Discord and Slack URLs embed their token: the URL is masked in logs and `config show`
    url: str | None = None
    format: Literal["json", "discord", "slack"] = "json"

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return None if value is None else _http_url(value, "the webhook URL")


class NotifyConfig(Section):
    """Alerts of a running bot (docs/NOTIFY.md): what is sent at once, what waits for the daily summary."""

    telegram: TelegramConfig = Field(default_factory=TelegramConfig)
    webhook: WebhookConfig = Field(default_factory=WebhookConfig)
    # alerts of this severity or above are sent at once; the others wait for the daily summary
    min_severity: Literal["info", "warning", "critical"] = "warning"
    collapse_s: float = Field(300.0, ge=0)  # repeats of one kind and subject within this window: one message
    # today's loss past this percent of the equity the UTC day started with is a critical alert (unset: none)
    daily_loss_alert_pct: Pct | None = 3.0
    no_trade_hours: float = Field(72.0, gt=0)
    decay_sharpe_floor: float | None = 0.5  # rolling Sharpe of the live parameters under this: an alert
    decay_window_days: float = Field(30.0, gt=0)  # ... over this many days of closed candles
    queue_size: int = Field(200, ge=1)  # messages waiting to be sent; more are dropped and counted
    retries: int = Field(4, ge=0)       # a failed send is retried this often, with exponential backoff

    @property
    def channels_configured(self) -> bool:
        return self.telegram.enabled or self.webhook.url is not None
