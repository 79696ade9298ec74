"""The audit trail: hash chain, resuming, tampering (edit, delete, swap) detected at the first bad line."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from tradewarden.risk import AuditError, AuditTrail, verify_audit
from tradewarden.risk.audit import GENESIS, record_hash


def write_trail(path: Path, n: int = 5) -> None:
    with AuditTrail(path) as audit:
        for i in range(n):
            audit.append(
                "TRADE_APPROVED", 1000 + i, client_id=f"o{i}", qty=Decimal("0.10"), symbol="BTC/USDT"
            )


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def save(path: Path, rows: list[str]) -> None:
    path.write_text("".join(r + "\n" for r in rows))


def test_records_are_chained(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    write_trail(path, 3)
    records = [json.loads(r) for r in lines(path)]
    assert [r["seq"] for r in records] == [1, 2, 3]
    assert records[0]["prev_hash"] == GENESIS
    assert records[1]["prev_hash"] == records[0]["hash"] and records[2]["prev_hash"] == records[1]["hash"]
    assert all(record_hash(r) == r["hash"] for r in records)
    assert records[0]["qty"] == "0.10"  # decimals kept exact, as text
    assert list(records[0])[:3] == ["seq", "ts", "type"] and list(records[0])[-2:] == ["prev_hash", "hash"]
    result = verify_audit(path)
    assert (
        result.ok
        and result.records == 3
        and result.first_bad is None
        and result.last_hash == records[2]["hash"]
    )


def test_reopening_continues_the_chain(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    write_trail(path, 2)
    with AuditTrail(path) as audit:
        rec = audit.append("KILL_SWITCH_ACTIVATED", 5000, reason="test", actor="me")
    assert rec["seq"] == 3 and rec["prev_hash"] == json.loads(lines(path)[1])["hash"]
    assert verify_audit(path).ok


def test_reserved_field_names_are_refused(tmp_path: Path) -> None:
    with AuditTrail(tmp_path / "a.jsonl") as audit, pytest.raises(ValueError, match="hash"):
        audit.append("X", 0, hash="forged")


def test_edit_is_detected(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    write_trail(path)
    rows = lines(path)
    rows[2] = rows[2].replace('"qty":"0.10"', '"qty":"10.00"')
    save(path, rows)
    result = verify_audit(path)
    assert (result.ok, result.first_bad, result.why, result.records) == (False, 3, "edited", 2)


def test_edit_with_recomputed_hash_is_detected_at_the_next_record(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    write_trail(path)
    rows = lines(path)
    rec = json.loads(rows[1])
    rec["qty"] = "99"
    rec["hash"] = record_hash(rec)
    rows[1] = json.dumps(rec)
    save(path, rows)
    result = verify_audit(path)
    assert (result.first_bad, result.why) == (3, "edited")
    assert "does not chain to line 2" in result.message


@pytest.mark.parametrize(("index", "first_bad"), [(0, 1), (2, 3)])
def test_deletion_is_detected(tmp_path: Path, index: int, first_bad: int) -> None:
    path = tmp_path / "audit.jsonl"
    write_trail(path)
    rows = lines(path)
    del rows[index]
    save(path, rows)
    result = verify_audit(path)
    assert (result.ok, result.first_bad, result.why) == (False, first_bad, "deleted")
    assert f"record(s) {index + 1} deleted" in result.message


def test_swap_is_detected(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    write_trail(path)
    rows = lines(path)
    rows[1], rows[3] = rows[3], rows[1]
    save(path, rows)
    result = verify_audit(path)
    assert (result.ok, result.first_bad, result.why) == (False, 2, "reordered")


def test_garbage_line_is_detected(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    write_trail(path, 3)
    rows = lines(path)
    rows.insert(1, "not json")
    save(path, rows)
    result = verify_audit(path)
    assert (result.first_bad, result.why) == (2, "malformed")


def test_empty_file_is_an_intact_empty_trail(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_bytes(b"")
    assert verify_audit(path).ok and verify_audit(path).records == 0


def test_cannot_continue_after_an_incomplete_last_line(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    write_trail(path, 2)
    with path.open("ab") as fh:
        fh.write(b'{"seq": 3, "ts"')
    with pytest.raises(AuditError, match="line 3 is incomplete"):
        AuditTrail(path)


def test_cannot_continue_after_an_edited_last_line(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    write_trail(path, 2)
    rows = lines(path)
    rows[1] = rows[1].replace("o1", "zz")
    save(path, rows)
    with pytest.raises(AuditError, match="line 2 does not match its hash"):
        AuditTrail(path)
