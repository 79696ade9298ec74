"""Every route answers a request that fails validation with one line naming the field and the problem, never
FastAPI's list echoing the value sent (a user may paste a key into the wrong field)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tradewarden.api import tokens
from tradewarden.api.app import create_app
from tradewarden.persistence import Database

from .conftest import T0, Clock

CANARY = "sk-CANARY-7f3a9e1b2c4d"


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    with Database.open(None, tmp_path) as database:
        yield database


@pytest.fixture
def client(db: Database, tmp_path: Path) -> TestClient:
    return TestClient(create_app(db, tmp_path, clock=Clock(T0)))


@pytest.fixture
def operator(db: Database) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens.create(db, 'alice', tokens.Role.OPERATOR, T0)}"}


# (path, body, the field the answer must name)
BAD_BODIES: list[tuple[str, dict[str, Any], str]] = [
    ("/api/v1/kill-switch", {"active": CANARY, "reason": "x"}, "active"),
    ("/api/v1/kill-switch", {"active": True, "reason": CANARY * 40}, "reason"),
    ("/api/v1/commands/pause", {"symbol": CANARY * 5}, "symbol"),
    ("/api/v1/commands/close-position", {"symbol": "BTC/USDT", "bot": CANARY * 5}, "bot"),
    ("/api/v1/commands/close-position", {"reason": CANARY}, "symbol"),
    ("/api/v1/commands/reset-breaker", {"breaker": CANARY * 5}, "breaker"),
    ("/api/v1/login", {"token": CANARY * 10}, "token"),
]


@pytest.mark.parametrize(("path", "body", "field"), BAD_BODIES)
def test_a_bad_body_is_one_line_naming_the_field_without_the_value(client: TestClient, operator: dict[str, str],
                                                                   path: str, body: dict[str, Any],
                                                                   field: str) -> None:
    resp = client.post(path, json=body, headers=operator)
    assert resp.status_code == 422
    detail = resp.json()["detail"]
    assert isinstance(detail, str) and "\n" not in detail
    assert detail.startswith(f"{field}: ") and "(in the body)" in detail
    assert "CANARY" not in resp.text


def test_a_bad_query_parameter_is_one_line_too(client: TestClient, operator: dict[str, str]) -> None:
    resp = client.get("/api/v1/risk", params={"history": CANARY}, headers=operator)
    assert resp.status_code == 422
    assert resp.json() == {"detail": "history: input should be a valid integer, unable to parse string as an "
                                     "integer (in the query)"}
    assert "CANARY" not in resp.text


def test_a_body_that_is_not_json_is_named_so(client: TestClient, operator: dict[str, str]) -> None:
    resp = client.post("/api/v1/kill-switch", content=f'{{"active": {CANARY}', headers={
        **operator, "Content-Type": "application/json"})
    assert resp.status_code == 422
    assert resp.json() == {"detail": "the request body is not valid JSON"}
    assert "CANARY" not in resp.text
