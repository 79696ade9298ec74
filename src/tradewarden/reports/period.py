"""``report period``: the success criteria (defaults, or a TOML file), the facts they judge, the verdict."""

from __future__ import annotations

import tomllib
from decimal import Decimal
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tradewarden.errors import BadInput
from tradewarden.reports.build import Performance
from tradewarden.reports.facts import Facts
from tradewarden.risk.criteria import Number, Op, Threshold, Verdict, evaluate


class CriteriaFile(BaseModel):
    """The ``[criteria]`` table of a criteria file; a key set to ``false`` leaves that criterion out."""

    model_config = ConfigDict(extra="forbid")

    uptime_pct_min: Decimal | bool = Field(Decimal(95))
    reconnects_per_day_below: int | bool = 5
    memory_mb_below: Decimal | bool = Decimal(500)
    position_limit_breaches_max: int | bool = 0
    unaudited_trades_max: int | bool = 0
    kill_switch_activations_below: int | bool = 3
    pnl_above: Decimal | bool = Decimal(0)
    sharpe_min: Decimal | bool = Decimal("0.5")
    max_drawdown_pct_below: Decimal | bool = Decimal(30)
    win_rate_pct_min: Decimal | bool = Decimal(40)


class CriteriaError(BadInput, ValueError):
    """A criteria file that cannot be used; the message names the file and the key."""


# key -> (criterion name, op, safety, unit)
_SPEC: dict[str, tuple[str, Op, bool, str]] = {
    "uptime_pct_min": ("uptime", ">=", True, "%"),
    "reconnects_per_day_below": ("reconnects per day (worst day)", "<", True, ""),
    "memory_mb_below": ("peak memory", "<", True, " MB"),
    "position_limit_breaches_max": ("position-limit breaches", "<=", True, ""),
    "unaudited_trades_max": ("fills missing from the audit trail", "<=", True, ""),
    "kill_switch_activations_below": ("kill-switch activations", "<", True, ""),
    "pnl_above": ("PnL", ">", False, ""),
    "sharpe_min": ("Sharpe", ">=", False, ""),
    "max_drawdown_pct_below": ("max drawdown", "<", False, "%"),
    "win_rate_pct_min": ("win rate", ">=", False, "%"),
}


def load_criteria(path: Path | None) -> list[Threshold]:
    """The thresholds of ``path`` (its ``[criteria]`` table), or the defaults."""
    data: dict[str, object] = {}
    if path is not None:
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise CriteriaError(f"criteria file {path}: cannot read it ({exc})") from None
        except tomllib.TOMLDecodeError as exc:
            raise CriteriaError(f"criteria file {path}: not valid TOML ({exc})") from None
        extra = sorted(set(raw) - {"criteria"})
        if extra:
            raise CriteriaError(f"criteria file {path}: unknown table or key {extra[0]!r} (only [criteria])")
        table = raw.get("criteria", {})
        if not isinstance(table, dict):
            raise CriteriaError(f"criteria file {path}: 'criteria' must be a table")
        data = table
    try:
        parsed = CriteriaFile.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(x) for x in err["loc"][:1])
        raise CriteriaError(f"criteria file {path}: criteria.{key}: {err['msg']}") from None
    out: list[Threshold] = []
    for key, (name, op, safety, unit) in _SPEC.items():
        value: Decimal | int | bool = getattr(parsed, key)
        if value is False:
            continue
        if isinstance(value, bool):
            raise CriteriaError(f"criteria file {path}: criteria.{key}: true is not a limit (a number, or false "
                                "to leave it out)")
        out.append(Threshold(name, op, value, safety, unit))
    return out


def measured(facts: Facts, perf: Performance) -> dict[str, Number | None]:
    """The facts by criterion name (None: not recorded)."""
    return {
        "uptime": facts.uptime_pct,
        "reconnects per day (worst day)": max(facts.reconnects_by_day.values(), default=0),
        "peak memory": None if facts.peak_rss_mb is None else Decimal(str(facts.peak_rss_mb)),
        "position-limit breaches": facts.position_breaches,
        "fills missing from the audit trail": len(facts.unaudited_fills),
        "kill-switch activations": facts.kill_switch_activations,
        "PnL": facts.pnl,
        "Sharpe": None if perf.sharpe is None else Decimal(str(perf.sharpe)),
        "max drawdown": None if perf.max_drawdown_pct is None else Decimal(str(perf.max_drawdown_pct)),
        "win rate": facts.win_rate_pct,
    }


def judge_period(thresholds: list[Threshold], facts: Facts, perf: Performance) -> Verdict:
    return evaluate(thresholds, measured(facts, perf))
