"""Turning human settings (basis points, fractions, Decimals) into the fill kernel's integer parameters."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import numpy.typing as npt

from tradewarden.venues.fillmodel import (
    P_ALLOW_SHORT,
    P_MAKER,
    P_SL_CBPS,
    P_SLIP,
    P_TAKER,
    P_TP_CBPS,
    P_TRAIL_CBPS,
    P_VOL_PPM,
    PARAM_FIELDS,
)

I64Array = npt.NDArray[np.int64]


def bps_to_cbps(bps: Decimal | float | str) -> int:
    """Basis points to hundredths of a basis point; finer inputs are an error, not a silent rounding."""
    value = Decimal(str(bps)) * 100
    if value != value.to_integral_value():
        raise ValueError(f"{bps} bps is finer than 0.01 bps")
    return int(value)


def pct_to_cbps(pct: float | None) -> int:
    return 0 if not pct else round(pct * 10_000)  # 1% = 100 bps = 10,000 cbps


@dataclass(frozen=True)
class FillSettings:
    """The fill model's knobs, in the units people use."""

    fee_taker_bps: Decimal = Decimal(10)
    fee_maker_bps: Decimal = Decimal(10)
    slippage_bps: Decimal = Decimal(2)
    volume_fraction: float = 0.1
    allow_short: bool = False
    stop_loss_pct: float | None = None
    take_profit_pct: float | None = None
    trailing_stop_pct: float | None = None

    def to_params(self) -> I64Array:
        if not 0 < self.volume_fraction <= 1:
            raise ValueError(f"volume_fraction must be in (0, 1], got {self.volume_fraction}")
        p = np.zeros(PARAM_FIELDS, dtype=np.int64)
        p[P_TAKER] = bps_to_cbps(self.fee_taker_bps)
        p[P_MAKER] = bps_to_cbps(self.fee_maker_bps)
        p[P_SLIP] = bps_to_cbps(self.slippage_bps)
        p[P_VOL_PPM] = round(self.volume_fraction * 1_000_000)
        p[P_ALLOW_SHORT] = int(self.allow_short)
        p[P_SL_CBPS] = pct_to_cbps(self.stop_loss_pct)
        p[P_TP_CBPS] = pct_to_cbps(self.take_profit_pct)
        p[P_TRAIL_CBPS] = pct_to_cbps(self.trailing_stop_pct)
        return p
