"""The exchange unreachable at boot (its markets cannot be loaded): one line naming the exchange and what failed,
exit code 1 (the world failed, not the input: a later start may succeed), no traceback, the events intact."""

from __future__ import annotations

import dataclasses
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tradewarden.cli.main import app
from tradewarden.data import exchange as exchange_settings
from tradewarden.data.retry import RetryPolicy
from tradewarden.data.sample import sample_1m_path
from tradewarden.simulator.testing import start_simulator

pytestmark = pytest.mark.slow


def quick_retry(**kwargs: Any) -> RetryPolicy:
    """The boot's retry policy with a budget of a few seconds instead of two minutes (same give-up path)."""
    return RetryPolicy(**{**kwargs, "base_s": 0.05, "cap_s": 0.2, "max_attempts": 3, "max_total_s": 5.0})


@pytest.fixture
def env(env: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The session's environment (tests/conftest.py), with a boot retry budget of seconds."""
    monkeypatch.setattr("tradewarden.data.retry.RetryPolicy", quick_retry)
    real = exchange_settings.settings_from_config

    def short_timeout(cfg: Any, exchange_id: str | None = None) -> exchange_settings.ExchangeSettings:
        return dataclasses.replace(real(cfg, exchange_id), timeout_ms=400)

    monkeypatch.setattr("tradewarden.data.exchange.settings_from_config", short_timeout)
    return env


def closed_simulator_config() -> dict[str, Any]:
    """The ccxt config of a simulator that was started and stopped again: its port no longer answers."""
    with start_simulator(data=sample_1m_path(), symbols=["BTC/USDT"], speed=3000, seed=3, start_index=200) as sim:
        conf = sim.ccxt_config()
    return conf


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never says a word (a hung exchange)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    server.settimeout(0.1)  # accept() wakes up to see the test is over
    accepted: list[socket.socket] = []
    done = threading.Event()

    def accept() -> None:
        while not done.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            accepted.append(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    done.set()
    thread.join(timeout=5)
    server.close()
    for conn in accepted:
        conn.close()


def at_port(conf: dict[str, Any], port: int) -> dict[str, Any]:
    old = str(conf["urls"]["api"]["public"]).split("//")[1].split("/")[0]

    def swap(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: swap(v) for k, v in value.items()}
        return value.replace(old, f"127.0.0.1:{port}") if isinstance(value, str) else value

    swapped: dict[str, Any] = swap(conf)
    return swapped


def run_paper(tmp_path: Path, conf: dict[str, Any]) -> tuple[int, str, Path]:
    cfg = tmp_path / "config.yaml"
    cfg.write_text(json.dumps({"exchange": {"id": "binance", "urls": conf["urls"], "options": conf["options"]}}))
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["run", "--mode", "paper", "--config", str(cfg), "--out", str(out),
                                      "--no-console"])
    return result.exit_code, " ".join(result.output.split()), out


def events(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]


def test_a_closed_port_at_boot_is_one_line_and_exit_code_1(env: Path, tmp_path: Path) -> None:
    conf = closed_simulator_config()
    code, output, out = run_paper(tmp_path, conf)
    assert code == 1, output
    assert "Traceback" not in output
    url = f"{conf['urls']['api']['public']}/exchangeInfo"
    assert f"exchange binance: loading markets failed: connection refused (GET {url})" in output
    evs = events(out)  # every line of the run's record is whole
    assert [e["call"] for e in evs if e["type"] == "ExchangeGaveUp"] == ["load_markets"]
    assert "BOOT_SEAL" not in [e["type"] for e in evs]


def test_an_exchange_that_never_answers_times_out_in_one_line(env: Path, tmp_path: Path, silent_port: int) -> None:
    conf = at_port(closed_simulator_config(), silent_port)
    code, output, out = run_paper(tmp_path, conf)
    assert code == 1, output
    assert "Traceback" not in output
    url = f"http://127.0.0.1:{silent_port}/api/v3/exchangeInfo"
    assert f"exchange binance: loading markets timed out after 0.4 s (GET {url})" in output
    assert [e["call"] for e in events(out) if e["type"] == "ExchangeGaveUp"] == ["load_markets"]
