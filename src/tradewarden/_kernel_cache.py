"""Where numba keeps the compiled kernels: one directory per version of the kernel sources.

numba's own cache notices when a kernel's file changes, but not when a kernel it calls from another file
changes, so a stale compiled loop could survive an upgrade. Keying the cache directory on the sources of
every kernel file makes any change to any kernel start from a clean cache.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

KERNEL_FILES = ("strategies/indicators.py", "venues/fillmodel.py", "engine/decide.py", "backtest/fast.py",
                "backtest/report_csv.py", "data/csv_fast.py", "backtest/portfolio_fast.py")


def configure() -> None:
    if "NUMBA_CACHE_DIR" in os.environ:
        return
    here = Path(__file__).parent
    digest = hashlib.sha1()
    for name in KERNEL_FILES:
        try:
            digest.update((here / name).read_bytes())
        except OSError:
            return
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tradewarden" / "numba"
    os.environ["NUMBA_CACHE_DIR"] = str(base / digest.hexdigest()[:16])
