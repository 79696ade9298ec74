"""Where the bot's state lives, for every command that reads or writes it.

``kill-switch``, ``stage``, ``audit`` and the ``data`` commands find the database and the data directory
exactly as ``tradewarden run`` does: :func:`tradewarden.config.load_config` with ``--config`` (else
``TRADEWARDEN_CONFIG``), the ``TRADEWARDEN_*`` environment and the defaults. ``--data-dir`` and ``--db-url``
are overrides of ``data_dir`` and ``database.url`` on top of that, never a separate path: a kill switch that
lands in another database than the bot's would report success while the bot goes on trading.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tradewarden.cli.errors import fail

if TYPE_CHECKING:
    from tradewarden.config import AppConfig
    from tradewarden.risk.store import RiskStateStore

#: read by earlier versions of the state commands but never by `run`; refused so it cannot split the two
RETIRED_DB_ENV = "TRADEWARDEN_DB_URL"

ConfigOpt = Annotated[Path | None, typer.Option(
    "--config", dir_okay=False,
    help="The bot's config file (TOML/YAML), read as `run` reads it [default: $TRADEWARDEN_CONFIG, if set].")]
DataDirOpt = Annotated[Path | None, typer.Option(
    "--data-dir", file_okay=False,
    help="Override the config's data_dir [default: from the config, TRADEWARDEN_DATA_DIR, "
         "or ~/.local/share/tradewarden].")]
DbUrlOpt = Annotated[str | None, typer.Option(
    "--db-url",
    help="Override the config's database.url, e.g. postgresql://user@host/db [default: from the config, "
         "TRADEWARDEN_DATABASE__URL, or tradewarden.db in the data directory].")]


def load_state_config(config: Path | None, data_dir: Path | None = None, db_url: str | None = None,
                      env: Mapping[str, str] | None = None) -> AppConfig:
    """The effective config as ``run`` builds it, with ``--data-dir``/``--db-url`` as overrides.

    A bad config is one clear message and exit 2."""
    from tradewarden.config import ConfigError, load_config

    environ = os.environ if env is None else env
    if environ.get(RETIRED_DB_ENV, "").strip():
        raise fail(f"{RETIRED_DB_ENV} is not read by `tradewarden run`, so a command using it could act on "
                   f"another database than the bot's; set TRADEWARDEN_DATABASE__URL (or database.url in the "
                   f"config) instead, and unset {RETIRED_DB_ENV}")
    overrides: dict[str, Any] = {}
    if data_dir is not None:
        overrides["data_dir"] = str(data_dir)
    if db_url is not None:
        overrides["database.url"] = db_url
    try:
        return load_config(config, overrides, env=env)
    except ConfigError as exc:
        raise fail(str(exc)) from None


@contextmanager
def open_risk_store(cfg: AppConfig) -> Iterator[RiskStateStore]:
    """The risk state in the bot's database (migrated on open, as ``run`` does); one line and exit 1 when it
    cannot be opened."""
    from tradewarden.persistence import DatabaseError
    from tradewarden.risk.store import RiskStateStore

    try:
        store = RiskStateStore.open(cfg.database.url, cfg.data_dir)
    except DatabaseError as exc:
        raise fail(str(exc), 1) from None
    try:
        yield store
    finally:
        store.close()
