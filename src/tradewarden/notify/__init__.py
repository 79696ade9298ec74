"""Telling the operator: Telegram and webhook alerts from the bot's events, and Telegram commands.

This package owns the notifier, a subscriber of the event bus that never runs on the trading path: the rules
that turn events into alerts with a severity (:mod:`~tradewarden.notify.alerts`, pure; the ones with memory in
:mod:`~tradewarden.notify.watch`: reconnects per hour, no candle, no trade, the day's loss, parameter decay),
the collapsing of repeats and the digest held for the daily summary (:mod:`~tradewarden.notify.collapse`,
:mod:`~tradewarden.notify.pipeline`), the channels (Telegram's Bot API and a JSON, Discord or Slack webhook,
every text scrubbed of secrets), delivery with bounded retries and counters, the Telegram commands that read
the read model and write through the database like the API (:mod:`~tradewarden.notify.commands`), and
``notify test``. aiohttp is imported only by the modules that send; docs/NOTIFY.md describes it all.
"""
