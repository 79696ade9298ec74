"""``load_config``: defaults < file < environment < overrides, validated once, every problem reported."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from tradewarden.config.errors import SECRET_FIELDS, ConfigError, format_validation_errors
from tradewarden.config.models import AppConfig, default_data_dir
from tradewarden.config.secrets import TELEGRAM_TOKEN, read_secrets_file
from tradewarden.config.sources import (
    ENV_PREFIX,
    Origins,
    Tree,
    env_layer,
    leaf_origins,
    merge_into,
    overrides_layer,
    read_config_file,
)
from tradewarden.observability.scrub import SCRUBBER, env_secret_values

#: the environment variable naming a config file when no path is given
CONFIG_ENV = f"{ENV_PREFIX}CONFIG"


def _secrets_outside_env(tree: Tree, label: str) -> list[str]:
    """Credentials found in a file or an override: refused (and removed, so no message can echo them)."""
    errors = []
    notify = tree.get("notify")
    telegram = notify.get("telegram") if isinstance(notify, dict) else None
    if isinstance(telegram, dict) and "token" in telegram:
        del telegram["token"]
        errors.append(f"notify.telegram.token: secrets are not accepted from {label}; set "
                      f"{ENV_PREFIX}NOTIFY__TELEGRAM__TOKEN in the environment or put {TELEGRAM_TOKEN} in "
                      f"exchange.secrets_file (mode 600)")
    exchange = tree.get("exchange")
    if not isinstance(exchange, dict):
        return errors
    for name in sorted(SECRET_FIELDS & exchange.keys()):
        del exchange[name]
        errors.append(f"exchange.{name}: secrets are not accepted from {label}; set "
                      f"{ENV_PREFIX}EXCHANGE__{name.upper()} in the environment or put it in "
                      f"exchange.secrets_file (mode 600)")
    return errors


def _add_secrets_file(merged: Tree, origins: Origins) -> None:
    """Fill credentials the environment did not give from ``exchange.secrets_file``."""
    exchange = merged.get("exchange")
    if not isinstance(exchange, dict) or not exchange.get("secrets_file"):
        return
    path = Path(str(exchange["secrets_file"]))
    for name, value in read_secrets_file(path).items():
        SCRUBBER.register_secret(value)  # before validation, whose messages might quote the table it is in
        if name == TELEGRAM_TOKEN:
            telegram = merged.setdefault("notify", {}).setdefault("telegram", {})
            if isinstance(telegram, dict) and telegram.get("token") is None:  # the environment wins
                telegram["token"] = value
                origins[("notify", "telegram", "token")] = f"secrets file {path}"
        elif exchange.get(name) is None:  # the environment wins over the file
            exchange[name] = value
            origins[("exchange", name)] = f"secrets file {path}"


def _register_credentials(cfg: AppConfig) -> None:
    for secret in (cfg.exchange.api_key, cfg.exchange.api_secret, cfg.exchange.api_password,
                   cfg.notify.telegram.token):
        if secret is not None:
            SCRUBBER.register_secret(secret.get_secret_value())
    if cfg.notify.webhook.url is not None:
        # Discord and Slack webhook URLs carry their token in the path: the whole URL is masked
        SCRUBBER.register_secret(cfg.notify.webhook.url)


def load_config(path: Path | str | None = None, overrides: Mapping[str, Any] | None = None,
                env: Mapping[str, str] | None = None) -> AppConfig:
    """The effective configuration.

    Precedence, lowest first: defaults, the file at ``path`` (``.toml``, ``.yaml``/``.yml``; when ``path``
    is None, the file named by ``TRADEWARDEN_CONFIG`` if set), environment variables
    ``TRADEWARDEN_<SECTION>__<FIELD>`` (``env`` or ``os.environ``), then ``overrides`` (dotted keys; text
    values are converted like TOML values where the setting has no type of its own). Exchange credentials
    come from the environment or ``exchange.secrets_file`` (mode 600) only. Every problem is reported in
    one ConfigError.
    """
    environ: Mapping[str, str] = os.environ if env is None else env
    if env is None:
        SCRUBBER.refresh()
    else:
        for value in env_secret_values(env):
            SCRUBBER.register_secret(value)

    errors: list[str] = []
    merged: Tree = {"data_dir": str(default_data_dir(dict(environ)))}
    origins: Origins = {}

    file_path = Path(path) if path is not None else None
    if file_path is None and environ.get(CONFIG_ENV, "").strip():
        file_path = Path(environ[CONFIG_ENV].strip())
    if file_path is not None:
        file_path = file_path.expanduser()
        # a missing file or a syntax error stops here: there is nothing further to check
        file_tree = read_config_file(file_path)
        errors += _secrets_outside_env(file_tree, f"the config file {file_path}")
        merge_into(merged, file_tree)
        origins.update(leaf_origins(file_tree, str(file_path)))

    env_tree, env_origins, env_errors = env_layer(environ)
    errors += env_errors
    merge_into(merged, env_tree)
    origins.update(env_origins)

    over_tree, over_origins, over_errors = overrides_layer(overrides or {})
    errors += over_errors
    errors += _secrets_outside_env(over_tree, "the command line (visible to other users in the process list)")
    merge_into(merged, over_tree)
    origins.update(over_origins)

    try:
        _add_secrets_file(merged, origins)
    except ConfigError as exc:
        errors += exc.errors

    try:
        cfg = AppConfig.model_validate(merged)
    except ValidationError as exc:
        errors += format_validation_errors(exc, merged, AppConfig, origins)
        raise ConfigError(errors) from None
    if errors:
        raise ConfigError(errors)
    _register_credentials(cfg)
    return cfg
