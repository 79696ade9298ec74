"""The notifier's pure core: events to alerts with severities, the rules with memory, collapsing, the digest and
the daily summary. No I/O, no clock: ``now`` is given."""

from __future__ import annotations

import math
import random
import statistics
from typing import Any

import pytest

from tradewarden.domain.events import EventType as E
from tradewarden.domain.events import payload_problems
from tradewarden.notify.alerts import RULES, Alert, Severity, classify
from tradewarden.notify.collapse import Collapser, Digest
from tradewarden.notify.pipeline import Pipeline, PipelineSettings, render
from tradewarden.notify.watch import DAY_MS, HOUR_MS, YEAR_MS, RollingSharpe, Watch, WatchSettings

CRIT, WARN, INFO = Severity.CRITICAL, Severity.WARNING, Severity.INFO
TF = 60_000  # one-minute bars
MIN = 60_000

# (event, its fields as emitted, alert kind, severity, words the text must hold)
CASES: list[tuple[E, dict[str, Any], str, Severity, list[str]]] = [
    (E.KILL_SWITCH_ACTIVATED, {"reason": "exchange down", "actor": "ops@host", "set_ts": 1, "close_positions": True},
     "kill_switch_on", CRIT, ["KILL SWITCH ON", "ops@host", "exchange down", "closing positions"]),
    (E.KILL_SWITCH_DEACTIVATED, {"reason": "fixed", "actor": "ops@host", "set_ts": 1},
     "kill_switch_off", WARN, ["off", "ops@host", "fixed"]),
    (E.CIRCUIT_BREAKER_TRIPPED, {"breaker": "drawdown", "scope": "global", "action": "HALTED", "reason": "dd 12 %",
                                 "reset": "manual", "reset_after_ts": None},
     "breaker_tripped", CRIT, ["drawdown", "HALTED", "dd 12 %"]),
    (E.CIRCUIT_BREAKER_RESET, {"breaker": "drawdown", "scope": "global", "by": "ops"},
     "breaker_reset", WARN, ["drawdown", "reset", "ops"]),
    (E.PARAMS_REOPTIMIZED, {"outcome": "applied", "reason": "beats the live parameters", "file": "p.json",
                            "margin": 0.1, "data": "store", "current_sharpe": 0.8, "new_sharpe": 1.2,
                            "new_params": {"fast": 9}},
     "params_reoptimized", WARN, ["applied", "0.80 live", "1.20 new", "p.json"]),
    (E.PARAMS_REOPTIMIZED, {"outcome": "kept", "reason": "under the margin", "file": "p.json", "margin": 0.1,
                            "data": "store", "current_sharpe": 0.8, "new_sharpe": 0.82},
     "params_reoptimized", WARN, ["kept", "did not beat"]),
    (E.PARAMS_REOPTIMIZED, {"outcome": "failed", "reason": "optimizer timed out", "file": "p.json", "margin": 0.1,
                            "data": "recorded"},
     "params_reoptimized", WARN, ["failed", "optimizer timed out"]),
    (E.TRADING_STATE_CHANGED, {"scope": "global", "from": "ACTIVE", "to": "HALTED", "reason": "kill switch"},
     "trading_state", CRIT, ["ACTIVE -> HALTED", "kill switch"]),
    (E.TRADING_STATE_CHANGED, {"scope": "BTC/USDT", "from": "ACTIVE", "to": "REDUCING", "reason": "losses"},
     "trading_state", WARN, ["REDUCING"]),
    (E.TRADING_STATE_CHANGED, {"scope": "global", "from": "HALTED", "to": "ACTIVE", "reason": "reset"},
     "trading_state", INFO, ["ACTIVE"]),
    (E.RECONCILE_MISMATCH, {"adopted": False, "mismatches": [{"kind": "balance", "subject": "BTC", "ours": "1",
                                                             "exchange": "0.5", "suggestion": "check"}]},
     "reconcile_mismatch", CRIT, ["RECONCILE_MISMATCH", "balance BTC", "halted"]),
    (E.HALTED_OPS, {"reason": "mismatch", "what_to_do": "run reconcile"}, "halted_ops", CRIT,
     ["HALTED_OPS", "run reconcile"]),
    (E.LIVE_ARM_FAILED, {"mode": "live", "reason": "HASH_MISMATCH", "message": "confirm the hash",
                         "config_hash": "ab"}, "live_arm_failed", CRIT, ["LIVE_ARM_FAILED", "HASH_MISMATCH"]),
    (E.RUN_STARTED, {"mode": "paper", "version": "1", "config_hash": "0123456789abcdef",
                     "symbols": ["BTC/USDT"], "strategy": {"name": "sma_cross", "params": {}}},
     "bot_started", WARN, ["bot started", "paper", "sma_cross on BTC/USDT", "0123456789ab"]),
    (E.RUN_FINISHED, {"trades": 3, "final_equity": 10010.5, "run_dir": "r", "mode": "paper",
                      "reason": "signal SIGTERM", "candles": 40}, "bot_stopped", WARN,
     ["bot stopped", "signal SIGTERM", "40 candles", "3 trades"]),
    (E.SESSION_RESUMED, {"last_candle": 5, "open_orders": 1, "fills": 2, "after_crash": True},
     "restarted_after_crash", WARN, ["unclean stop", "1 open order"]),
    (E.ORDER_REJECTED, {"client_id": "tw-1", "symbol": "BTC/USDT", "reason": "-1013 filter"},
     "order_rejected", WARN, ["tw-1", "BTC/USDT", "-1013"]),
    (E.FEED_STALE, {"exchange": "binance", "silence_s": 31.2, "mode": "ws", "had_data": True},
     "feed_stale", WARN, ["binance", "31 s"]),
    (E.PARAMS_RELOADED, {"file": "p.json", "params": {"fast": 5}}, "params_reloaded", INFO, ["p.json", "fast"]),
    (E.PARAMS_RELOAD_FAILED, {"file": "p.json", "error": "bad"}, "params_reload_failed", WARN, ["bad"]),
    (E.LEASE_LOST, {"message": "taken over"}, "lease_lost", CRIT, ["taken over"]),
]


@pytest.mark.parametrize(("kind", "record", "alert_kind", "severity", "words"), CASES,
                         ids=[f"{c[0]}-{c[3].name}" for c in CASES])
def test_each_event_the_operator_needs_makes_its_alert(kind: E, record: dict[str, Any], alert_kind: str,
                                                       severity: Severity, words: list[str]) -> None:
    assert not payload_problems(kind, record)  # the fields exactly as the bot emits them
    alert = classify(kind, record, 123)
    assert alert is not None and alert.kind == alert_kind and alert.severity == severity and alert.ts == 123
    for word in words:
        assert word in alert.text, (word, alert.text)


@pytest.mark.parametrize(("kind", "record"), [
    (E.RUN_STARTED, {"mode": "backtest", "version": "1", "config_hash": None}),
    (E.RUN_FINISHED, {"trades": 1, "final_equity": 1.0, "run_dir": "r"}),  # a backtest's
    (E.SESSION_RESUMED, {"last_candle": 5, "open_orders": 0, "fills": 0, "after_crash": False}),
    (E.FILL, {"client_id": "c", "symbol": "BTC/USDT", "side": "buy", "qty": "1", "price": "1", "fee": "0",
              "liquidity": "taker", "reason": "signal"}),
    (E.HEARTBEAT, {"loop_stall_max_ms": 1.0, "candles_received": 1, "feed_healthy": True, "worker_jobs": 0}),
])
def test_backtests_clean_restarts_and_routine_events_make_no_alert(kind: E, record: dict[str, Any]) -> None:
    assert classify(kind, record, 0) is None


def test_a_halt_and_the_resume_after_it_are_two_subjects_not_one_repeated() -> None:
    halted = classify(E.TRADING_STATE_CHANGED, {"scope": "global", "from": "ACTIVE", "to": "HALTED", "reason": "x"}, 0)
    active = classify(E.TRADING_STATE_CHANGED, {"scope": "global", "from": "HALTED", "to": "ACTIVE", "reason": "y"}, 0)
    assert halted is not None and active is not None and halted.subject != active.subject


def test_the_rules_cover_the_events_the_issue_names() -> None:
    assert {E.KILL_SWITCH_ACTIVATED, E.KILL_SWITCH_DEACTIVATED, E.CIRCUIT_BREAKER_TRIPPED, E.CIRCUIT_BREAKER_RESET,
            E.TRADING_STATE_CHANGED, E.RECONCILE_MISMATCH, E.HALTED_OPS, E.LIVE_ARM_FAILED, E.RUN_STARTED,
            E.RUN_FINISHED, E.SESSION_RESUMED, E.ORDER_REJECTED, E.FEED_STALE, E.PARAMS_RELOADED,
            E.PARAMS_REOPTIMIZED} <= set(RULES)


# -- the rules with memory ------------------------------------------------------------------------------
def watch(**kw: Any) -> Watch:
    w = Watch(WatchSettings(TF, **kw))
    w.observe(E.RUN_STARTED, {"mode": "paper"}, 0, 0)
    return w


def sample(w: Watch, equity: str, candle_ts: int, now: int, pnl: str = "0") -> list[Alert]:
    return w.observe(E.EQUITY_SAMPLE, {"candle_ts": candle_ts, "equity": equity, "pnl": pnl, "marks": {}},
                     candle_ts, now)


def test_more_than_ten_reconnects_in_an_hour_alert_once_until_the_hour_forgets_them() -> None:
    w = watch()
    rec = {"exchange": "binance", "attempts": 1, "waited_s": 1.0}
    alerts = [a for i in range(12) for a in w.observe(E.FEED_RECONNECTED, rec, 0, i * MIN)]
    assert [a.kind for a in alerts] == ["feed_reconnects"] and "11 times" in alerts[0].text
    assert [a for a in w.tick(11 * MIN + HOUR_MS) if a.kind == "feed_reconnects"] == []  # forgotten, armed again
    again = [a for i in range(11) for a in w.observe(E.FEED_RECONNECTED, rec, 0, 2 * HOUR_MS + i)]
    assert len(again) == 1 and again[0].severity == WARN


def test_no_candle_for_two_bars_alerts_once_then_again_after_candles_came_back() -> None:
    w = watch()
    assert w.tick(2 * TF) == []
    (alert,) = w.tick(2 * TF + 1)
    assert alert.kind == "no_candle" and alert.severity == CRIT
    assert w.tick(10 * TF) == []
    sample(w, "100", 0, 11 * TF)
    assert w.tick(13 * TF) == []
    assert [a.kind for a in w.tick(13 * TF + 1)] == ["no_candle"]


def test_a_stopped_bot_is_not_reported_as_silent() -> None:
    w = watch()
    w.observe(E.RUN_FINISHED, {"mode": "paper"}, 0, 1)
    assert w.tick(10 * DAY_MS) == []


def test_no_trade_for_72_hours_alerts_once_until_a_fill() -> None:
    w = watch()
    sample(w, "100", 0, 72 * HOUR_MS)  # candles flow: only the trade rule may fire
    assert [a.kind for a in w.tick(72 * HOUR_MS)] == []
    (alert,) = [a for a in w.tick(72 * HOUR_MS + 1) if a.kind == "no_trade"]
    assert alert.severity == WARN and "72 h" in alert.text
    sample(w, "100", 0, 100 * HOUR_MS)
    assert [a for a in w.tick(100 * HOUR_MS) if a.kind == "no_trade"] == []
    w.observe(E.FILL, {}, 0, 100 * HOUR_MS)
    sample(w, "100", 0, 172 * HOUR_MS)
    assert [a.kind for a in w.tick(172 * HOUR_MS + 1)] == ["no_trade"]


def test_the_days_loss_past_the_level_alerts_once_a_day_against_the_equity_the_day_began_with() -> None:
    w = watch(daily_loss_pct=3.0, sharpe_floor=None)
    assert sample(w, "10000", 0, 0) == []          # the first day starts from the starting capital (pnl 0)
    assert sample(w, "9750", HOUR_MS, 1) == []     # -2.5 %
    (alert,) = sample(w, "9690", 2 * HOUR_MS, 2)   # -3.1 %
    assert alert.kind == "daily_loss" and alert.severity == CRIT and "310" in alert.text and "3.10 %" in alert.text
    assert sample(w, "9000", 3 * HOUR_MS, 3) == []  # once a day
    assert sample(w, "8900", DAY_MS, 4) == []       # the next day starts from 9000: -1.1 %
    assert [a.kind for a in sample(w, "8700", DAY_MS + HOUR_MS, 5)] == ["daily_loss"]  # -3.3 %


def test_the_first_day_of_a_resumed_session_starts_from_its_starting_capital() -> None:
    w = watch(daily_loss_pct=3.0, sharpe_floor=None)
    # pnl says the session started with 10000: today's loss counts from there, not from the first sample
    assert [a.kind for a in sample(w, "9600", 0, 0, pnl="-400")] == ["daily_loss"]


def test_the_rolling_sharpe_is_the_backtest_metrics_sharpe_of_the_window() -> None:
    rng = random.Random(7)
    equity = [10_000.0]
    for _ in range(5_000):
        equity.append(equity[-1] * (1 + rng.gauss(0.0002, 0.01)))
    roll = RollingSharpe(200, TF)
    values = [roll.add(e) for e in equity]
    assert values[199] is None and values[200] is not None  # full once 200 returns are in
    returns = [b / a - 1 for a, b in zip(equity[-201:-1], equity[-200:], strict=True)]
    expected = statistics.fmean(returns) / statistics.stdev(returns) * math.sqrt(YEAR_MS / TF)
    assert values[-1] == pytest.approx(expected, rel=1e-9)


def test_parameter_decay_alerts_when_the_live_parameters_sharpe_falls_under_the_floor() -> None:
    settings = {"sharpe_floor": 0.5, "sharpe_window_ms": 20 * TF, "daily_loss_pct": None}
    w = watch(**settings)
    rng = random.Random(3)
    eq, alerts = 10_000.0, []
    for i in range(40):  # rising with noise: a good Sharpe
        eq *= 1 + 0.002 + rng.gauss(0, 0.001)
        alerts += sample(w, f"{eq:.2f}", i * TF, i)
    assert alerts == []
    for i in range(40, 80):  # falling: decay, told once
        eq *= 1 - 0.002 + rng.gauss(0, 0.001)
        alerts += sample(w, f"{eq:.2f}", i * TF, i)
    assert [a.kind for a in alerts] == ["param_decay"] and "under the floor of 0.5" in alerts[0].text
    # new parameters: judged afresh once their own window is full
    w.observe(E.PARAMS_RELOADED, {"file": "p", "params": {}}, 0, 80)
    after = [a for i in range(80, 100) for a in sample(w, f"{eq * (1 - 0.001 * (i - 79)):.2f}", i * TF, i)]
    assert after == []  # 19 returns: the window is not full yet
    assert [a.kind for a in sample(w, f"{eq * 0.97:.2f}", 100 * TF, 100)] == ["param_decay"]


def test_flat_equity_has_no_sharpe_to_judge() -> None:
    w = watch(sharpe_floor=0.5, sharpe_window_ms=5 * TF)
    assert [a for i in range(20) for a in sample(w, "10000", i * TF, i)] == []


# -- collapsing and the digest --------------------------------------------------------------------------
def alert(kind: str = "order_rejected", subject: str = "BTC/USDT", severity: Severity = WARN,
          text: str = "rejected") -> Alert:
    return Alert(kind, subject, severity, text, 0)


def test_a_thousand_repeats_are_one_message_then_one_count() -> None:
    c = Collapser(300_000)
    out = [a for i in range(1000) for a in c.offer(alert(text=f"rejected #{i}"), i)]
    assert [a.text for a in out] == ["rejected #0"]
    assert c.due(299_999) == []
    (summary,) = c.due(300_000)
    assert summary.count == 999 and "rejected #999" in summary.text and "999 more time(s) within 5 min" in summary.text
    assert c.due(10**9) == []


def test_a_window_without_repeats_ends_silently_and_other_subjects_have_their_own() -> None:
    c = Collapser(1000)
    assert len(c.offer(alert(subject="BTC/USDT"), 0)) == 1
    assert len(c.offer(alert(subject="ETH/USDT"), 1)) == 1
    assert c.due(2000) == []
    assert len(c.offer(alert(subject="BTC/USDT"), 2001)) == 1  # a new window


def test_an_alert_after_its_window_ended_brings_the_windows_count_first() -> None:
    c = Collapser(1000)
    c.offer(alert(), 0)
    c.offer(alert(text="second"), 10)
    out = c.offer(alert(text="third"), 1000)
    assert [a.count for a in out] == [1, 1] and "second" in out[0].text and out[1].text == "third"


def test_no_window_sends_every_alert_and_flush_counts_open_windows() -> None:
    assert sum(len(Collapser(0).offer(alert(), i)) for i in range(5)) == 1 * 5
    c = Collapser(1000)
    for i in range(4):
        c.offer(alert(), i)
    (summary,) = c.flush()
    assert summary.count == 3


def test_the_digest_counts_by_kind_and_subject_and_bounds_what_it_keeps() -> None:
    d = Digest(max_keys=2)
    for a in [alert("a", "x", INFO, "A"), alert("a", "x", INFO, "A"), alert("b", "y", INFO, "B"),
              alert("c", "z", INFO, "C")]:
        d.add(a)
    assert len(d) == 4
    assert d.take() == ["A (x2)", "B", "... and 1 more of other kinds"]
    assert len(d) == 0 and d.take() == []


# -- the pipeline ---------------------------------------------------------------------------------------
def pipeline(min_severity: Severity = WARN, collapse_ms: int = 300_000) -> Pipeline:
    return Pipeline(PipelineSettings(WatchSettings(TF, sharpe_floor=None), min_severity, collapse_ms))


def test_severity_decides_what_is_sent_now_and_what_waits_for_the_daily_summary() -> None:
    p = pipeline()
    reloaded = {"file": "p.json", "params": {"fast": 5}}
    assert p.on_event(E.PARAMS_RELOADED, reloaded, 0, 0) == []  # info: held
    (kill,) = p.on_event(E.KILL_SWITCH_ACTIVATED, {"reason": "r", "actor": "a", "set_ts": 0,
                                                   "close_positions": False}, 0, 1)
    assert kill.severity == CRIT
    (summary,) = p.on_event(E.DAILY_SUMMARY, {"candles": 10, "trades": 2, "position": "0", "equity": "10010",
                                              "fees": "1.5"}, DAY_MS, 2)
    assert summary.kind == "daily_summary" and "10 candles, 2 trades" in summary.text and "equity 10010" in summary.text
    assert "held alerts (1)" in summary.text and "p.json" in summary.text
    (again,) = p.on_event(E.DAILY_SUMMARY, {"candles": 0, "trades": 0, "position": "0", "equity": "1", "fees": "0"},
                          2 * DAY_MS, 3)
    assert "no held alerts" in again.text  # the digest emptied


def test_min_severity_info_sends_everything_at_once() -> None:
    p = pipeline(min_severity=INFO)
    assert len(p.on_event(E.PARAMS_RELOADED, {"file": "p", "params": {}}, 0, 0)) == 1


def test_the_stop_message_carries_what_is_still_held() -> None:
    p = pipeline()
    p.on_event(E.PARAMS_RELOADED, {"file": "p.json", "params": {}}, 0, 0)
    (stopped,) = p.on_event(E.RUN_FINISHED, {"trades": 0, "final_equity": None, "run_dir": "r", "mode": "paper",
                                             "reason": "signal SIGTERM", "candles": 1}, 0, 1)
    assert "held until now (1)" in stopped.text and "p.json" in stopped.text


def test_a_burst_of_a_thousand_events_makes_a_handful_of_messages() -> None:
    """1,000 events in one second (rejections on three symbols, reconnects, stale feed, breaker flapping):
    a handful of messages at once, one count per kind and subject when the window ends, no occurrence lost."""
    p = pipeline()
    events: list[tuple[E, dict[str, Any]]] = []
    for i in range(1000):
        k = i % 5
        if k < 3:
            events.append((E.ORDER_REJECTED, {"client_id": f"tw-{i}", "symbol": ["BTC/USDT", "ETH/USDT", "SOL/USDT"][k],
                                              "reason": "-1013"}))
        elif k == 3:
            events.append((E.FEED_RECONNECTED, {"exchange": "binance", "attempts": 1, "waited_s": 0.1}))
        else:
            events.append((E.FEED_STALE, {"exchange": "binance", "silence_s": 30.0, "mode": "ws", "had_data": True}))
    now_sent = [a for n, (kind, rec) in enumerate(events) for a in p.on_event(kind, rec, n, n)]
    # at once: one per symbol's rejection, one stale feed, one "more than 10 reconnects"
    assert len(now_sent) == 5, [a.text for a in now_sent]
    later = p.on_tick(1000 + 300_000)
    assert len(later) == 4  # the counts of the four repeated kinds (the reconnect rule alerted once)
    rejected = [a for a in now_sent + later if a.kind == "order_rejected"]
    assert sum(a.count for a in rejected) == 600
    assert p.on_tick(10**9) == []


def test_render_names_severity_and_bot() -> None:
    text = render(alert(severity=CRIT, text="KILL SWITCH ON by a: b"), "paper BTC/USDT sma @ h")
    assert text.splitlines() == ["\U0001f6a8 CRITICAL \u00b7 paper BTC/USDT sma @ h", "KILL SWITCH ON by a: b"]
