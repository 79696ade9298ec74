"""Event stream latency: from the bot emitting an event on its bus to an SSE client of ``serve`` receiving it
(target <= 200 ms, the dashboard's live feed). The path measured is the real one: the event bus, the publisher's
writer thread and its transaction, the stream's poll of the read model, uvicorn, HTTP.

    PYTHONPATH=src python benchmarks/bench_sse.py [postgresql://127.0.0.1/test]   (default: SQLite file)
"""

from __future__ import annotations

import random
import socket
import statistics
import sys
import tempfile
import threading
import time
from decimal import Decimal
from pathlib import Path

import httpx
import uvicorn

from tradewarden.api import tokens
from tradewarden.api.app import bot_key, create_app
from tradewarden.api.publish import BotInfo, attach
from tradewarden.domain.events import EventType as E
from tradewarden.observability.bus import EventBus
from tradewarden.persistence import Database

EVENTS = 60
TARGET_MS = 200.0


def main(url: str | None) -> None:
    tmp = Path(tempfile.mkdtemp())
    with Database.open(url, tmp) as db:
        info = BotInfo(account="bench:sse", mode="paper", symbols=("BTC/USDT",), strategy="sma_cross",
                       timeframe_ms=60_000, config_hash="bench")
        bus = EventBus()
        publisher = attach(bus, db, info, period_s=5.0)
        secret = tokens.create(db, "bench", tokens.Role.VIEWER, 0)
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        server = uvicorn.Server(uvicorn.Config(create_app(db, tmp), log_level="warning", lifespan="off"))
        serving = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        serving.start()
        while not server.started:
            time.sleep(0.01)
        base = f"http://127.0.0.1:{sock.getsockname()[1]}"
        received: dict[str, float] = {}
        arrived = threading.Condition()
        connected = threading.Event()

        def listen() -> None:
            with httpx.stream("GET", f"{base}/api/v1/bots/{bot_key(info.id)}/stream",
                              headers={"Authorization": f"Bearer {secret}"}, timeout=None) as resp:
                connected.set()
                for line in resp.iter_lines():
                    if line.startswith("data: ") and '"lat-' in line:
                        name = line.split('"client_id": "', 1)[1].split('"', 1)[0]
                        with arrived:
                            received[name] = time.perf_counter()
                            arrived.notify_all()
                        if len(received) == EVENTS:
                            return

        reader = threading.Thread(target=listen, daemon=True)
        reader.start()
        connected.wait(30)
        emitted: dict[str, float] = {}
        rng = random.Random(7)
        for i in range(EVENTS):
            time.sleep(rng.uniform(0, 0.1))  # land anywhere in the stream's poll period
            name = f"lat-{i}"
            emitted[name] = time.perf_counter()
            bus.emit(E.ORDER_CANCELLED, int(time.time() * 1000), client_id=name, symbol="BTC/USDT",
                     reason=f"latency probe {Decimal(i)}")
            with arrived:
                if not arrived.wait_for(lambda n=name: n in received, timeout=30):
                    raise SystemExit(f"{name} never arrived")
        reader.join(30)
        server.should_exit = True
        serving.join()
        bus.close()
        publisher.stop()
    lat = sorted((received[n] - emitted[n]) * 1000 for n in emitted)
    p95 = lat[int(0.95 * (len(lat) - 1))]
    print(f"SSE delivery latency over {len(lat)} events ({'PostgreSQL' if url else 'SQLite'}): "
          f"median {statistics.median(lat):.1f} ms, p95 {p95:.1f} ms, max {lat[-1]:.1f} ms "
          f"(target <= {TARGET_MS:.0f} ms: {'met' if lat[-1] <= TARGET_MS else 'MISSED'})")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
