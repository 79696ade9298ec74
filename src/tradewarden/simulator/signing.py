"""Checking signed requests the way Binance does: API key, HMAC-SHA256 signature and the recvWindow rule."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation

from tradewarden.simulator.errors import BinanceError, mandatory

_SIGNATURE = re.compile(r"(^|&)signature=[^&]*")
_KEY_FORMAT = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
MAX_RECV_WINDOW = Decimal(60000)
DEFAULT_RECV_WINDOW = Decimal(5000)


def sign(secret: str, payload: str) -> str:
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


class Authenticator:
    """Holds the accepted key pairs and the exchange's own clock (real time plus any injected skew)."""

    def __init__(self, keys: Mapping[str, str], server_time: Callable[[], int]) -> None:
        self.keys = dict(keys)
        self.server_time = server_time

    def _secret(self, api_key: str | None) -> str:
        if not api_key or not _KEY_FORMAT.match(api_key):
            raise BinanceError(-2014, "API-key format invalid.", 401)
        secret = self.keys.get(api_key)
        if secret is None:
            raise BinanceError(-2015, "Invalid API-key, IP, or permissions for action.", 401)
        return secret

    def _check_time(self, params: Mapping[str, str]) -> None:
        raw_ts = params.get("timestamp", "")
        if not raw_ts.isdigit():
            raise mandatory("timestamp")
        try:
            window = Decimal(params["recvWindow"]) if params.get("recvWindow") else DEFAULT_RECV_WINDOW
        except InvalidOperation:
            raise mandatory("recvWindow") from None
        if not window.is_finite() or window <= 0 or window > MAX_RECV_WINDOW:
            raise mandatory("recvWindow")
        ts, now = int(raw_ts), self.server_time()
        if ts >= now + 1000:
            raise BinanceError(-1021, "Timestamp for this request was 1000ms ahead of the server's time.")
        if now - ts > window:
            raise BinanceError(-1021, "Timestamp for this request is outside of the recvWindow.")

    def check_rest(
        self, api_key: str | None, raw_query: str, raw_body: str, params: Mapping[str, str]
    ) -> None:
        """Signature over the raw query string followed by the raw body, without the signature pair."""
        secret = self._secret(api_key)
        given = params.get("signature", "")
        if not given:
            raise mandatory("signature")
        payload = _SIGNATURE.sub("", raw_query).lstrip("&") + _SIGNATURE.sub("", raw_body).lstrip("&")
        if not hmac.compare_digest(sign(secret, payload), given.lower()):
            raise BinanceError(-1022, "Signature for this request is not valid.")
        self._check_time(params)

    def check_ws(self, params: Mapping[str, object]) -> str:
        """WebSocket API rule: params but the signature, sorted by name, joined ``k=v&...``; the key."""
        api_key = params.get("apiKey")
        secret = self._secret(api_key if isinstance(api_key, str) else None)
        given = params.get("signature")
        if not isinstance(given, str) or not given:
            raise mandatory("signature")
        payload = "&".join(f"{k}={params[k]}" for k in sorted(params) if k != "signature")
        if not hmac.compare_digest(sign(secret, payload), given.lower()):
            raise BinanceError(-1022, "Signature for this request is not valid.")
        self._check_time({k: str(v) for k, v in params.items()})
        assert isinstance(api_key, str)
        return api_key
