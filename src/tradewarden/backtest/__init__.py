"""Backtest runner, metrics and reports.

The runner loads candles, runs a strategy through the engine (the compiled batch path when it can, the
per-candle path that live modes use when a feature needs it, such as the risk gate), and writes the run
directory: trades.csv, equity.csv, events.jsonl, summary.json and summary.html.
"""
