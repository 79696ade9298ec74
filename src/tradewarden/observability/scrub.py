"""Replacing secrets with ``***`` in any text before it leaves the process (log lines, events, tracebacks).

Three kinds of secret are recognised:

* **known values**: the value of every environment variable whose name contains KEY, SECRET, TOKEN or
  PASSWORD (case-insensitive), and every value passed to :func:`register_secret` (the config loader registers
  the exchange credentials, wherever they were read from);
* **named fields**: the value after ``api_key=``, ``"apiKey": "..."``, ``secret:``, ``password=``,
  ``token=``, ``signature=``, ``X-MBX-APIKEY:`` and similar spellings;
* **shapes**: ``Bearer <token>`` and ``Authorization: Basic <token>``, JSON web tokens, runs of 32 or
  more letters and digits mixing upper case, lower case and digits (Binance keys are 64 such characters),
  and base64 blobs of 32 or more characters with ``=`` padding or a ``+``.

A run of a single case of hex digits (a sha256 config hash, an HMAC signature) is never a secret by shape:
it is what we print on purpose. Any exact value given to :func:`register_public` is never scrubbed by shape
either, though a value registered as secret always is.

The environment is read once, on first use, and again on :func:`refresh_secrets` (tests set variables at
run time; ``setup_logging`` and ``load_config`` refresh).
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Mapping
from typing import Any

MASK = "***"

#: parts of environment variable names whose values are secrets
SECRET_NAME_PARTS = ("KEY", "SECRET", "TOKEN", "PASSWORD")

#: values of such variables shorter than this are ignored, else "1" or "true" would be masked everywhere
MIN_ENV_SECRET_LEN = 6
#: explicitly registered secrets may be shorter, but not so short that masking them mangles every line
MIN_REGISTERED_SECRET_LEN = 4

#: values that such variables commonly hold and which are settings, not secrets
_NOT_SECRET_VALUES = frozenset(
    {"true", "false", "yes", "no", "on", "off", "none", "null", "enabled", "disabled"}
)

_NAMED_FIELD = (
    r"(?:api[_-]?key|apikey|api[_-]?secret|secret[_-]?key|secret|passphrase|password|passwd|"
    r"access[_-]?token|refresh[_-]?token|auth[_-]?token|token|signature|x-mbx-apikey|private[_-]?key)"
)

# Each rule has its own pattern, run only when a cheap test (a substring of the lower-cased text, or a long
# run of key characters found with bytes.translate) says it could match: most lines match none, and scrubbing
# every event line must stay in the microseconds.
_AUTH = re.compile(r"(\bBearer\s+|\bAuthorization[\"']?\s*[:=]\s*[\"']?Basic\s+)[A-Za-z0-9\-._~+/]{12,}=*",
                   re.IGNORECASE)
_AUTH_HINTS = ("bearer", "basic")
# key: value / key=value / "key": "value"; JSON literals and plain numbers are left alone so lines stay JSON
_NAMED = re.compile(
    r"((?<![A-Za-z0-9])[\"']?" + _NAMED_FIELD + r"[\"']?\s*[:=]\s*[\"']?)"
    r"(?!(?:null|true|false|none)\b)[A-Za-z0-9\-._~+/]*[A-Za-z][A-Za-z0-9\-._~+/]*=*",
    re.IGNORECASE,
)
_NAMED_HINTS = ("key", "secret", "pass", "token", "signature")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*")
_RUN = re.compile(r"(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{32,}={0,2}")
_RUN_MIN = 32
# bytes.translate table: 1 for the characters of a key or base64 blob, 0 for every other byte
_RUN_TABLE = bytes(1 if chr(i).isascii() and (chr(i).isalnum() or chr(i) in "+/") else 0 for i in range(256))
_RUN_NEEDLE = b"\x01" * _RUN_MIN
_HAS_UPPER = re.compile(r"[A-Z]")
_HAS_LOWER = re.compile(r"[a-z]")
_HAS_DIGIT = re.compile(r"[0-9]")


def _has_long_run(text: str) -> bool:
    return _RUN_NEEDLE in text.encode("utf-8", "surrogatepass").translate(_RUN_TABLE)


def _mask_named(match: re.Match[str]) -> str:
    return match.group(1) + MASK


def _mask_auth(match: re.Match[str]) -> str:
    return match.group(1) + MASK


def _mixed(token: str) -> bool:
    """Upper case, lower case and digits together: random keys almost always, words and hashes never."""
    return bool(_HAS_UPPER.search(token) and _HAS_LOWER.search(token) and _HAS_DIGIT.search(token))


def is_secret_env_name(name: str) -> bool:
    upper = name.upper()
    return any(part in upper for part in SECRET_NAME_PARTS)


def _env_value_is_secret(value: str) -> bool:
    stripped = value.strip()
    if len(stripped) < MIN_ENV_SECRET_LEN or stripped.lower() in _NOT_SECRET_VALUES:
        return False
    # SSL_KEY_FILE=/etc/ssl/private/key.pem names a file, it is not the key: keep paths readable.
    return not (os.path.isabs(stripped) and os.path.exists(stripped))


def env_secret_values(environ: Mapping[str, str]) -> set[str]:
    """The values of ``environ`` that count as secrets (each line of a multi-line value too)."""
    found: set[str] = set()
    for name, value in environ.items():
        if not is_secret_env_name(name) or not _env_value_is_secret(value):
            continue
        found.add(value.strip())
        found.update(line.strip() for line in value.splitlines() if len(line.strip()) >= MIN_ENV_SECRET_LEN)
    return found


class Scrubber:
    """Holds the known secret and public values and scrubs text with precompiled patterns."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._env_secrets: set[str] = set()
        self._registered: set[str] = set()
        self._public: set[str] = set()
        self._known: tuple[str, ...] = ()
        self._env_loaded = False

    def refresh(self, environ: Mapping[str, str] | None = None) -> None:
        """Read the secret values of the environment again (``os.environ`` when not given)."""
        values = env_secret_values(os.environ if environ is None else environ)
        with self._lock:
            self._env_secrets = values
            self._env_loaded = True
            self._compile()

    def register_secret(self, value: str) -> None:
        value = value.strip()
        if len(value) < MIN_REGISTERED_SECRET_LEN:
            return
        with self._lock:
            self._registered.add(value)
            self._compile()

    def register_public(self, value: str) -> None:
        with self._lock:
            self._public.add(value)

    def forget(self) -> None:
        """Drop registered secret and public values (tests)."""
        with self._lock:
            self._registered.clear()
            self._public.clear()
            self._compile()

    def _compile(self) -> None:
        # longest first, so a secret containing another is masked whole
        self._known = tuple(sorted(self._env_secrets | self._registered, key=len, reverse=True))

    def _mask_run(self, match: re.Match[str]) -> str:
        text = match.group(0)
        if text in self._public:
            return text
        body = text.rstrip("=")
        if (text.endswith("=") or "+" in body) and _mixed(body):
            return MASK  # a base64 blob
        # a path such as runs/2021.../x is not a blob, but a key-shaped segment inside it still is a key
        return "/".join(MASK if len(seg) >= _RUN_MIN and _mixed(seg) else seg for seg in text.split("/"))

    def scrub(self, text: str) -> str:
        if not self._env_loaded:
            self.refresh()
        for value in self._known:
            if value in text:
                text = text.replace(value, MASK)
        low = text.lower()
        if any(hint in low for hint in _AUTH_HINTS):
            text = _AUTH.sub(_mask_auth, text)
        if "eyj" in low:
            text = _JWT.sub(MASK, text)
        if any(hint in low for hint in _NAMED_HINTS):
            text = _NAMED.sub(_mask_named, text)
        if _has_long_run(text):
            text = _RUN.sub(self._mask_run, text)
        return text

    def scrub_value(self, obj: Any) -> Any:
        if isinstance(obj, str):
            return self.scrub(obj)
        if isinstance(obj, Mapping):
            return {self.scrub(k) if isinstance(k, str) else k: self.scrub_value(v) for k, v in obj.items()}
        if isinstance(obj, list | tuple):
            return [self.scrub_value(v) for v in obj]
        return obj


SCRUBBER = Scrubber()


def scrub(text: str) -> str:
    """``text`` with every known secret value and every secret-shaped string replaced by ``***``."""
    return SCRUBBER.scrub(text)


def scrub_value(obj: Any) -> Any:
    """Scrub strings inside dicts, lists and tuples (tuples come back as lists); other values unchanged."""
    return SCRUBBER.scrub_value(obj)


def register_secret(value: str) -> None:
    """Mask this exact value from now on (values under 4 characters are ignored)."""
    SCRUBBER.register_secret(value)


def register_public(value: str) -> None:
    """Never mask this exact value by its shape (a hash or id printed on purpose)."""
    SCRUBBER.register_public(value)


def refresh_secrets(environ: Mapping[str, str] | None = None) -> None:
    """Re-read secret values from the environment (``os.environ`` when not given)."""
    SCRUBBER.refresh(environ)
