"""Schemathesis fuzzes every operation of the OpenAPI schema (no 5xx), and canaries prove no secret leaks."""

from __future__ import annotations

import logging
import secrets
from pathlib import Path

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings

from tradewarden.api import tokens
from tradewarden.api.app import create_app
from tradewarden.persistence import Database

from .conftest import T0, Clock, published, trade

# canaries made per test run: no secret-looking literal is committed
CANARY_KEY = f"canarykey{secrets.token_hex(12)}"
CANARY_SECRET = f"canarysecret{secrets.token_hex(12)}"


def _app(tmp_path: Path) -> tuple[Database, str, TestClient]:
    db = Database.open(None, tmp_path)
    with published(db, Clock(T0)) as (bus, _):
        trade(bus, T0)
    secret = tokens.create(db, "fuzz", tokens.Role.OPERATOR, T0)
    return db, secret, TestClient(create_app(db, tmp_path))


def test_the_schema_fuzzed_finds_no_server_error(tmp_path: Path) -> None:
    db, secret, client = _app(tmp_path)
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", client.app).exclude(path_regex="stream")
    failures: list[str] = []
    calls: dict[str, int] = {}
    for operation in schema.get_all_operations():
        @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(operation.ok().as_strategy())
        def run(case: schemathesis.Case) -> None:
            response = case.call(headers={"Authorization": f"Bearer {secret}"})
            calls[case.operation.label] = calls.get(case.operation.label, 0) + 1
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path}: {response.status_code}")

        run()
    db.close()
    assert failures == []
    assert len(calls) >= 15 and all(n > 0 for n in calls.values())  # every operation was exercised


def test_no_secret_reaches_a_response_or_a_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("TRADEWARDEN_EXCHANGE__API_KEY", CANARY_KEY)
    monkeypatch.setenv("TRADEWARDEN_EXCHANGE__API_SECRET", CANARY_SECRET)
    db, secret, client = _app(tmp_path)
    caplog.set_level(logging.DEBUG)
    auth = {"Authorization": f"Bearer {secret}"}
    bodies = []
    for path in ("/readyz", "/api/v1/bots", "/api/v1/risk", "/api/v1/audit", "/api/openapi.json"):
        bodies.append(client.get(path, headers=auth))
        bodies.append(client.get(path, headers={"Authorization": f"Bearer {secret}x"}))
    bodies.append(client.post("/api/v1/login", json={"token": secret}))
    bodies.append(client.post("/api/v1/kill-switch", json={"active": True, "reason": "canary"}, headers=auth))
    db.close()
    seen = "".join(r.text + str(dict(r.headers)) for r in bodies) + caplog.text
    assert all(r.status_code < 500 for r in bodies)
    for canary in (secret, CANARY_KEY, CANARY_SECRET):
        assert canary not in seen
