"""ccxt's packages loaded one exchange at a time: ``import ccxt`` costs 70 MB, ``ccxt.pro`` over 100 MB.

ccxt's ``__init__`` modules (``ccxt``, ``ccxt.async_support``, ``ccxt.pro``) each import every exchange ccxt
implements (over a hundred modules of several hundred kB of code each), although a process of ours talks to one
or two. A market-data instance idled at over 200 MB, most of it exchanges it never used. So, before anything
imports ccxt, :func:`install` puts in place of each of those three packages a module that is the real package
(same ``__path__``, ``__spec__`` and file) with its ``__init__`` not yet run, and resolves names on first use:

* an exchange (``ccxt.pro.binance``) imports its own submodule only, and the attribute becomes the class, as the
  real ``__init__``'s ``from ccxt.pro.binance import binance`` makes it;
* an error class (``ccxt.NetworkError``) and ``Exchange`` come from ``ccxt.base``;
* anything else (``ccxt.exchanges``, ``__all__``, the ``decimal_to_precision`` names) runs the real ``__init__``
  in the module, once, and the process has the whole package as if it had been imported normally.

The exchanges' code reaches ccxt only through these names (``import ccxt.async_support`` then
``ccxt.async_support.binance`` as a base class, ``from ccxt import BaseError``), so it runs unchanged. A process
that imported ccxt before tradewarden keeps the real packages: :func:`install` does nothing then.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import sys
import threading
import types
from importlib.machinery import ModuleSpec

#: the packages whose ``__init__`` imports every exchange
PACKAGES = ("ccxt", "ccxt.async_support", "ccxt.pro")

#: where each package's ``Exchange`` comes from (ccxt.pro's is the async one)
_EXCHANGE_BASE = {"ccxt": "ccxt.base.exchange", "ccxt.async_support": "ccxt.async_support.base.exchange",
                  "ccxt.pro": "ccxt.async_support.base.exchange"}
#: ``name = ...`` and ``from x import name`` at the top level of an ``__init__``
_BOUND = re.compile(r"^(\w+)\s*=", re.MULTILINE)
_IMPORTED = re.compile(r"^from\s+[\w.]+\s+import\s+(\w+)", re.MULTILINE)
_whole_lock = threading.RLock()  # two threads' first use of a rare name must not run an __init__ twice


class LazyPackage(types.ModuleType):
    """A ccxt package whose ``__init__`` runs only when a name it alone defines is asked for."""

    def __init__(self, spec: ModuleSpec) -> None:
        super().__init__(spec.name)
        self.__spec__ = spec
        self.__file__ = spec.origin
        self.__path__ = list(spec.submodule_search_locations or [])
        self.__package__ = spec.name
        self.__dict__["_whole"] = False

    def __setattr__(self, name: str, value: object) -> None:
        # importing ``ccxt.pro.binance`` binds the submodule on its package; the real package binds the class
        if isinstance(value, types.ModuleType) and value.__name__ == f"{self.__name__}.{name}":
            cls = value.__dict__.get(name)
            if isinstance(cls, type):
                value = cls
        super().__setattr__(name, value)

    def __getattr__(self, name: str) -> object:
        # no lock held while importing: an exchange's module, mid-import on another thread, may ask us for its
        # base class, and Python's own import locks already make a module load once
        if name.startswith("__"):
            raise AttributeError(name)
        errors = importlib.import_module("ccxt.base.errors")
        value = errors.__dict__.get(name)
        if isinstance(value, type):
            pass
        elif name == "Exchange":
            value = importlib.import_module(_EXCHANGE_BASE[self.__name__]).__dict__["Exchange"]
        elif name.isidentifier() and importlib.util.find_spec(f"{self.__name__}.{name}") is not None:
            module = importlib.import_module(f"{self.__name__}.{name}")
            value = module.__dict__.get(name, module)
        elif name in self._init_names():
            self._load_whole()
            return self.__dict__[name]
        else:  # e.g. probing for an exchange id ccxt does not have: no reason to load all the others
            raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}")
        setattr(self, name, value)
        return value

    def _init_names(self) -> frozenset[str]:
        """The names the real ``__init__`` binds (read from its source, not run)."""
        names = self.__dict__.get("_names")
        if names is None:
            assert self.__file__ is not None
            with open(self.__file__, encoding="utf-8") as source:
                text = source.read()
            names = frozenset(_BOUND.findall(text)) | frozenset(_IMPORTED.findall(text))
            self.__dict__["_names"] = names
        return names

    def _load_whole(self) -> None:
        """Run the real ``__init__`` in this module: every exchange, as a normal ``import`` would."""
        with _whole_lock:  # re-entrant: the __init__ itself reads names of its package while it runs
            if self.__dict__["_whole"]:
                return
            self.__dict__["_whole"] = True
            spec = self.__spec__
            assert spec is not None and spec.loader is not None
            spec.loader.exec_module(self)


def install() -> None:
    """Put the lazy packages in place, unless ccxt is already imported (or not installed)."""
    if any(name in sys.modules for name in PACKAGES):
        return
    installed: list[str] = []
    for name in PACKAGES:  # each after its parent, so that find_spec reads the parent's __path__
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None or spec.submodule_search_locations is None:
            for done in installed:  # not the ccxt we know: leave the imports to Python
                del sys.modules[done]
            return
        package = LazyPackage(spec)
        sys.modules[name] = package
        installed.append(name)
        parent, _, child = name.rpartition(".")
        if parent:
            setattr(sys.modules[parent], child, package)


def loaded() -> list[str]:
    """The ccxt modules this process has really loaded: the stand-ins whose ``__init__`` has not run are not."""
    return sorted(name for name, module in list(sys.modules.items())
                  if (name == "ccxt" or name.startswith("ccxt."))
                  and not (isinstance(module, LazyPackage) and not module.__dict__["_whole"]))
