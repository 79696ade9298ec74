"""Backtest settings in one object, convertible to the fill model's and the engine's parameters."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np
import numpy.typing as npt

from tradewarden.domain.instrument import Instrument
from tradewarden.engine.decide import SIZING_MODES, sizing_amount, sizing_mode
from tradewarden.engine.engine import EngineSettings
from tradewarden.venues.fillmodel import P_SLIP, P_TAKER
from tradewarden.venues.params import FillSettings


@dataclass(frozen=True)
class BacktestSettings:
    initial_cash: Decimal = Decimal(10_000)
    fill: FillSettings = field(default_factory=FillSettings)
    sizing: str = "equity_fraction"  # or "fixed" or "quote"
    equity_fraction: float = 0.95
    fixed_qty: Decimal = Decimal(1)
    quote_amount: Decimal = Decimal(10)  # quote per entry with sizing "quote"

    def __post_init__(self) -> None:
        if self.sizing not in SIZING_MODES:
            raise ValueError(f"sizing must be one of {', '.join(SIZING_MODES)}, got {self.sizing!r}")
        if self.sizing == "quote" and self.quote_amount <= 0:
            raise ValueError(f"quote_amount must be positive, got {self.quote_amount}")
        if not 0 < self.equity_fraction <= 1:
            raise ValueError(f"equity_fraction must be in (0, 1], got {self.equity_fraction}")
        if self.initial_cash <= 0:
            raise ValueError(f"initial_cash must be positive, got {self.initial_cash}")

    @classmethod
    def from_config(cls, bt: Any) -> BacktestSettings:
        """From the ``backtest`` section of the app config."""
        return cls(
            initial_cash=Decimal(str(bt.initial_cash)),
            fill=FillSettings(
                fee_taker_bps=Decimal(str(bt.fee_taker_bps)), fee_maker_bps=Decimal(str(bt.fee_maker_bps)),
                slippage_bps=Decimal(str(bt.slippage_bps)), volume_fraction=float(bt.volume_fraction),
                allow_short=bool(bt.allow_short), stop_loss_pct=bt.stop_loss_pct,
                take_profit_pct=bt.take_profit_pct, trailing_stop_pct=bt.trailing_stop_pct,
            ),
            sizing=bt.sizing, equity_fraction=float(bt.equity_fraction), fixed_qty=Decimal(str(bt.fixed_qty)),
            quote_amount=Decimal(str(bt.quote_amount)),
        )

    def fill_params(self) -> npt.NDArray[np.int64]:
        return self.fill.to_params()

    def sizing_array(self, instrument: Instrument) -> npt.NDArray[np.int64]:
        return np.array([sizing_mode(self.sizing),
                         sizing_amount(self.sizing, instrument, self.fixed_qty, self.quote_amount),
                         round(self.equity_fraction * 1_000_000)], dtype=np.int64)

    def engine_settings(self) -> EngineSettings:
        params = self.fill_params()
        return EngineSettings(sizing=self.sizing, equity_fraction=self.equity_fraction, fixed_qty=self.fixed_qty,
                              quote_amount=self.quote_amount,
                              allow_short=self.fill.allow_short, taker_cbps=int(params[P_TAKER]),
                              slippage_cbps=int(params[P_SLIP]))

    def describe(self) -> dict[str, Any]:
        f = self.fill
        return {
            "initial_cash": str(self.initial_cash), "fee_taker_bps": str(f.fee_taker_bps),
            "fee_maker_bps": str(f.fee_maker_bps), "slippage_bps": str(f.slippage_bps),
            "volume_fraction": f.volume_fraction, "allow_short": f.allow_short, "sizing": self.sizing,
            "equity_fraction": self.equity_fraction, "fixed_qty": str(self.fixed_qty),
            **({"quote_amount": str(self.quote_amount)} if self.sizing == "quote" else {}),
            "stop_loss_pct": f.stop_loss_pct, "take_profit_pct": f.take_profit_pct,
            "trailing_stop_pct": f.trailing_stop_pct,
        }
