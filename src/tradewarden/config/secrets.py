"""Credentials: read only from the environment or a file only its owner can read (mode 600).

A secrets file is TOML (``.toml``), YAML (``.yaml``/``.yml``) or, for any other name, ``.env`` style
(``NAME=value`` lines, ``#`` comments, optional ``export`` and quotes). It holds ``api_key``,
``api_secret`` and optionally ``api_password``, at the top level or under an ``exchange`` table, and
optionally the Telegram bot token as ``telegram_token`` (at the top level, or ``token`` under a
``notify.telegram`` table); the environment-variable spellings (``TRADEWARDEN_EXCHANGE__API_KEY``...,
``TRADEWARDEN_NOTIFY__TELEGRAM__TOKEN``) are accepted too. Values are never echoed in error messages.
"""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

from tradewarden.config.errors import SECRET_FIELDS, ConfigError
from tradewarden.config.sources import read_structured_file

_ENV_SPELLING = "tradewarden_exchange__"
#: the Telegram bot token's name in a secrets file (returned under this key) and its environment spelling
TELEGRAM_TOKEN = "telegram_token"
_TELEGRAM_ENV_SPELLING = "tradewarden_notify__telegram__token"


def check_owner_only(path: Path) -> None:
    """Refuse a secrets file that anyone but its owner may read or write (ssh's rule for private keys)."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        raise ConfigError([f"exchange.secrets_file: {path}: not found"]) from None
    if not path.is_file():
        raise ConfigError([f"exchange.secrets_file: {path}: not a regular file"])
    if mode & 0o077:
        raise ConfigError([f"exchange.secrets_file: {path} has mode {mode:o}; a secrets file must be "
                           f"readable by its owner only (chmod 600 {path})"])


def _parse_env_style(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    text = path.read_text(encoding="utf-8")
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("export ").strip()
        name, sep, value = line.partition("=")
        if not sep or not name.strip():
            raise ConfigError([f"exchange.secrets_file: {path}: line {number}: expected NAME=value"])
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[name.strip()] = value
    return values


def read_secrets_file(path: Path) -> dict[str, str]:
    """``{"api_key": ..., "api_secret": ...}`` from a mode-600 file; a ConfigError for anything else."""
    path = Path(path).expanduser()
    check_owner_only(path)
    data: Any
    if path.suffix.lower() in (".toml", ".yaml", ".yml"):
        try:
            data = read_structured_file(path, what="secrets file")
        except ConfigError as exc:
            raise ConfigError([f"exchange.secrets_file: {e}" for e in exc.errors]) from None
        if isinstance(data, dict):
            data = _flatten_tables(data)
    else:
        data = _parse_env_style(path)
    if not isinstance(data, dict):
        raise ConfigError([f"exchange.secrets_file: {path}: expected a table of api_key/api_secret"])
    found: dict[str, str] = {}
    errors: list[str] = []
    for name, value in data.items():
        key = str(name).lower()
        key = TELEGRAM_TOKEN if key == _TELEGRAM_ENV_SPELLING else key.removeprefix(_ENV_SPELLING)
        if key not in SECRET_FIELDS | {TELEGRAM_TOKEN}:
            errors.append(f"exchange.secrets_file: {path}: unknown entry {name!r} "
                          f"(expected {', '.join(sorted(SECRET_FIELDS | {TELEGRAM_TOKEN}))})")
        elif not isinstance(value, str) or not value.strip():
            errors.append(f"exchange.secrets_file: {path}: {name} must be a non-empty string")
        else:
            found[key] = value.strip()
    if errors:
        raise ConfigError(errors)
    return found


def _flatten_tables(data: dict[str, Any]) -> dict[str, Any]:
    """The exchange credentials of an ``exchange`` table (else the top level) and the Telegram token of a
    ``notify.telegram`` table (else a top-level ``telegram_token``), as one flat table."""
    flat: dict[str, Any] = dict(data["exchange"]) if isinstance(data.get("exchange"), dict) else {
        k: v for k, v in data.items() if k != "notify"}
    if TELEGRAM_TOKEN in data:
        flat[TELEGRAM_TOKEN] = data[TELEGRAM_TOKEN]
    notify = data.get("notify")
    telegram = notify.get("telegram") if isinstance(notify, dict) else None
    if isinstance(telegram, dict) and "token" in telegram:
        flat[TELEGRAM_TOKEN] = telegram["token"]
    return flat
