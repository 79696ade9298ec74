"""deploy/: the Prometheus alert rules and the Grafana dashboard use only metrics a bot exports, the dashboard
shows every metric of the issue, and promtool (when installed) accepts the rules and their unit tests."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from tradewarden.domain.events import EventType as E
from tradewarden.observability.bus import EventBus
from tradewarden.observability.metrics import BotMetrics

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
RULES, RULE_TESTS = DEPLOY / "prometheus" / "alerts.yml", DEPLOY / "prometheus" / "alerts_test.yml"
DASHBOARD = DEPLOY / "grafana" / "tradewarden.json"
METRIC = re.compile(r"\b(?:tradewarden|process)_[a-z_]+")
REQUIRED = {"tradewarden_equity", "tradewarden_pnl_today", "tradewarden_open_positions",
            "tradewarden_position_notional", "tradewarden_orders_total", "tradewarden_fills_total",
            "tradewarden_risk_denials_total", "tradewarden_kill_switch", "tradewarden_trading_state",
            "tradewarden_breaker_tripped", "tradewarden_ws_reconnects_total", "tradewarden_last_candle_age_seconds",
            "tradewarden_order_latency_seconds_bucket", "tradewarden_loop_stall_seconds",
            "process_resident_memory_bytes"}


def scraped_names() -> set[str]:
    """The sample names of a bot's /metrics after one event of each kind that creates a labelled series."""
    m = BotMetrics(["BTC/USDT"])
    with EventBus() as bus:
        bus.subscribe("metrics", m.handle)
        bus.emit(E.ORDER_DENIED, 0, client_id="c", symbol="BTC/USDT", side="buy", qty=Decimal(1),
                 reason_code="MAX_POSITIONS", message="x")
        bus.emit(E.CIRCUIT_BREAKER_TRIPPED, 0, breaker="drawdown", scope="global", action="HALTED", reason="x",
                 reset="manual", reset_after_ts=None)
    text = generate_latest(m.registry).decode()
    return {s.name for family in text_string_to_metric_families(text) for s in family.samples}


def rule_exprs() -> list[str]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule["expr"] for group in groups for rule in group["rules"]]


def dashboard_exprs() -> list[str]:
    dash = json.loads(DASHBOARD.read_text())
    return [t["expr"] for panel in dash["panels"] for t in panel["targets"]]


def test_the_rules_and_the_dashboard_use_only_metrics_a_bot_exports() -> None:
    exported = scraped_names()
    for source, exprs in (("alerts.yml", rule_exprs()), ("tradewarden.json", dashboard_exprs())):
        used = {name for expr in exprs for name in METRIC.findall(expr)}
        assert used, source
        assert used <= exported, f"{source} uses metrics no bot exports: {sorted(used - exported)}"


def test_the_dashboard_shows_every_metric_of_the_issue_and_the_rules_cover_each_threshold() -> None:
    used = {name for expr in dashboard_exprs() for name in METRIC.findall(expr)}
    assert used >= REQUIRED, sorted(REQUIRED - used)
    alerts = {rule["alert"] for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]}
    assert alerts == {"TradewardenKillSwitchOn", "TradewardenDailyLoss", "TradewardenFeedReconnects",
                      "TradewardenNoCandle", "TradewardenNoTrade", "TradewardenMemoryHigh"}


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (Debian package prometheus) not installed")
def test_promtool_accepts_the_rules_and_their_unit_tests_pass() -> None:
    promtool = shutil.which("promtool")
    assert promtool is not None
    check = subprocess.run([promtool, "check", "rules", str(RULES)], capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stdout + check.stderr
    # the thresholds: each alert fires just past its limit and not just short of it (alerts_test.yml)
    test = subprocess.run([promtool, "test", "rules", RULE_TESTS.name], cwd=RULE_TESTS.parent, capture_output=True,
                          text=True, timeout=120)
    assert test.returncode == 0, test.stdout + test.stderr
