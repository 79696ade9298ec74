"""``tradewarden sim``: run the local Binance-compatible exchange simulator (a fire drill for your bot)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

if TYPE_CHECKING:
    from tradewarden.simulator.config import SimConfig

console = Console()
err_console = Console(stderr=True)


def _fail(message: str, code: int) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def sim(
    data: Annotated[
        Path | None,
        typer.Option(
            help="Candle file or directory (one file set per symbol). "
            "Default: the bundled BTC/USDT 1h sample."
        ),
    ] = None,
    symbols: Annotated[
        str,
        typer.Option(
            help="Comma-separated symbols, e.g. BTC/USDT,ETH/USDT. With one data "
            "file, extra symbols replay it with scaled prices."
        ),
    ] = "BTC/USDT",
    speed: Annotated[
        float,
        typer.Option(
            help="Clock speed as a multiple of real time (3600: one hour per "
            "second). 0 = stepped: the clock moves only via POST /_sim/step."
        ),
    ] = 1.0,
    port: Annotated[int, typer.Option(help="TCP port to listen on.")] = 8765,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    seed: Annotated[
        int, typer.Option(help="Seed of the intra-candle price paths (same seed, same run).")
    ] = 1,
    balances: Annotated[str, typer.Option(help="Starting balances, ASSET=AMOUNT,...")] = "USDT=10000,BTC=0",
    timeframe: Annotated[str | None, typer.Option(help="Replay timeframe; finer data is resampled.")] = None,
    start_index: Annotated[int, typer.Option(help="Candles of history already in the past at start.")] = 100,
    scenario: Annotated[
        Path | None, typer.Option(help="YAML scenario file of timed faults (see docs/SIMULATOR.md).")
    ] = None,
    key_can_withdraw: Annotated[
        bool, typer.Option(help="Report the API key as able to withdraw (GET /sapi/v1/account/apiRestrictions), "
                           "to rehearse the bot's live refusal of such keys.")
    ] = False,
) -> None:
    """Run the exchange simulator; prints its URLs and a ready ccxt config. Stop with Ctrl-C."""
    import asyncio

    from tradewarden.simulator.config import SimConfig, parse_balances, parse_symbols
    from tradewarden.simulator.errors import SimConfigError

    if speed < 0:
        raise _fail(f"--speed must not be negative (got {speed})", 2)
    try:
        config = SimConfig(
            data=data,
            symbols=parse_symbols(symbols),
            timeframe=timeframe,
            speed=speed or None,
            seed=seed,
            balances=parse_balances(balances),
            host=host,
            port=port,
            start_index=start_index,
            scenario=scenario,
            key_can_withdraw=key_can_withdraw,
        )
    except SimConfigError as exc:
        raise _fail(str(exc), 2) from None
    if not _is_loopback(host):
        err_console.print(
            f"[bold yellow]warning:[/] listening on {host}: the control API (/_sim/...) has no authentication; "
            "anyone who can reach this address can move the clock, change balances and inject faults",
            highlight=False,
            soft_wrap=True,
        )
    try:
        asyncio.run(_serve(config))
    except SimConfigError as exc:
        raise _fail(str(exc), 2) from None
    except OSError as exc:
        raise _fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}", 1) from None


def _is_loopback(host: str) -> bool:
    """Whether only this machine can reach ``host`` (a loopback address or ``localhost``)."""
    import ipaddress

    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False


async def _serve(config: SimConfig) -> None:
    import asyncio
    import gc
    import json
    import signal

    from tradewarden.simulator.client_config import ccxt_config
    from tradewarden.simulator.server import SimServer

    server = SimServer(config)
    await server.start()
    # the loaded candles and the exchange's state live as long as the server: out of the collector's full
    # collections, which otherwise stalled every stream for ~100 ms now and then (a late kline for every client)
    gc.freeze()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    base = server.base_url
    host = base.removeprefix("http://")
    key, secret = next(iter(config.api_keys.items()))
    shown = "<from TRADEWARDEN_SIM_SECRET>" if config.secret_from_env else secret
    clock = f"speed x{config.speed:g}" if config.speed else "stepped (POST /_sim/step)"
    console.print(
        f"[bold]tradewarden exchange simulator[/] {', '.join(config.symbols)} "
        f"{server.exchange.timeframe}, clock {clock}, seed {config.seed}",
        highlight=False,
    )
    console.print(
        f"  REST        {base}/api/v3\n  streams     ws://{host}/stream/ws  (also /ws, /stream?streams=)\n"
        f"  user data   ws://{host}/ws-api/v3\n  control     {base}/_sim/state",
        highlight=False,
    )
    console.print("ccxt config (same for ccxt.binance, ccxt.async_support.binance, ccxt.pro.binance):")
    console.print_json(json.dumps(ccxt_config(base, key, shown)))
    try:
        await stop.wait()
    finally:
        await server.stop()
        console.print("simulator stopped")
