"""ccxt loaded one exchange at a time (tradewarden/_ccxt_lazy.py), each case in a fresh interpreter: the test
process itself imported ccxt long ago."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
from tests.conftest import REPO


def run_fresh(code: str) -> dict[str, object]:
    """Run ``code`` in a new interpreter on the source tree; it prints one JSON object as its last line."""
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env={"PYTHONPATH": str(REPO / "src"), "PATH": "/usr/bin:/bin"}, timeout=120)
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout.splitlines()[-1])
    return result


EXCHANGE_MODULES = """
def exchange_modules():
    import sys
    parts = ("ccxt.", "ccxt.async_support.", "ccxt.pro.")
    return sorted(m for m in sys.modules if any(m.startswith(p) and "." not in m[len(p):] for p in parts)
                  and m.rsplit(".", 1)[1] not in ("base", "abstract", "async_support", "pro", "static_dependencies"))
"""


def test_an_exchange_loads_its_own_modules_only_and_behaves_as_ccxts_own_class() -> None:
    got = run_fresh(EXCHANGE_MODULES + """
import json
import tradewarden
import ccxt
import ccxt.pro
cls = ccxt.pro.binance
import ccxt.async_support
from ccxt.base.errors import NetworkError
ex = cls({"enableRateLimit": False})
print(json.dumps({
    "modules": exchange_modules(),
    "pro_is_class": isinstance(cls, type),
    "subclass": issubclass(cls, ccxt.async_support.binance),
    "sync_is_class": isinstance(ccxt.binance, type),
    "errors": ccxt.NetworkError is NetworkError and ccxt.pro.RequestTimeout is ccxt.RequestTimeout,
    "exchange_base": ccxt.pro.Exchange.__module__,
    "ws": bool(ex.has.get("watchOHLCV")),
    "unknown": getattr(ccxt.pro, "no_such_exchange", None) is None,
    "modules_after_probe": exchange_modules(),
}))
""")
    assert got["modules"] == ["ccxt.async_support.binance", "ccxt.pro.binance"]
    assert got["pro_is_class"] and got["subclass"] and got["sync_is_class"] and got["errors"] and got["ws"]
    assert got["exchange_base"] == "ccxt.async_support.base.exchange"
    assert got["unknown"]
    assert got["modules_after_probe"] == ["ccxt.async_support.binance", "ccxt.binance", "ccxt.pro.binance"]


def test_a_name_only_the_package_init_defines_loads_the_whole_package() -> None:
    got = run_fresh(EXCHANGE_MODULES + """
import json
import tradewarden
import ccxt
before = len(exchange_modules())
names = ccxt.exchanges
from ccxt.base.decimal_to_precision import TICK_SIZE
print(json.dumps({"before": before, "after": len(exchange_modules()), "has": "kraken" in names,
                  "kraken": isinstance(ccxt.kraken, type), "all": "binance" in ccxt.__all__,
                  "tick": ccxt.TICK_SIZE == TICK_SIZE}))
""")
    assert got["before"] == 0
    assert isinstance(got["after"], int) and got["after"] > 100
    assert got["has"] and got["kraken"] and got["all"] and got["tick"]


def test_a_process_that_imported_ccxt_first_keeps_the_real_packages() -> None:
    got = run_fresh("""
import json
import ccxt
import tradewarden
from tradewarden._ccxt_lazy import LazyPackage
print(json.dumps({"lazy": isinstance(ccxt, LazyPackage), "kraken": isinstance(ccxt.kraken, type)}))
""")
    assert got == {"lazy": False, "kraken": True}


@pytest.mark.parametrize("flavor", ["sync", "async", "pro"])
def test_our_exchange_factory_builds_every_flavor_through_the_lazy_packages(flavor: str) -> None:
    got = run_fresh(f"""
import json
from tradewarden.data.exchange import ExchangeConfigError, ExchangeSettings, make_exchange
ex = make_exchange(ExchangeSettings(id="binance"), "{flavor}")
try:
    make_exchange(ExchangeSettings(id="no_such_exchange"), "{flavor}")
    refused = ""
except ExchangeConfigError as exc:
    refused = str(exc)
print(json.dumps({{"id": ex.id, "refused": refused}}))
""")
    assert got["id"] == "binance"
    assert "unknown exchange id 'no_such_exchange'" in str(got["refused"])
