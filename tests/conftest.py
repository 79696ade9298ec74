"""Shared fixtures: paths to the shared real-candle data and small helpers."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
PG_BASE = os.environ.get("TRADEWARDEN_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip("shared data directory not present beside the repository")
    return SHARED_DATA


class MemoryEvents:
    """An EventSink that keeps events in a list (type, ts, fields)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, int, dict[str, object]]] = []

    def emit(self, type_: str, ts: int, **fields: object) -> None:
        self.events.append((type_, ts, fields))

    def of(self, type_: str) -> list[dict[str, object]]:
        return [f for t, _, f in self.events if t == type_]


@pytest.fixture(autouse=True)
def _own_lock_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Account locks are machine-wide (/run/lock/tradewarden): each test keeps its own, so tests running at
    the same time with the simulator's default key never meet, and none writes into the real one."""
    monkeypatch.setenv("TRADEWARDEN_LOCK_DIR", str(tmp_path / "machine-locks"))


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
