"""The go/no-go rule (risk.criteria.evaluate): NO-GO on a failed safety criterion, GO when all pass, CONTINUE
otherwise; and `stage show` deciding a ramp-up stage by the same rule."""

from __future__ import annotations

from decimal import Decimal

from tradewarden.risk.config import StageConfig
from tradewarden.risk.criteria import Decision, Threshold, evaluate
from tradewarden.risk.stages import StageProgress, criteria, ready_to_advance, stage_verdict

UPTIME = Threshold("uptime", ">=", Decimal(95), safety=True, unit="%")
RECONNECTS = Threshold("reconnects", "<", 5, safety=True)
PNL = Threshold("PnL", ">", 0, safety=False)
SHARPE = Threshold("Sharpe", ">=", Decimal("0.5"), safety=False)
ALL = [UPTIME, RECONNECTS, PNL, SHARPE]


def names(judged: tuple[object, ...]) -> list[str]:
    return [j.threshold.name for j in judged]  # type: ignore[attr-defined]


def test_all_met_is_go_decided_by_every_criterion() -> None:
    v = evaluate(ALL, {"uptime": Decimal(95), "reconnects": 4, "PnL": Decimal("0.01"), "Sharpe": 0.5})
    assert v.decision is Decision.GO
    assert names(v.deciding) == ["uptime", "reconnects", "PnL", "Sharpe"]


def test_a_failed_safety_criterion_is_no_go_whatever_else() -> None:
    v = evaluate(ALL, {"uptime": Decimal("94.99"), "reconnects": 5, "PnL": Decimal(-1), "Sharpe": None})
    assert v.decision is Decision.NO_GO
    assert names(v.deciding) == ["uptime", "reconnects"]   # only the safety failures decided it


def test_a_failed_performance_criterion_is_continue() -> None:
    v = evaluate(ALL, {"uptime": 100, "reconnects": 0, "PnL": Decimal(0), "Sharpe": 2})
    assert v.decision is Decision.CONTINUE and names(v.deciding) == ["PnL"]


def test_not_measured_is_never_passed() -> None:
    v = evaluate(ALL, {"reconnects": 0, "PnL": 1, "Sharpe": 1})   # uptime not recorded: neither met nor failed
    assert v.decision is Decision.CONTINUE and names(v.deciding) == ["uptime"]
    assert v.judged[0].met is None and v.judged[0].shown == "not recorded"


def test_comparisons_are_exact() -> None:
    # 0.1 + 0.2 as a float is 0.30000000000000004: judged as the decimal it prints as, not above 0.3
    v = evaluate([Threshold("x", "<=", Decimal("0.3"), safety=False)], {"x": 0.1 + 0.2})
    assert v.judged[0].met is False
    v = evaluate([Threshold("x", "<=", Decimal("0.3"), safety=False)], {"x": Decimal("0.1") + Decimal("0.2")})
    assert v.judged[0].met is True


STAGE = StageConfig(next_stage="small", advance_after_days=14, advance_after_trades=20,
                    advance_max_drawdown_pct=Decimal(5))


def progress(days: int, trades: int, dd: str) -> StageProgress:
    p = StageProgress("paper", first_ts=0, last_ts=days * 86_400_000, trades=trades)
    p.max_drawdown_pct = Decimal(dd)
    return p


def test_stage_advances_on_a_go_of_the_same_rule() -> None:
    ready = progress(15, 20, "4.99")
    assert stage_verdict(STAGE, ready).decision is Decision.GO and ready_to_advance(STAGE, ready)
    short = progress(15, 19, "4.99")
    v = stage_verdict(STAGE, short)
    assert v.decision is Decision.CONTINUE and names(v.deciding) == ["trades"]
    assert not ready_to_advance(STAGE, short)
    deep = progress(15, 20, "5")
    assert stage_verdict(STAGE, deep).decision is Decision.CONTINUE and not ready_to_advance(STAGE, deep)
    assert [(c.name, c.required, c.actual, c.met) for c in criteria(STAGE, deep)] == [
        ("days live", ">= 14", "15", True), ("trades", ">= 20", "20", True),
        ("max drawdown", "< 5%", "5.00%", False)]


def test_stage_without_results_is_not_measured() -> None:
    v = stage_verdict(STAGE, None)
    assert v.decision is Decision.CONTINUE and all(j.met is None for j in v.judged)
    assert [c.actual for c in criteria(STAGE, None)] == ["-", "-", "-"]
