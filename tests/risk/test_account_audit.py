"""One audit trail per account: continued across runs, its head in the database, damage refused at start,
operator actions recorded with who did them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tradewarden.risk import AuditError, RiskManager, verify_audit
from tradewarden.risk.account_audit import AccountAuditTrail, trail_path
from tradewarden.risk.audit import GENESIS, AuditHead, record_hash
from tradewarden.risk.store import RiskStateStore

from .conftest import MemoryEvents, make_config

ACCOUNT = "paper:simulator:BTC/USDT:sma_cross"


def records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def one_run(store: RiskStateStore, path: Path, n: int, start: int = 0) -> None:
    """What a session does with its trail: open it (checked), append, write the head, close."""
    with AccountAuditTrail(path, store, ACCOUNT) as audit:
        for i in range(n):
            audit.append("TRADE_APPROVED", start + i, client_id=f"o{start + i}")
        audit.sync(start + n)


@pytest.fixture
def store(db_url: str | None, tmp_path: Path) -> Any:
    s = RiskStateStore.open(db_url, tmp_path)
    yield s
    s.close()


def test_two_runs_write_one_continued_chain_with_its_head_in_the_database(store: RiskStateStore,
                                                                          tmp_path: Path) -> None:
    path = trail_path(tmp_path, ACCOUNT)
    one_run(store, path, 2)
    one_run(store, path, 3, start=10)
    recs = records(path)
    assert [r["seq"] for r in recs] == [1, 2, 3, 4, 5]
    assert recs[2]["prev_hash"] == recs[1]["hash"]  # the second run continued the first's chain
    assert verify_audit(path).ok
    head = store.audit_head(ACCOUNT)
    assert head is not None and head.head == AuditHead(5, recs[-1]["hash"]) and head.path == str(path)


def test_accounts_have_their_own_trails(tmp_path: Path) -> None:
    other = trail_path(tmp_path, "paper:simulator:BTC_USDT:sma_cross")
    assert trail_path(tmp_path, ACCOUNT) != other and other.parent == tmp_path / "audit"


def test_a_cut_tail_is_refused_when_the_trail_is_reopened(store: RiskStateStore, tmp_path: Path) -> None:
    path = trail_path(tmp_path, ACCOUNT)
    one_run(store, path, 3)
    path.write_text("".join(line + "\n" for line in path.read_text().splitlines()[:2]))
    with pytest.raises(AuditError, match=r"CUT at line 3: .*record\(s\) 3 were cut"):
        AccountAuditTrail(path, store, ACCOUNT)


def test_a_deleted_trail_is_refused(store: RiskStateStore, tmp_path: Path) -> None:
    path = trail_path(tmp_path, ACCOUNT)
    one_run(store, path, 2)
    path.unlink()
    with pytest.raises(AuditError, match=r"DELETED: .*recorded 2 records"):
        AccountAuditTrail(path, store, ACCOUNT)
    assert not path.exists()  # nothing started a new chain in its place


def test_a_recomputed_chain_is_refused(store: RiskStateStore, tmp_path: Path) -> None:
    path = trail_path(tmp_path, ACCOUNT)
    one_run(store, path, 3)
    recs = records(path)
    recs[1]["client_id"] = "forged"
    prev = GENESIS
    for rec in recs:
        rec["prev_hash"] = prev
        rec["hash"] = prev = record_hash(rec)
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    with pytest.raises(AuditError, match="REWRITTEN at line 3"):
        AccountAuditTrail(path, store, ACCOUNT)


def test_records_after_the_stored_head_are_accepted(store: RiskStateStore, tmp_path: Path) -> None:
    # a crash between a record and the head's write leaves the file ahead of the database: that is no damage
    path = trail_path(tmp_path, ACCOUNT)
    one_run(store, path, 2)
    with AccountAuditTrail(path, store, ACCOUNT) as audit:
        audit.append("TRADE_APPROVED", 9, client_id="unsynced")  # no sync: "crashed"
    with AccountAuditTrail(path, store, ACCOUNT) as audit:
        assert audit.seq == 3 and audit.pending
        audit.sync(10)
    head = store.audit_head(ACCOUNT)
    assert head is not None and head.head.seq == 3


def test_operator_actions_from_any_source_are_recorded_with_who(store: RiskStateStore, tmp_path: Path) -> None:
    path = trail_path(tmp_path, ACCOUNT)
    audit = AccountAuditTrail(path, store, ACCOUNT)
    rm = RiskManager(make_config(), MemoryEvents(), audit, store=store)
    store.set_kill_switch(True, "exchange incident", "alice@ops", 1_000)       # the CLI, another process
    rm.deactivate_kill_switch(2_000, "resolved", "bob@desk")                   # in process (any future API)
    store.request_breaker_reset("drawdown", "global", "checked", "carol@ops", 3_000)
    store.record_operator_action("params_applied", "dave@lab", 4_000, file="p.json", params={"fast": 5})
    assert audit.copy_operator_actions(5_000) == 4
    audit.operator_action(6_000, "adopt", "erin@box", mismatches=[])
    assert audit.copy_operator_actions(7_000) == 0  # each action is copied once
    audit.close()
    actions = [(r["action"], r["actor"]) for r in records(path) if r["type"] == "OPERATOR_ACTION"]
    assert actions == [("kill_switch_on", "alice@ops"), ("kill_switch_off", "bob@desk"),
                       ("reset_breaker", "carol@ops"), ("params_applied", "dave@lab"), ("adopt", "erin@box")]
    first = next(r for r in records(path) if r["type"] == "OPERATOR_ACTION")
    assert first["detail"]["reason"] == "exchange incident" and first["action_ts"] == 1_000
    # a restart copies nothing twice: how far the trail got is stored with its head
    again = AccountAuditTrail(path, store, ACCOUNT)
    assert again.copy_operator_actions(8_000) == 0
    again.close()
    stored = store.audit_head(ACCOUNT)
    assert stored is not None and verify_audit(path, stored.head).ok


def test_the_managers_records_reach_the_stored_head_when_a_held_step_ends(store: RiskStateStore,
                                                                         tmp_path: Path) -> None:
    path = trail_path(tmp_path, ACCOUNT)
    audit = AccountAuditTrail(path, store, ACCOUNT)
    rm = RiskManager(make_config(), MemoryEvents(), audit, store=store)
    audit.sync(0)
    with rm.writes_held():
        rm.activate_kill_switch(1_000, "test", "me")
        held = store.audit_head(ACCOUNT)
        assert held is not None and held.head.seq < audit.seq  # not written on the way
    head = store.audit_head(ACCOUNT)
    assert head is not None and head.head == AuditHead(audit.seq, audit.last_hash)
    audit.close()
