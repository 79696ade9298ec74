"""``tradewarden exchanges``, ``users`` and ``accounts``: the fleet registry from the shell (docs/FLEET.md).

Every command finds the database through the config exactly as ``run`` does (:mod:`tradewarden.cli.state`).
Input the registry refuses (an unknown slug, a duplicate) is one line and exit 2. An account names the
environment variables that hold its key and secret; this never prints a value, only whether each is set.
SQLAlchemy is imported inside the commands so that loading this module stays cheap.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated
from urllib.parse import urlsplit, urlunsplit

import typer
from rich.console import Console
from rich.markup import escape as esc
from rich.table import Table

from tradewarden.cli.errors import fail
from tradewarden.cli.state import ConfigOpt, load_state_config

if TYPE_CHECKING:
    from tradewarden.config import AppConfig
    from tradewarden.persistence import Database
    from tradewarden.persistence.fleet_repo import AccountView, ExchangeView

exchanges_app = typer.Typer(help="The exchanges the fleet serves (the registry's `exchanges` table).",
                            no_args_is_help=True)
users_app = typer.Typer(help="The operators who own exchange accounts.", no_args_is_help=True)
accounts_app = typer.Typer(help="Users' accounts on exchanges: the names of the variables holding key and secret.",
                           no_args_is_help=True)

out = Console(highlight=False, soft_wrap=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,199}$")


@contextmanager
def open_registry(cfg: AppConfig) -> Iterator[Database]:
    """The registry's database as ``run`` finds it (``cfg`` from :func:`load_state_config`); a registry
    refusal is one line and exit 2, a database that cannot be opened or fails one line and exit 1."""
    from sqlalchemy.exc import SQLAlchemyError

    from tradewarden.persistence import Database, DatabaseError
    from tradewarden.persistence.database import error_line
    from tradewarden.persistence.fleet_repo import RegistryError

    try:
        db = Database.open(cfg.database.url, cfg.data_dir)
    except DatabaseError as exc:
        raise fail(str(exc), 1) from None
    try:
        yield db
    except RegistryError as exc:
        raise fail(str(exc)) from None
    except SQLAlchemyError as exc:  # its text spans lines (SQL, parameters): the driver's line
        raise fail(f"database error: {error_line(exc)}", 1) from None
    finally:
        db.close()


def shown_url(url: str | None) -> str | None:
    """A URL as it may be printed: a password in it masked."""
    if not url:
        return url
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username or ''}:***@{parts.hostname or ''}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _check_url(option: str, url: str | None, schemes: tuple[str, ...]) -> None:
    if url:  # empty: clear the override
        parts = urlsplit(url)
        if parts.scheme not in schemes or not parts.netloc:
            raise fail(f"{option} must be a {' or '.join(s + '://' for s in schemes)} URL, got {shown_url(url)!r}")


def _check_ccxt_id(ccxt_id: str | None) -> None:
    if ccxt_id is None:
        return
    import difflib

    import ccxt

    if ccxt_id not in ccxt.exchanges:
        near = difflib.get_close_matches(ccxt_id, ccxt.exchanges, n=3)
        hint = f" (did you mean {', '.join(near)}?)" if near else ""
        raise fail(f"--ccxt-id {ccxt_id!r} is not an exchange ccxt knows{hint}")


def _exchange_json(e: ExchangeView) -> dict[str, object]:
    return {"id": e.id, "slug": e.slug, "ccxt_id": e.ccxt_id, "name": e.display_name, "rest_url": shown_url(e.rest_url),
            "ws_url": shown_url(e.ws_url), "active": e.is_active, "default": e.is_default}


def _print_exchange(e: ExchangeView, verb: str) -> None:
    out.print(f"{verb} exchange {esc(e.slug)} (id {e.id}, ccxt {esc(e.ccxt_id)}, {esc(e.display_name)})"
              f"{', default' if e.is_default else ''}{'' if e.is_active else ', INACTIVE'}")


# -- exchanges ---------------------------------------------------------------------------------------
RestOpt = Annotated[str | None, typer.Option("--rest-url", help="REST API URL override (a testnet, the "
                                             "simulator); empty to clear.")]
WsOpt = Annotated[str | None, typer.Option("--ws-url", help="WebSocket URL override; empty to clear.")]
NameOpt = Annotated[str | None, typer.Option("--name", help="Display name [default: the slug].")]


@exchanges_app.command("add")
def exchanges_add(
    slug: Annotated[str, typer.Argument(help="Short name, e.g. binance_us (lowercase letters, digits, _ and -).")],
    ccxt_id: Annotated[str, typer.Option("--ccxt-id", help="The ccxt exchange id, e.g. binanceus.")],
    rest_url: RestOpt = None, ws_url: WsOpt = None, name: NameOpt = None,
    default: Annotated[bool, typer.Option("--default", help="Make it the default exchange.")] = False,
    config: ConfigOpt = None,
) -> None:
    """Add an exchange to the registry."""
    from tradewarden.persistence.fleet_repo import add_exchange

    if not _SLUG.match(slug):
        raise fail(f"exchange slug {slug!r}: use lowercase letters, digits, _ and - (at most 64)")
    _check_url("--rest-url", rest_url, ("http", "https"))
    _check_url("--ws-url", ws_url, ("ws", "wss"))
    _check_ccxt_id(ccxt_id)
    with open_registry(load_state_config(config)) as db:
        added = add_exchange(db, slug, ccxt_id, display_name=name, rest_url=rest_url or None,
                             ws_url=ws_url or None, is_default=default)
    _print_exchange(added, "added")


@exchanges_app.command("update")
def exchanges_update(
    slug: Annotated[str, typer.Argument(help="The exchange to change.")],
    ccxt_id: Annotated[str | None, typer.Option("--ccxt-id", help="The ccxt exchange id.")] = None,
    rest_url: RestOpt = None, ws_url: WsOpt = None, name: NameOpt = None,
    active: Annotated[bool | None, typer.Option("--active/--inactive", help="Whether instances may serve it.",
                                                show_default=False)] = None,
    default: Annotated[bool | None, typer.Option("--default/--no-default", help="The default exchange.",
                                                 show_default=False)] = None,
    config: ConfigOpt = None,
) -> None:
    """Change an exchange: only the options given."""
    from tradewarden.persistence.fleet_repo import update_exchange

    _check_url("--rest-url", rest_url, ("http", "https"))
    _check_url("--ws-url", ws_url, ("ws", "wss"))
    _check_ccxt_id(ccxt_id)
    with open_registry(load_state_config(config)) as db:
        changed = update_exchange(db, slug, ccxt_id=ccxt_id, display_name=name, rest_url=rest_url, ws_url=ws_url,
                                  is_active=active, is_default=default)
    _print_exchange(changed, "updated")


@exchanges_app.command("list")
def exchanges_list(as_json: JsonOpt = False, config: ConfigOpt = None) -> None:
    """Every exchange in the registry."""
    from tradewarden.persistence.fleet_repo import list_exchanges

    with open_registry(load_state_config(config)) as db:
        found = list_exchanges(db)
    if as_json:
        print(json.dumps([_exchange_json(e) for e in found], indent=2))
        return
    table = Table("id", "slug", "ccxt id", "name", "REST URL", "WebSocket URL", "active", "default")
    for e in found:
        table.add_row(str(e.id), esc(e.slug), esc(e.ccxt_id), esc(e.display_name), esc(shown_url(e.rest_url) or "-"),
                      esc(shown_url(e.ws_url) or "-"), "yes" if e.is_active else "NO", "yes" if e.is_default else "")
    out.print(table)


# -- users -------------------------------------------------------------------------------------------
@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="The user's name (unique).")],
    email: Annotated[str | None, typer.Option("--email", help="Contact address.")] = None,
    config: ConfigOpt = None,
) -> None:
    """Add a user (an operator who owns exchange accounts)."""
    from tradewarden.persistence.fleet_repo import add_user

    if not name.strip():
        raise fail("the user's name must not be empty")
    if email is not None and not re.fullmatch(r"[^@\s]+@[^@\s]+", email):
        raise fail(f"--email {email!r} is not an e-mail address")
    with open_registry(load_state_config(config)) as db:
        user = add_user(db, name.strip(), email)
    out.print(f"added user {esc(user.name)} (id {user.id})")


@users_app.command("list")
def users_list(as_json: JsonOpt = False, config: ConfigOpt = None) -> None:
    """Every user."""
    from tradewarden.persistence.fleet_repo import list_users

    with open_registry(load_state_config(config)) as db:
        found = list_users(db)
    if as_json:
        print(json.dumps([{"id": u.id, "name": u.name, "email": u.email} for u in found], indent=2))
        return
    table = Table("id", "name", "email")
    for u in found:
        table.add_row(str(u.id), esc(u.name), esc(u.email or "-"))
    out.print(table)


# -- accounts ----------------------------------------------------------------------------------------
def _check_env_name(option: str, value: str) -> None:
    # never echo the value: an operator may have pasted the key itself
    if not _ENV_NAME.match(value):
        raise fail(f"{option} takes the NAME of an environment variable (letters, digits and _, not starting "
                   "with a digit), not the key or secret itself; the value given is not shown")


def _is_set(name: str | None) -> bool:
    return bool(name) and bool(os.environ.get(name or "", ""))


def _account_json(a: AccountView) -> dict[str, object]:
    return {"id": a.id, "user": a.user, "exchange": a.exchange, "name": a.display_name,
            "key_env": a.api_key_env, "key_set": _is_set(a.api_key_env), "secret_env": a.api_secret_env,
            "secret_set": _is_set(a.api_secret_env), "active": a.is_active, "default": a.is_default}


@accounts_app.command("link")
def accounts_link(
    user: Annotated[str, typer.Option("--user", help="Whose account.")],
    exchange: Annotated[str, typer.Option("--exchange", help="On which exchange (its slug).")],
    name: Annotated[str, typer.Option("--name", help="The account's display name, e.g. 'ana main'.")],
    key_env: Annotated[str, typer.Option("--key-env", help="Name of the environment variable holding the API key.")],
    secret_env: Annotated[str, typer.Option("--secret-env", help="Name of the variable holding the API secret.")],
    default: Annotated[bool, typer.Option("--default", help="The user's default account on this exchange.")] = False,
    config: ConfigOpt = None,
) -> None:
    """Link a user to an exchange as an account. Only the variables' names are stored, never their values."""
    from tradewarden.persistence.fleet_repo import link_account

    _check_env_name("--key-env", key_env)
    _check_env_name("--secret-env", secret_env)
    if not name.strip():
        raise fail("--name must not be empty")
    with open_registry(load_state_config(config)) as db:
        account = link_account(db, user, exchange, name.strip(), api_key_env=key_env, api_secret_env=secret_env,
                               is_default=default)
    unset = [v for v in (key_env, secret_env) if not _is_set(v)]
    out.print(f"linked account {account.id}: {esc(account.user)} on {esc(account.exchange)} "
              f"({esc(account.display_name)}), key in ${key_env}, secret in ${secret_env}")
    if unset:
        out.print(f"note: {', '.join('$' + v for v in unset)} not set in this shell; set it where the instance runs")


@accounts_app.command("list")
def accounts_list(as_json: JsonOpt = False, config: ConfigOpt = None) -> None:
    """Every account, with its variables' names and whether each is set here (never their values)."""
    from tradewarden.persistence.fleet_repo import list_accounts

    with open_registry(load_state_config(config)) as db:
        found = list_accounts(db)
    if as_json:
        print(json.dumps([_account_json(a) for a in found], indent=2))
        return
    table = Table("id", "user", "exchange", "name", "key variable", "secret variable", "active", "default")
    for a in found:
        key = f"{a.api_key_env or '-'} ({'set' if _is_set(a.api_key_env) else 'not set'})"
        secret = f"{a.api_secret_env or '-'} ({'set' if _is_set(a.api_secret_env) else 'not set'})"
        table.add_row(str(a.id), esc(a.user), esc(a.exchange), esc(a.display_name), esc(key), esc(secret),
                      "yes" if a.is_active else "NO", "yes" if a.is_default else "")
    out.print(table)
