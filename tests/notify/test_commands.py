"""Telegram commands against a real database: reads from what a bot published, writes as the API's (an
operator request or the kill switch, each with its operator action naming the Telegram user), other chats
ignored, stale commands refused."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tradewarden.api import readmodel as rm
from tradewarden.notify.commands import CommandDesk, actor, parse
from tradewarden.persistence import Database
from tradewarden.persistence.models import OperatorRequest
from tradewarden.risk.store import RiskStateStore

from ..api.conftest import HOUR, T0, Clock, published, trade
from .fakes import wait_until

ALLOWED, OTHER = 111, 999


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database.open(None, tmp_path / "data")
    yield database
    database.close()


def desk(db: Database, clock: Clock | None = None) -> CommandDesk:
    return CommandDesk({ALLOWED}, lambda: db, clock or Clock(T0), ack_wait_s=0)


def update(text: str, chat_id: int = ALLOWED, date: int = T0 // 1000, username: str | None = "ops") -> dict[str, Any]:
    user: dict[str, Any] = {"id": 42, "first_name": "Op"}
    if username:
        user["username"] = username
    return {"update_id": 1, "message": {"message_id": 1, "date": date, "chat": {"id": chat_id}, "from": user,
                                        "text": text}}


def requests(db: Database) -> list[OperatorRequest]:
    with db.session() as s:
        rows = list(s.scalars(select(OperatorRequest).order_by(OperatorRequest.id)))
        s.expunge_all()
        return rows


def test_parsing_commands_and_naming_the_user() -> None:
    assert parse("/kill exchange down") == ("kill", "exchange down")
    assert parse("/Kill@tw_bot  why  ") == ("kill", "why")
    assert parse("/status") == ("status", "")
    assert parse("hello") is None and parse("") is None
    assert actor({"id": 42, "username": "ops"}) == "telegram:@ops(42)"
    assert actor({"id": 7, "first_name": "Ann <b>"}) == "telegram:Ann b(7)"


def test_pause_from_an_allowed_chat_is_an_operator_request_and_an_audited_action(db: Database) -> None:
    reply = desk(db).answer_update(update("/pause maintenance"))
    assert reply is not None and reply[0] == ALLOWED and "pause_entries queued as command" in reply[1]
    (row,) = requests(db)
    assert (row.kind, row.scope, row.reason, row.actor) == ("pause_entries", "global", "maintenance",
                                                            "telegram:@ops(42)")
    (action,) = RiskStateStore(db).operator_actions()
    assert action.action == "pause_entries" and action.actor == "telegram:@ops(42)"
    assert action.detail["request"] == row.id


def test_resume_queues_a_resume(db: Database) -> None:
    desk(db).answer_update(update("/resume"))
    assert [r.kind for r in requests(db)] == ["resume"]


def test_kill_turns_the_kill_switch_on_through_the_risk_store(db: Database) -> None:
    d = desk(db)
    reply = d.answer_update(update("/kill exchange is down"))
    assert reply is not None and "kill switch ON (by telegram:@ops(42): exchange is down)" in reply[1]
    assert "no bot acknowledged" in reply[1]
    store = RiskStateStore(db)
    status = store.kill_switch()
    assert status.active and status.actor == "telegram:@ops(42)" and status.reason == "exchange is down"
    assert [(a.action, a.actor) for a in store.operator_actions()] == [("kill_switch_on", "telegram:@ops(42)")]
    again = d.answer_update(update("/kill again"))
    assert again is not None and "already ON" in again[1] and len(store.kill_switch_history()) == 1


def test_kill_needs_a_reason(db: Database) -> None:
    reply = desk(db).answer_update(update("/kill"))
    assert reply is not None and "say why" in reply[1] and not RiskStateStore(db).kill_switch().active


def test_another_chat_is_ignored_and_logged(db: Database, caplog: pytest.LogCaptureFixture) -> None:
    d = desk(db)
    with caplog.at_level(logging.WARNING, "tradewarden.notify"):
        assert d.answer_update(update("/kill stranger", chat_id=OTHER)) is None
        assert d.answer_update(update("/pause", chat_id=OTHER)) is None
    assert d.ignored == 2 and requests(db) == [] and not RiskStateStore(db).kill_switch().active
    assert any(f"chat {OTHER}" in r.getMessage() and "not in notify.telegram.chat_ids" in r.getMessage()
               for r in caplog.records)


def test_a_command_sent_while_no_bot_listened_is_refused(db: Database) -> None:
    reply = desk(db).answer_update(update("/kill old news", date=T0 // 1000 - 3600))
    assert reply is not None and "not carried out" in reply[1] and not RiskStateStore(db).kill_switch().active


def test_before_the_boot_is_done_the_bot_asks_to_try_again(db: Database) -> None:
    reply = desk(db).answer_update(update("/pause"), ready=False)
    assert reply is not None and "starting" in reply[1] and requests(db) == []


def test_text_and_unknown_commands_get_help(db: Database) -> None:
    d = desk(db)
    assert d.answer_update(update("hi")) == (ALLOWED, "send /help for the commands")
    unknown = d.answer_update(update("/withdraw"))
    assert unknown is not None and "unknown command /withdraw" in unknown[1]
    helped = d.answer_update(update("/help"))
    assert helped is not None and all(f"/{c}" in helped[1] for c in
                                      ("status", "positions", "profit", "daily", "balance", "kill", "pause", "resume"))


def test_the_reads_show_what_the_running_bot_published(db: Database) -> None:
    clock = Clock(T0 + 2 * HOUR)
    with published(db, clock) as (bus, publisher):
        trade(bus, T0)

        def equity_published() -> bool:
            with db.session() as s:
                return bool(rm.equity(s, publisher.bot.id))

        wait_until("the publisher's write", equity_published)
        d = desk(db, clock)

        def answer(text: str) -> str:
            reply = d.answer_update(update(text, date=clock.now // 1000))
            assert reply is not None
            return reply[1]

        positions = answer("/positions")
        assert "paper BTC/USDT, ETH/USDT (sma_cross): BTC/USDT 0.3 @ 100, mark 120, unrealized +6" in positions
        profit = answer("/profit")
        assert "equity 10007.96, pnl +7.96" in profit
        assert "USDT 9971.96" in answer("/balance") and "BTC 0.3" in answer("/balance")
        assert "2026-01-01: equity 10007.96" in answer("/daily")
        status = answer("/status")
        assert "kill switch: off" in status and "paper BTC/USDT, ETH/USDT (sma_cross): running" in status
    # stopped: no longer among the running bots
    assert desk(db, clock).answer_update(update("/profit", date=clock.now // 1000)) == (ALLOWED, "no running bot")


def test_reads_on_an_empty_database(db: Database) -> None:
    d = desk(db)
    assert d.answer("positions", "", "x") == "no open position (no running bot)"
    assert d.answer("balance", "", "x") == "no running bot"
    assert "no bot has published" in d.answer("status", "", "x")
