"""What the fleet endpoints send and accept: the registry's views as JSON, the request bodies with their checks,
and 422s as one clear line.

No secret goes out: an account is sent with the *names* of its key variables only, a URL's user information
is replaced by ``***``, and free text an instance wrote (its last error, an event's reason, a harness detail)
passes the secret scrubber and has the values of the variables accounts name masked, in case a library put a
key into an exception message. No secret comes in: the bodies forbid unknown fields (an ``api_key`` field is
refused, not ignored), and a variable name must look like one (capital letters, digits, ``_``), which a pasted
exchange key (mixed case) does not. A refusal never echoes the value it refused.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from tradewarden.observability.scrub import MASK, is_secret_env_name, scrub
from tradewarden.persistence.fleet_repo import (
    AccountView,
    ExchangeView,
    HarnessOutcome,
    InstanceEventView,
    InstanceView,
)

#: an environment variable's name as accounts name them; empty: none (a market-data-only account)
ENV_NAME = r"^([A-Z][A-Z0-9_]{0,99})?$"
ENV_FIELDS = ("api_key_env", "api_secret_env")
ENV_HINT = ("is not an environment variable name: use capital letters, digits and _, starting with a letter "
            "(e.g. ANA_BINANCE_KEY); give the variable's name, never the key itself")
# printable text on one line (names shown on cards and in the feed)
_LINE = r"^[^\x00-\x1f\x7f]*$"



def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value.strip()


EnvName = Annotated[str, Field(max_length=100, pattern=ENV_NAME)]
Name = Annotated[str, Field(min_length=1, max_length=200, pattern=_LINE), AfterValidator(_not_blank)]
Reason = Annotated[str, Field(max_length=500, pattern=_LINE)]


class AccountBody(BaseModel):
    """A new account (user_exchange): whose, on which exchange, its name, where its key and secret live."""

    model_config = ConfigDict(extra="forbid")

    user: Name
    exchange: Annotated[str, Field(min_length=1, max_length=64, pattern=_LINE), AfterValidator(_not_blank)]
    display_name: Name
    api_key_env: EnvName = ""
    api_secret_env: EnvName = ""
    is_active: bool = True
    is_default: bool = False


class AccountChange(BaseModel):
    """Changes to an account; a field left out stays as it is, an empty variable name clears it."""

    model_config = ConfigDict(extra="forbid")

    display_name: Name | None = None
    api_key_env: EnvName | None = None
    api_secret_env: EnvName | None = None
    is_active: bool | None = None
    is_default: bool | None = None


class ReasonBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Reason = ""


def same_variable(key_env: str | None, secret_env: str | None) -> bool:
    return bool(key_env) and key_env == secret_env


def one_message(errors: Sequence[Any]) -> str:
    """A request's validation errors as one line naming the field and where it was; never the value sent."""
    if not errors:
        return "invalid request"
    first = errors[0]
    loc = [str(p) for p in first.get("loc", ())]
    where, field = (loc[0] if loc else "request"), ".".join(loc[1:])
    kind = str(first.get("type", ""))
    if kind == "json_invalid":
        return "the request body is not valid JSON"
    if kind == "string_pattern_mismatch" and field in ENV_FIELDS:
        text = f"{field} {ENV_HINT}"
    elif kind == "string_pattern_mismatch":
        text = f"{field}: must be printable text on one line"
    elif kind == "extra_forbidden" and is_secret_env_name(field):
        text = f"{field}: unknown field (an account takes the names of variables only: {', '.join(ENV_FIELDS)})"
    elif kind == "extra_forbidden":
        text = f"{field}: unknown field"
    else:
        msg = str(first.get("msg", "invalid")).removeprefix("Value error, ")
        text = f"{field}: {msg[:1].lower()}{msg[1:]}" if field else f"the {where}: {msg[:1].lower()}{msg[1:]}"
    more = len(errors) - 1
    return f"{text} (in the {where})" + (f"; and {more} more problem{'s' if more > 1 else ''}" if more else "")


# -- out -----------------------------------------------------------------------------------------------
_USERINFO = re.compile(r"//[^/@\s]*@")


def safe_url(url: str | None) -> str | None:
    """The URL with any ``user:password@`` replaced by ``***@``."""
    return None if url is None else _USERINFO.sub(f"//{MASK}@", url)


class Redactor:
    """Masks, in text an instance wrote, secret-shaped strings and the values of the variables accounts name."""

    def __init__(self, accounts: Iterable[AccountView]) -> None:
        names = {n for a in accounts for n in (a.api_key_env, a.api_secret_env) if n}
        # longest first: a value containing another is masked whole
        self.values = sorted({v for n in names if len(v := os.environ.get(n, "").strip()) >= 4}, key=len,
                             reverse=True)

    def __call__(self, text: str | None) -> str | None:
        if text is None:
            return None
        for value in self.values:
            text = text.replace(value, MASK)
        return scrub(text)


def exchange_json(e: ExchangeView) -> dict[str, Any]:
    return {"id": e.id, "slug": e.slug, "ccxt_id": e.ccxt_id, "display_name": e.display_name,
            "rest_url": safe_url(e.rest_url), "ws_url": safe_url(e.ws_url), "is_active": e.is_active,
            "is_default": e.is_default}


def account_json(a: AccountView) -> dict[str, Any]:
    return {"id": a.id, "user": a.user, "exchange": a.exchange, "display_name": a.display_name,
            "api_key_env": a.api_key_env, "api_secret_env": a.api_secret_env, "is_active": a.is_active,
            "is_default": a.is_default}


def instance_json(i: InstanceView, now: int, account: str | None, redact: Redactor,
                  stale_ms: int) -> dict[str, Any]:
    p = i.progress
    return {"id": i.id, "exchange": i.exchange, "exchange_id": i.exchange_id, "account_id": i.user_exchange_id,
            "account": account, "role": i.role.value, "host": i.host, "pid": i.pid, "state": i.state.value,
            "shown": i.shown(now, stale_ms), "desired": i.desired.value, "symbols": list(i.symbols),
            "timeframes": list(i.timeframes),
            "progress": {"symbols_done": p.symbols_done, "symbols_total": p.symbols_total,
                         "candles_done": p.candles_done, "candles_total": p.candles_total,
                         "fraction": round(p.fraction, 4)},
            "last_heartbeat_ms": i.last_heartbeat_ms,
            "heartbeat_age_ms": None if i.last_heartbeat_ms is None else max(0, now - i.last_heartbeat_ms),
            "last_error": redact(i.last_error), "started_ms": i.started_ms, "state_since_ms": i.state_since_ms}


def event_json(e: InstanceEventView, instance: InstanceView | None, redact: Redactor) -> dict[str, Any]:
    return {"id": e.id, "instance_id": e.instance_id, "exchange": instance.exchange if instance else None,
            "role": instance.role.value if instance else None, "host": instance.host if instance else None,
            "ts": e.ts, "kind": e.kind, "from_state": e.from_state, "to_state": e.to_state,
            "reason": redact(e.reason), "actor": e.actor}


def harness_json(slug: str, rows: Sequence[tuple[str, int, str, HarnessOutcome]],
                 redact: Redactor) -> dict[str, Any] | None:
    """The newest run among ``rows`` (newest first) of one exchange: when, each test, and whether all passed."""
    if not rows:
        return None
    _, ts, run_id, _ = rows[0]
    tests = [o for _, _, rid, o in rows if rid == run_id]
    return {"exchange": slug, "run_id": run_id, "ts": ts, "passed": all(o.passed for o in tests),
            "tests": [{"test": o.test, "passed": o.passed, "detail": redact(o.detail), "counts": o.counts}
                      for o in reversed(tests)]}
