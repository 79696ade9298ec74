"""The trading instance's work: a trading bot (``tradewarden run``) as a child process of the instance.

``trading_work(config)`` is what ``tradewarden instance run --role trading`` awaits (the contract in
:mod:`tradewarden.fleet.work`). The bot runs in a process of its own because it owns its event loop, its signal
handlers and its crash-safe state, and because a bot that crashes must not take the instance's heartbeat (and
so its lease and its lifecycle record) down with it. For the registry's instance, exchange and account it:

1. builds the bot's environment (:func:`bot_environment`): the registry exchange's ccxt id, ``registry_slug``
   and URL overrides (``TRADEWARDEN_EXCHANGE__...``), the instance's symbols and timeframe, the shared candle
   cache for the warm-up when ``redis.url`` is set (``market.warmup_from_cache``), and, in live mode only, the
   API key and secret read from the variables the account names (never stored values; only in the child's
   environment, never on its command line; paper and shadow get no key material at all: the live gate refuses
   it there);
2. starts ``tradewarden run --mode {fleet.trading_mode}`` (``--live-confirm`` from
   ``fleet.trading_live_confirm`` in live mode: the bot's own gate still checks it against its config hash and
   ``LIVE_TRADING``) in the same process group (the agent's SIGTERM and SIGKILL reach both), through
   :mod:`tradewarden.fleet.bot_process` (the bot gets SIGTERM should this process die alone), and reports
   ``warming``;
3. reports ``active`` when the bot's event journal (its run directory's ``events.jsonl``) records
   ``WarmUpDone``: the bot then trades on every closed candle;
4. when ``stop`` is set, SIGTERMs the bot, SIGKILLs it after most of ``fleet.stop_grace_s``, and returns;
   when the bot exits on its own, raises with its exit code and its last output lines: as a
   :class:`BotSetupError` (the instance exits 2) when the bot exited 2 (its configuration) or refused to start
   (exit 3: the live gate, the exchange's filters, its audit trail) for another reason than another bot holding
   its account.

The bot's output goes to this process's stderr line by line (the agent's instance log), masked of secrets.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from tradewarden.config.models import AppConfig
from tradewarden.errors import BadInput
from tradewarden.fleet.connection import ExchangeSetupError, registry_urls
from tradewarden.fleet.work import InstanceHooks, InstanceWork
from tradewarden.observability.scrub import SCRUBBER
from tradewarden.persistence.fleet_repo import AccountView, ExchangeView, InstanceView, RegistryError

log = logging.getLogger(__name__)

#: the credential settings a bot reads from its environment; an instance's own are never passed on
KEY_VARIABLES = ("TRADEWARDEN_EXCHANGE__API_KEY", "TRADEWARDEN_EXCHANGE__API_SECRET",
                 "TRADEWARDEN_EXCHANGE__API_PASSWORD")
#: the event the bot's journal records once its warm-up is done and it trades
ACTIVE_EVENT = "WarmUpDone"
#: the bot's refusal to start because another bot trades the account (its exit 3 may then be retried)
ACCOUNT_HELD_EVENT = "INSTANCE_REFUSED"
#: a bot's exit code when it refused to start (the live gate, say): tradewarden.node.options.REFUSED_TO_START
REFUSED_TO_START = 3
#: how often the journal is looked at for it
JOURNAL_POLL_S = 0.5
#: output lines of the bot kept for the error a crash records
TAIL_LINES = 5
#: the share of ``fleet.stop_grace_s`` the bot gets after SIGTERM (the runner waits for the work that long)
BOT_GRACE_SHARE = 0.8
#: a bot trades spot: markets of other types (futures, options) are not loaded where ccxt can skip them
SPOT_ONLY_OPTIONS = {"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False, "fetchMargins": False}


class TradingError(RuntimeError):
    """What stops a trading instance, in one line naming what and where (the runner records it)."""


class BotSetupError(TradingError, BadInput):
    """A setup problem a restart cannot cure (an account whose key variable is unset, a bot that exits 2 on its
    configuration): bad input, so ``instance run`` exits 2."""


def _toml(value: object) -> str:
    """``value`` as a TOML value (an inline table for a mapping): how a table is given in one variable."""
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{json.dumps(str(k))} = {_toml(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)  # strings and numbers: JSON's forms are TOML's for these


def account_keys(account: AccountView, environ: Mapping[str, str]) -> tuple[str, str]:
    """The account's key and secret, from the variables its registry row names; :class:`BotSetupError` naming
    the variable when one is not named or not set."""
    found: list[str] = []
    for what, name in (("key", account.api_key_env), ("secret", account.api_secret_env)):
        if not name:
            raise BotSetupError(f"account {account.id} ({account.display_name}) names no API {what} variable; set "
                                f"it with `tradewarden accounts update {account.id} --api-{what}-env NAME`")
        value = environ.get(name, "")
        if not value:
            raise BotSetupError(f"account {account.id} ({account.display_name}): the API {what} variable {name} is "
                                "not set in the instance's environment")
        found.append(value)
    return found[0], found[1]


def bot_environment(config: AppConfig, instance: InstanceView, exchange: ExchangeView,
                    account: AccountView | None, environ: Mapping[str, str]) -> dict[str, str]:
    """The bot's environment: this process's, less its credentials, plus the instance's exchange, symbols and
    cache, and the account's key pair in live mode (:func:`account_keys`)."""
    env = {k: v for k, v in environ.items() if k.upper() not in KEY_VARIABLES}
    env.setdefault("COLUMNS", "160")  # the bot's console lines (a hash, say) unwrapped in the instance's log
    env["TRADEWARDEN_EXCHANGE__ID"] = exchange.ccxt_id
    env["TRADEWARDEN_EXCHANGE__REGISTRY_SLUG"] = exchange.slug
    try:
        urls = registry_urls(exchange)
    except ExchangeSetupError as exc:
        raise BotSetupError(str(exc)) from None
    if urls is not None:  # a testnet or a simulator, which serve spot markets only
        env["TRADEWARDEN_EXCHANGE__URLS"] = _toml(urls)
        env["TRADEWARDEN_EXCHANGE__OPTIONS"] = _toml(SPOT_ONLY_OPTIONS)
    symbols = instance.symbols or tuple(config.market.traded_symbols)
    if len(symbols) == 1:  # one symbol: the single-symbol node, as `run` with market.symbol
        env["TRADEWARDEN_MARKET__SYMBOL"] = symbols[0]
        env["TRADEWARDEN_MARKET__SYMBOLS"] = "none"
    else:
        env["TRADEWARDEN_MARKET__SYMBOLS"] = ",".join(symbols)
    if len(instance.timeframes) > 1:
        raise BotSetupError(f"instance {instance.id}: a trading bot trades one timeframe, the instance lists "
                            f"{', '.join(instance.timeframes)}; fix it in the registry")
    if instance.timeframes:
        env["TRADEWARDEN_MARKET__TIMEFRAME"] = instance.timeframes[0]
    if config.redis.url:
        env["TRADEWARDEN_MARKET__WARMUP_FROM_CACHE"] = "true"
    if config.fleet.trading_mode == "live":
        if account is None:
            raise BotSetupError(f"instance {instance.id}: a trading instance needs its account")
        key, secret = account_keys(account, environ)
        SCRUBBER.register_secret(key)
        SCRUBBER.register_secret(secret)
        env["TRADEWARDEN_EXCHANGE__API_KEY"] = key
        env["TRADEWARDEN_EXCHANGE__API_SECRET"] = secret
    return env


@dataclass(frozen=True)
class BotLaunch:
    """How the bot is started: its command line (no secret on it), environment and run directory."""

    command: tuple[str, ...]
    env: dict[str, str]
    run_dir: Path
    symbols: tuple[str, ...]


def bot_launch(config: AppConfig, instance: InstanceView, exchange: ExchangeView, account: AccountView | None,
               environ: Mapping[str, str], config_path: Path | None = None) -> BotLaunch:
    mode = config.fleet.trading_mode
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    run_dir = config.data_dir / "instances" / f"trading-{instance.id}" / f"{stamp}-{mode}"
    # `tradewarden run`, ended by the kernel should this process die alone (tradewarden.fleet.bot_process)
    command = [sys.executable, "-m", "tradewarden.fleet.bot_process", str(os.getpid()), "run", "--mode", mode,
               "--no-console", "--out", str(run_dir)]
    if config_path is not None:
        command += ["--config", str(config_path)]
    if mode == "live" and config.fleet.trading_live_confirm:
        command += ["--live-confirm", config.fleet.trading_live_confirm]
    env = bot_environment(config, instance, exchange, account, environ)
    return BotLaunch(tuple(command), env, run_dir, instance.symbols or tuple(config.market.traded_symbols))


def trading_work(config: AppConfig, *, config_path: Path | None = None) -> InstanceWork:
    """The work of a trading instance under ``config`` (``fleet.trading_mode``, paper by default), loaded from
    ``config_path`` (the bot reads the same file), if any."""

    async def work(instance: InstanceView, exchange: ExchangeView, hooks: InstanceHooks,
                   stop: asyncio.Event) -> None:
        account = await asyncio.to_thread(_account, config, instance)
        launch = bot_launch(config, instance, exchange, account, os.environ, config_path)
        await TradingBot(launch, hooks, grace_s=config.fleet.stop_grace_s * BOT_GRACE_SHARE).run(stop)

    return work


def _account(config: AppConfig, instance: InstanceView) -> AccountView | None:
    from tradewarden.persistence import Database
    from tradewarden.persistence.fleet_repo import list_accounts

    if instance.user_exchange_id is None:
        return None
    with Database.open(config.database.url, config.data_dir) as db:
        account = next((a for a in list_accounts(db) if a.id == instance.user_exchange_id), None)
    if account is None:
        raise RegistryError(f"instance {instance.id}: no account with id {instance.user_exchange_id}")
    return account


class TradingBot:
    """One bot child process, from its start to its end."""

    def __init__(self, launch: BotLaunch, hooks: InstanceHooks, grace_s: float) -> None:
        self.launch = launch
        self.hooks = hooks
        self.grace_s = grace_s
        self.tail: deque[str] = deque(maxlen=TAIL_LINES)

    async def run(self, stop: asyncio.Event) -> None:
        proc = await asyncio.create_subprocess_exec(
            *self.launch.command, env=self.launch.env, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        self.hooks.warming(f"bot pid {proc.pid} started; run directory {self.launch.run_dir}")
        assert proc.stdout is not None
        pump = asyncio.create_task(self._pump(proc.stdout), name="bot-output")
        watch = asyncio.create_task(self._watch_journal(), name="bot-journal")
        exited = asyncio.create_task(proc.wait(), name="bot-exit")
        stopper = asyncio.create_task(stop.wait(), name="bot-stop")
        try:
            await asyncio.wait({exited, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if not exited.done():  # asked to stop: the bot finishes its step, persists and reports
                await self._stop(proc, exited)
                return
            await asyncio.wait({pump}, timeout=2.0)  # its last lines
            if stop.is_set():
                return
            raise self._died(proc.pid, exited.result())
        finally:
            for task in (watch, stopper):
                task.cancel()
            if proc.returncode is None:  # cancelled (the runner's grace ran out): the bot goes too
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.shield(exited)
            pump.cancel()
            await asyncio.gather(watch, stopper, pump, return_exceptions=True)

    async def _stop(self, proc: asyncio.subprocess.Process, exited: asyncio.Task[int]) -> None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        done, _ = await asyncio.wait({exited}, timeout=self.grace_s)
        if not done:
            log.warning("bot pid %s did not stop within %g s of SIGTERM: SIGKILL", proc.pid, self.grace_s)
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await exited

    def _died(self, pid: int, code: int) -> TradingError:
        how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
        said = " | ".join(self.tail) or "no output"
        message = f"bot pid {pid} {how}: {said}"
        if code == 2 or (code == REFUSED_TO_START and not self._journal_has(ACCOUNT_HELD_EVENT)):
            # its configuration, or a refusal at boot (the live gate, the exchange's filters, the audit trail):
            # a restart meets the same; another bot holding the account may be gone by the next one
            return BotSetupError(message)
        return TradingError(message)

    def _journal_has(self, event_type: str) -> bool:
        path = self.launch.run_dir / "events.jsonl"
        try:
            lines = path.read_bytes().splitlines()
        except OSError:
            return False
        for line in lines:
            with contextlib.suppress(ValueError):
                event = json.loads(line)
                if isinstance(event, dict) and event.get("type") == event_type:
                    return True
        return False

    async def _pump(self, stream: asyncio.StreamReader) -> None:
        """The bot's output to this process's stderr, masked; the last lines kept for a crash's error."""
        while True:
            try:
                line = await stream.readline()
            except ValueError:  # a line longer than the reader's limit (its start is dropped): read on
                continue
            if not line:
                return
            text = SCRUBBER.scrub(line.decode(errors="replace").rstrip())
            if not text.strip():
                continue
            self.tail.append(text.strip()[:300])
            sys.stderr.write(f"bot| {text}\n")
            sys.stderr.flush()

    async def _watch_journal(self) -> None:
        """``active`` once the bot's journal records its warm-up done, of every symbol for a portfolio (read as
        it grows, never twice)."""
        path = self.launch.run_dir / "events.jsonl"
        offset = 0
        pending = b""
        warmed: set[str] = set()
        candles = 0
        while True:
            await asyncio.sleep(JOURNAL_POLL_S)
            try:
                with path.open("rb") as handle:
                    handle.seek(offset)
                    chunk = handle.read()
            except FileNotFoundError:
                continue
            offset += len(chunk)
            *lines, pending = (pending + chunk).split(b"\n")
            for line in lines:
                with contextlib.suppress(ValueError):
                    event = json.loads(line)
                    if isinstance(event, dict) and event.get("type") == ACTIVE_EVENT:
                        # a portfolio's names its symbol; the single-symbol bot's has no symbol field
                        warmed.add(str(event.get("symbol", self.launch.symbols[0])))
                        candles += int(event.get("candles", 0))
            if len(warmed) >= len(self.launch.symbols):
                self.hooks.active(f"the bot's warm-up is done ({candles} candles of {len(warmed)} symbols); "
                                  "it trades")
                return
