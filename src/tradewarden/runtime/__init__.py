"""The runtime's building blocks for trading modes (paper, shadow, live): the hard live gate, locks and the
lease keeper, the exchange's instruments at boot, live account checks, exchange-side protection, the scheduler
for periodic jobs, the session's series in the store, recording and replay of sessions, the scheduled
re-optimization and the emergency stop's direct path to the exchange.

The node (:mod:`tradewarden.node`) wires them into components and runs a session; this package holds no
session of its own.
"""
