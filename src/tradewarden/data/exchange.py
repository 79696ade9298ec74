"""Making ccxt exchange objects: any exchange id, with per-exchange URL and option overrides from config.

The same :class:`ExchangeSettings` builds the synchronous class (``ccxt``), the asyncio class
(``ccxt.async_support``) or the WebSocket class (``ccxt.pro``). URL overrides are how the built-in exchange
simulator (or a proxy) is reached: they are given under ``urls.api`` and, so that
``set_sandbox_mode(True)`` stays local too, ``urls.test`` (see docs/DATA.md). Secrets are passed through
to ccxt and never appear in ``repr`` or messages.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Flavor = Literal["sync", "async", "pro"]


class ExchangeConfigError(ValueError):
    """An exchange that cannot be built from the given settings; the message says which setting."""


RECV_WINDOW_MS = 5_000


@dataclass(frozen=True)
class ExchangeSettings:
    id: str
    urls: Mapping[str, Any] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)
    api_key: str | None = field(default=None, repr=False)
    api_secret: str | None = field(default=None, repr=False)
    api_password: str | None = field(default=None, repr=False)  # passphrase (OKX, KuCoin...)
    sandbox: bool = False
    enable_rate_limit: bool = True
    timeout_ms: int = 10_000
    extra: Mapping[str, Any] = field(default_factory=dict)  # any other ccxt constructor key

    def ccxt_config(self) -> dict[str, Any]:
        """The ccxt constructor dictionary (ccxt deep-merges it into the exchange's description)."""
        cfg: dict[str, Any] = {"enableRateLimit": self.enable_rate_limit, "timeout": self.timeout_ms}
        cfg.update(dict(self.extra))
        if self.urls:
            urls = dict(self.urls)
            if "api" not in urls and "test" not in urls:  # the bare api-URL map: use it for both modes
                urls = {"api": urls, "test": urls}
            cfg["urls"] = urls
        # Binance's own default window (ccxt sends 10 s): a create whose answer was lost is known to be dead after
        # recvWindow + 1 s, so the bot waits at most ~6.5 s (not ~11.5 s) before it may resend (venues/exchange.py)
        cfg["options"] = {"recvWindow": RECV_WINDOW_MS, **dict(self.options)}
        if self.api_key:
            cfg["apiKey"] = self.api_key
        if self.api_secret:
            cfg["secret"] = self.api_secret
        if self.api_password:
            cfg["password"] = self.api_password
        return cfg


def settings_from_ccxt_config(exchange_id: str, config: Mapping[str, Any]) -> ExchangeSettings:
    """Settings from a ready ccxt constructor dictionary (e.g. the simulator's ``ccxt_config()``)."""
    cfg = dict(config)
    return ExchangeSettings(
        id=exchange_id,
        urls=cfg.pop("urls", {}),
        options=cfg.pop("options", {}),
        api_key=cfg.pop("apiKey", None),
        api_secret=cfg.pop("secret", None),
        api_password=cfg.pop("password", None),
        enable_rate_limit=bool(cfg.pop("enableRateLimit", True)),
        timeout_ms=int(cfg.pop("timeout", 10_000)),
        extra=cfg,
    )


def settings_from_config(cfg: Any, exchange_id: str | None = None) -> ExchangeSettings:
    """Settings from an ``AppConfig``-like object (``cfg.exchange.id/urls/options/api_key/...``)."""
    ex = getattr(cfg, "exchange", cfg)

    def get(name: str, default: Any = None) -> Any:
        value = getattr(ex, name, None) if not isinstance(ex, Mapping) else ex.get(name)
        if value is None:
            return default
        return value.get_secret_value() if hasattr(value, "get_secret_value") else value

    eid = exchange_id or get("id")
    if not eid:
        raise ExchangeConfigError("no exchange given: set exchange.id in the config or pass --exchange")
    same = exchange_id is None or exchange_id == get("id")
    return ExchangeSettings(
        id=str(eid),
        urls=dict(get("urls", {})) if same else {},
        options=dict(get("options", {})) if same else {},
        api_key=get("api_key") if same else None,
        api_secret=get("api_secret") if same else None,
        api_password=get("api_password") if same else None,
        sandbox=bool(get("sandbox", False)) if same else False,
    )


def make_exchange(settings: ExchangeSettings, flavor: Flavor = "sync") -> Any:
    """A ccxt exchange object of the requested flavor, sandbox mode applied if asked."""
    if flavor == "sync":
        import ccxt as module
    elif flavor == "async":
        import ccxt.async_support as module
    elif flavor == "pro":
        import ccxt.pro as module
    else:
        raise ExchangeConfigError(f"unknown exchange flavor {flavor!r} (sync, async or pro)")
    cls = getattr(module, settings.id, None)
    if cls is None or not isinstance(cls, type):
        hint = " (WebSocket support needs an exchange ccxt.pro implements)" if flavor == "pro" else ""
        raise ExchangeConfigError(
            f"unknown exchange id {settings.id!r} for ccxt{hint}; see ccxt.exchanges for the list"
        )
    exchange = cls(settings.ccxt_config())
    if settings.sandbox:
        try:
            exchange.set_sandbox_mode(True)
        except Exception as exc:  # ccxt raises NotSupported for exchanges without a testnet
            raise ExchangeConfigError(f"exchange {settings.id!r} has no sandbox mode: {exc}") from None
    return exchange
