"""``POST /commands/close-position`` is addressed to one bot: two bots on one database trading the same symbol
must not both take (or race for) one operator's close."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pytest
from fastapi.testclient import TestClient

from tradewarden.api import tokens
from tradewarden.api.app import bot_key, create_app
from tradewarden.api.publish import BotInfo
from tradewarden.node.commands import CLOSE_POSITION, NodeCommands, target_of
from tradewarden.node.runner import StrategyRunner
from tradewarden.persistence import Database
from tradewarden.risk.store import RiskStateStore

from .conftest import HOUR, T0, Clock, bot_info, published

ALPHA = bot_info("paper:sim:alpha", pid=101)
BETA = bot_info("paper:sim:beta", pid=202)


@pytest.fixture
def db(db_url: str | None, tmp_path: Path) -> Iterator[Database]:
    with Database.open(db_url, tmp_path) as database:
        for info in (ALPHA, BETA):  # both trade BTC/USDT and ETH/USDT
            with published(database, Clock(T0), info):
                pass
        yield database


@pytest.fixture
def client(db: Database, tmp_path: Path) -> TestClient:
    return TestClient(create_app(db, tmp_path, clock=Clock(T0 + 2 * HOUR)))


@pytest.fixture
def operator(db: Database) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens.create(db, 'alice', tokens.Role.OPERATOR, T0)}"}


def takers(db: Database, command_id: int) -> list[str]:
    """Which of the two bots' command intakes would carry the request out."""
    # pending() only asks whether the bot trades the symbol: the runner itself is not touched
    runners = {"BTC/USDT": cast(StrategyRunner, None)}
    out = []
    for info in (ALPHA, BETA):
        node = NodeCommands(RiskStateStore(db), runners, lambda: "", lambda: None, lambda: T0, info.account)
        if command_id in [c.id for c in node.pending() if c.kind == CLOSE_POSITION]:
            out.append(info.account)
    return out


@pytest.mark.parametrize("bot", [ALPHA, BETA])
def test_a_close_naming_a_bot_is_taken_by_that_bot_only(client: TestClient, db: Database,
                                                        operator: dict[str, str], bot: BotInfo) -> None:
    resp = client.post("/api/v1/commands/close-position", headers=operator,
                       json={"symbol": "BTC/USDT", "reason": "manual", "bot": bot_key(bot.id)})
    assert resp.status_code == 200, resp.text
    assert takers(db, resp.json()["id"]) == [bot.account]
    [row] = RiskStateStore(db).pending_commands()
    assert row.target == target_of(bot.account)


def test_a_close_without_a_bot_is_refused_when_two_bots_trade_the_symbol(client: TestClient, db: Database,
                                                                         operator: dict[str, str]) -> None:
    resp = client.post("/api/v1/commands/close-position", headers=operator, json={"symbol": "BTC/USDT"})
    assert resp.status_code == 409
    detail = resp.json()["detail"]
    assert "2 bots trade BTC/USDT" in detail
    assert bot_key(ALPHA.id) in detail and bot_key(BETA.id) in detail
    assert RiskStateStore(db).pending_commands() == []  # nothing was queued for either


def test_a_close_naming_a_bot_that_does_not_trade_the_symbol_is_refused(client: TestClient, db: Database,
                                                                        operator: dict[str, str]) -> None:
    resp = client.post("/api/v1/commands/close-position", headers=operator,
                       json={"symbol": "SOL/USDT", "bot": bot_key(ALPHA.id)})
    assert resp.status_code == 409
    assert "does not trade SOL/USDT" in resp.json()["detail"]
    unknown = client.post("/api/v1/commands/close-position", headers=operator,
                          json={"symbol": "BTC/USDT", "bot": "0" * 16})
    assert unknown.status_code == 404
    assert RiskStateStore(db).pending_commands() == []


def test_with_one_bot_on_the_symbol_the_close_is_addressed_to_it(tmp_path: Path) -> None:
    with Database.open(None, tmp_path) as db:
        with published(db, Clock(T0), ALPHA):
            pass
        client = TestClient(create_app(db, tmp_path, clock=Clock(T0 + 2 * HOUR)))
        auth = {"Authorization": f"Bearer {tokens.create(db, 'alice', tokens.Role.OPERATOR, T0)}"}
        resp = client.post("/api/v1/commands/close-position", headers=auth, json={"symbol": "BTC/USDT"})
        assert resp.status_code == 200, resp.text
        [row] = RiskStateStore(db).pending_commands()
        assert row.target == target_of(ALPHA.account)
