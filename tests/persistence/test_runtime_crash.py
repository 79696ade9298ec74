"""SIGKILL at random moments: every committed step is complete, nothing half-written, a restart resumes.

The test runs this file as a child process (see ``child`` below) that writes candle steps in a loop the way the
runtime does: fill the previous step's order, place a new one, update balances and the engine snapshot, all in
one ``RuntimeStore.step``. The parent kills it with SIGKILL, checks that orders, fills, balances and snapshot
describe exactly the last committed step, and starts it again; the restarted child replays its last step (as a
bot unsure whether its last write landed would) and must find every fill already booked.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest

from tradewarden.domain.orders import Order, OrderSide, OrderStatus, OrderType
from tradewarden.domain.portfolio import Fill
from tradewarden.persistence import Database
from tradewarden.persistence.runtime_store import RuntimeStore, StoredState

QTY = Decimal("0.00123")
PRICE = Decimal("41234.57")
FEE = Decimal("0.0507185211")
START_TS = 1_700_000_000_000
HOUR = 3_600_000


def order_of(step: int, filled: bool) -> Order:
    return Order(client_id=f"c{step}", symbol="BTC/USDT", side=OrderSide.BUY, type=OrderType.LIMIT, qty=QTY,
                 price=PRICE, created_ts=START_TS + step * HOUR, exchange_id=f"x{step}",
                 status=OrderStatus.FILLED if filled else OrderStatus.ACCEPTED,
                 filled_qty=QTY if filled else Decimal(0))


def fill_of(step: int) -> Fill:
    return Fill(ts=START_TS + step * HOUR + 1, client_id=f"c{step}", symbol="BTC/USDT", side=OrderSide.BUY, qty=QTY,
                price=PRICE, fee=FEE)


def balances_after(fills: int) -> dict[str, Decimal]:
    return {"USDT": Decimal(100_000) - fills * (QTY * PRICE + FEE), "BTC": fills * QTY}


def write_step(store: RuntimeStore, step: int, replay: bool, rng: random.Random) -> None:
    """Step ``step``: the previous order fills, a new order rests; small pauses stand in for the engine's work
    so that most kills land inside an open transaction."""
    ts = START_TS + step * HOUR
    with store.step() as w:
        if step > 0:
            w.save_order(order_of(step - 1, filled=True), ts)
            time.sleep(rng.uniform(0, 0.002))
            booked = w.record_fill(fill_of(step - 1), f"c{step - 1}#1")
            if booked == replay:  # a replayed step must find its fill booked, a new step must book it
                sys.exit(f"step {step}: record_fill returned {booked} on {'replay' if replay else 'first write'}")
        w.save_order(order_of(step, filled=False), ts)
        time.sleep(rng.uniform(0, 0.002))
        w.save_balances(balances_after(step), ts)
        w.save_snapshot("engine", {"step": step, "last_candle_ts": ts, "seq": 2**63 + step, "ticks": [step] * 50}, ts)
        time.sleep(rng.uniform(0, 0.002))


def child(url: str | None, data_dir: Path, account: str) -> None:
    with Database.open(url, data_dir) as db:
        store = RuntimeStore(db, account)
        snap = store.snapshot("engine")
        rng = random.Random()
        if snap is not None:
            write_step(store, snap["step"], replay=True, rng=rng)
        print("ready", flush=True)
        step = 0 if snap is None else snap["step"] + 1
        while True:
            write_step(store, step, replay=False, rng=rng)
            step += 1


def committed_step(state: StoredState) -> int | None:
    """The step the stored state describes, after checking that every part of it agrees."""
    snap = state.snapshots.get("engine")
    if snap is None:
        assert (state.orders, state.fills, state.balances) == ([], [], {}), "rows without the step's snapshot"
        return None
    n = snap["step"]
    assert snap == {"step": n, "last_candle_ts": START_TS + n * HOUR, "seq": 2**63 + n, "ticks": [n] * 50}
    assert [(o.client_id, o.status, o.filled_qty) for o in state.orders] == [
        (f"c{k}", OrderStatus.FILLED, QTY) for k in range(n)] + [(f"c{n}", OrderStatus.ACCEPTED, Decimal(0))]
    assert state.fills == [fill_of(k) for k in range(n)]
    assert state.fill_keys == {f"c{k}#1" for k in range(n)}
    assert state.balances == balances_after(n)
    return int(n)


def run_and_kill(url: str | None, data_dir: Path, account: str, delay: float, wait_ready: bool) -> None:
    proc = subprocess.Popen([sys.executable, __file__, url or "", str(data_dir), account],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        if wait_ready:
            line = proc.stdout.readline() if proc.stdout else ""
            assert line == "ready\n", f"child did not start: {line!r} {proc.stderr.read() if proc.stderr else ''}"
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # it must have died by our hand, not by a failed check of its own
    assert proc.returncode == -signal.SIGKILL, f"child exited by itself ({proc.returncode}): {err}"


@pytest.mark.slow
def test_killed_at_random_moments_keeps_whole_steps(db_url: str | None, tmp_path: Path) -> None:
    seed = int.from_bytes(os.urandom(4), "big")
    rng = random.Random(seed)
    account = f"paper:crash:{seed:08x}"
    kills = 6 if db_url is None else 4
    steps: list[int | None] = []
    for i in range(kills):
        # the first kill may land anywhere: interpreter start, imports, the first migration, or the loop
        run_and_kill(db_url, tmp_path, account, delay=rng.uniform(0.3, 1.5) if i == 0 else rng.uniform(0.02, 0.3),
                     wait_ready=i > 0)
        with Database.open(db_url, tmp_path) as db:
            steps.append(committed_step(RuntimeStore(db, account).load()))
    progress = [s for s in steps if s is not None]
    assert progress == sorted(progress), f"seed {seed}: committed steps went backwards: {steps}"
    assert progress and progress[-1] >= 10, f"seed {seed}: too few steps committed to test anything: {steps}"


if __name__ == "__main__":
    child(sys.argv[1] or None, Path(sys.argv[2]), sys.argv[3])
