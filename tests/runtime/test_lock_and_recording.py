import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tradewarden.domain.candles import Candle
from tradewarden.runtime.lock import InstanceLock, InstanceLockedError, account_lock_name, session_lock
from tradewarden.runtime.recording import Recorder, RecordingError, open_recording


def test_second_instance_on_the_same_account_is_refused(tmp_path: Path) -> None:
    name = account_lock_name("binance", "key-1")
    assert "key-1" not in name
    with InstanceLock(tmp_path, name):
        with pytest.raises(InstanceLockedError, match=str(os.getpid())) as refused:
            InstanceLock(tmp_path, name).acquire()
        assert refused.value.holder is not None and refused.value.holder.pid == os.getpid()
        InstanceLock(tmp_path, account_lock_name("binance", "key-2")).acquire()  # another account is fine
    with InstanceLock(tmp_path, name):  # released on exit
        pass


def test_a_session_on_an_account_already_traded_refuses_to_start_with_code_3_and_an_event(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from typer.testing import CliRunner

    from tradewarden.cli.main import app

    monkeypatch.setenv("TRADEWARDEN_DATA_DIR", str(tmp_path / "data"))
    for name in ("LIVE_TRADING", "TRADEWARDEN_EXCHANGE__API_KEY", "TRADEWARDEN_EXCHANGE__API_SECRET"):
        monkeypatch.delenv(name, raising=False)
    with session_lock("simulator", None, "paper", tmp_path / "data", {}, bot="first-run"):
        result = CliRunner().invoke(app, ["run", "--mode", "paper", "--duration", "1h", "--out", str(tmp_path / "p")])
    assert result.exit_code == 3, result.output
    assert "refused to start" in result.output and "Traceback" not in result.output
    events = [json.loads(line) for line in (tmp_path / "p" / "events.jsonl").read_text().splitlines()]
    (refused,) = [e for e in events if e["type"] == "INSTANCE_REFUSED"]
    assert refused["holder"]["pid"] == os.getpid() and refused["holder"]["bot"] == "first-run"
    assert refused["holder"]["host"] == socket.gethostname()


def test_lock_of_a_killed_process_is_released(tmp_path: Path) -> None:
    name = account_lock_name("binance", "k")
    code = (f"from pathlib import Path; from tradewarden.runtime.lock import InstanceLock; "
            f"l = InstanceLock(Path({str(tmp_path)!r}), {name!r}); l.acquire(); print('held', flush=True); "
            f"import time; time.sleep(60)")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    with pytest.raises(InstanceLockedError):
        InstanceLock(tmp_path, name).acquire()
    proc.kill()
    proc.wait()
    InstanceLock(tmp_path, name).acquire()


def test_recording_round_trip_and_torn_last_line(tmp_path: Path) -> None:
    path = tmp_path / "rec.jsonl"
    rec = Recorder(path, {"mode": "paper", "config_hash": "abc"})
    candles = [Candle(i * 60_000, 1.0 + i, 2.0 + i, 0.5, 1.5, 10.0) for i in range(3)]
    for c in candles:
        rec.candle("BTC/USDT", "1m", c)
    rec.close()
    with path.open("ab") as fh:
        fh.write(b'{"kind": "candle", "sym')  # a crash in the middle of a line
    loaded = open_recording(path)
    assert loaded.header["config_hash"] == "abc"
    assert [c for _, _, c in loaded.candles()] == candles


def test_bad_recordings_are_named(tmp_path: Path) -> None:
    with pytest.raises(RecordingError, match="not found"):
        open_recording(tmp_path / "none.jsonl")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"kind": "candle"}\n')
    with pytest.raises(RecordingError, match="first record must be the header"):
        open_recording(bad)
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"kind": "header", "format": 1}\nnot json\n{"kind": "candle"}\n')
    with pytest.raises(RecordingError, match=":2: not valid JSON"):
        list(open_recording(broken).candles())
