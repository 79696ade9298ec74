"""Shared fixtures: paths to the shared real-candle data and small helpers; and the test session's own home.

For the whole run (subprocesses included, since they inherit the environment) HOME and the XDG directories
point into a temporary directory and every ``TRADEWARDEN_*`` setting of the caller's shell is dropped, so no
test can read or write the real ``~/.local/share/tradewarden`` or pick up a developer's settings. Only the
numba cache stays where it was (``NUMBA_CACHE_DIR``, fixed before HOME moves): recompiling the kernels on
every run would cost ~15 s. ``PYTHONPATH`` starts with this checkout's ``src`` so that subprocesses, like
pytest itself (``pythonpath`` in pyproject.toml), run the source tree even when another copy is installed.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tradewarden.domain.events import EventType, payload_problems

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src"
SHARED_DATA = REPO.parent / "shared" / "data"
PG_BASE = os.environ.get("TRADEWARDEN_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
REAL_HOME = Path.home()
_KEEP = {"TRADEWARDEN_TEST_PG"}
_session_home: Path | None = None


def pytest_configure(config: pytest.Config) -> None:
    global _session_home
    from tradewarden import _kernel_cache

    _kernel_cache.configure()   # sets NUMBA_CACHE_DIR from the real home, before HOME moves
    _session_home = Path(tempfile.mkdtemp(prefix="tradewarden-tests-"))
    home = _session_home / "home"
    os.environ["HOME"] = str(home)
    for name, sub in (("XDG_DATA_HOME", ".local/share"), ("XDG_CONFIG_HOME", ".config"),
                      ("XDG_CACHE_HOME", ".cache"), ("XDG_STATE_HOME", ".local/state")):
        os.environ[name] = str(home / sub)
    for name in [n for n in os.environ if n.upper().startswith("TRADEWARDEN_") and n not in _KEEP]:
        del os.environ[name]
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(SRC), os.environ.get("PYTHONPATH")) if p)


def pytest_unconfigure(config: pytest.Config) -> None:
    if _session_home is not None:
        shutil.rmtree(_session_home, ignore_errors=True)


@pytest.fixture(scope="session")
def real_home() -> Path:
    """The home directory of the user running the tests (HOME points elsewhere during the run)."""
    return REAL_HOME


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip("shared data directory not present beside the repository")
    return SHARED_DATA


class MemoryEvents:
    """An EventSink that keeps events in a list (type, ts, fields), each checked against its payload type."""

    def __init__(self) -> None:
        self.events: list[tuple[str, int, dict[str, object]]] = []

    def emit(self, type_: EventType, ts: int, **fields: object) -> None:
        problems = payload_problems(type_, fields)
        assert not problems, problems  # every event carries exactly its payload type's fields
        self.events.append((type_, ts, fields))

    def of(self, type_: str) -> list[dict[str, object]]:
        return [f for t, _, f in self.events if t == type_]


@pytest.fixture(autouse=True)
def _own_lock_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Account locks are machine-wide (/run/lock/tradewarden): each test keeps its own, so tests running at
    the same time with the simulator's default key never meet, and none writes into the real one."""
    monkeypatch.setenv("TRADEWARDEN_LOCK_DIR", str(tmp_path / "machine-locks"))


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A session's environment: its own data directory (returned), no live switch, no exchange keys."""
    data_dir = tmp_path / "data"
    monkeypatch.setenv("TRADEWARDEN_DATA_DIR", str(data_dir))
    for name in ("LIVE_TRADING", "TRADEWARDEN_EXCHANGE__API_KEY", "TRADEWARDEN_EXCHANGE__API_SECRET"):
        monkeypatch.delenv(name, raising=False)
    return data_dir


@pytest.fixture
def events() -> MemoryEvents:
    return MemoryEvents()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A URL whose connections use a fresh schema of the test database, dropped afterwards."""
    from sqlalchemy import create_engine, text

    schema = f"tw_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_BASE.replace("postgresql://", "postgresql+psycopg2://", 1))
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{PG_BASE}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str | None:
    """None (the SQLite file under tmp_path, the default) or a PostgreSQL schema of its own."""
    if request.param == "sqlite":
        return None
    url: str = request.getfixturevalue("pg_url")
    return url


def params_file(path: Path, fast: int, slow: int, strategy: str = "sma_cross") -> Path:
    """A valid parameter file (as `tradewarden optimize` writes them) of ``strategy`` with ``fast``/``slow``."""
    from tradewarden.optimize.paramsfile import DataRange, ParamsFile, StudyInfo, write_params_file

    t = datetime(2024, 4, 10, tzinfo=UTC)
    write_params_file(path, ParamsFile(
        strategy=strategy, params={"fast": fast, "slow": slow}, created=t, version="test",
        study=StudyInfo(name="s", storage="sqlite:///x.db", trial=0, objective="sharpe", select_by="oos",
                        mode="search", completed_trials=1),
        data=DataRange(source="test", symbol="BTC/USDT", timeframe="5m", sha256="0" * 64, bars=1, start=t, end=t,
                       search_start=t, search_end=t, holdout_start=t, holdout_end=t),
        metrics={"in_sample": {"sharpe": 1.0}, "out_of_sample": {"sharpe": 1.0}}))
    return path


#: the shared candle cache's tests use the real Redis server, database 15, each under a key prefix of its own
REDIS_TEST_URL = "redis://127.0.0.1:6379/15"


@pytest.fixture
def cache_prefix() -> Iterator[str]:
    """A Redis key prefix of this test's own (``test-<random>:candles``); its keys are deleted afterwards."""
    from tradewarden.data.cache import RedisCandleCache

    name = f"test-{uuid.uuid4().hex[:10]}:candles"
    client = RedisCandleCache(REDIS_TEST_URL, prefix=name)
    try:
        client.ping()
    except Exception as exc:
        pytest.skip(f"Redis not reachable at {REDIS_TEST_URL}: {exc}")
    yield name
    for key in client.client.scan_iter(f"{name}:*"):
        client.client.delete(key)
    client.close()
