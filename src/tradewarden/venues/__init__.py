"""Venues: where orders go. The simulated fill model (shared by backtest and paper trading), the
simulated venue around it, and later the shadow log and the ccxt exchange venue, plus reconciliation.

The fill model is a numba kernel on integers (price in ticks, quantity in steps, money in atoms of one
tick times one step), so it is exact and fast enough to run a year of one-minute candles in milliseconds;
the per-candle venue calls the very same kernel one bar at a time.
"""
