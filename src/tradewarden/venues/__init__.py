"""Venues: where orders go, each behind the :class:`~tradewarden.domain.ports.Venue` interface, plus the
reconciliation of our records against an exchange.

* :mod:`~tradewarden.venues.fillmodel` and :mod:`~tradewarden.venues.params`: the one simulated fill model, a
  numba kernel on integers (price in ticks, quantity in steps, money in atoms of one tick times one step), so
  it is exact and fast enough to run a year of one-minute candles in milliseconds; the batch backtest calls
  it over the whole series.
* :mod:`~tradewarden.venues.simulated`: the simulated venue (per-candle backtest path, paper trading), which
  calls the very same kernel one bar at a time.
* :mod:`~tradewarden.venues.shadow`: the shadow venue, which records each order as ``SHADOW_ORDER`` with the
  exact ccxt arguments and never sends it (virtual fills through the same fill model keep the strategy's view
  coherent).
* :mod:`~tradewarden.venues.exchange`: the live venue, real orders through ccxt with deterministic client
  order ids (no duplicate, no lost order), fills from the exchange's trade records.
* :mod:`~tradewarden.venues.exchange_state` and :mod:`~tradewarden.venues.reconcile`: the exchange's view
  (open orders, balances, recent fills) read through ccxt, and the pure comparison with what we recorded.

Only ``exchange`` and ``exchange_state`` need ccxt; the backtest imports neither.
"""
