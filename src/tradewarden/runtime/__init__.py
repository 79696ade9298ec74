"""The runtime: trading modes (paper, shadow, live) on the one engine, the hard live gate, the boot
sequence, locks, signals, the scheduler for periodic jobs, and recording and replay of sessions.

It is the only package that knows which mode it runs in; it wires a market data feed and a venue to the
engine and keeps state crash-safe through the persistence layer.
"""
