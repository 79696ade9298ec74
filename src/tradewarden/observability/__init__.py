"""What the bot tells the outside world about itself, with secrets kept out of it.

This package owns the event journal (``events.jsonl``: one JSON object a line, ``ts`` + ``time`` + ``type`` +
fields, written by every mode), the event bus that fans events out to subscribers (``observability.bus``,
imported on its own: it brings threads and asyncio), logging (JSON lines to a file, readable lines on the
terminal) and the
scrubber that every log line, event and printed traceback passes through: it replaces the values of
secret-named environment variables, registered secrets and anything shaped like an API key or bearer token
with ``***``. Importing it is cheap (orjson and the standard library; rich only when a console is set up).
"""

from tradewarden.observability.journal import EventJournal, iso_utc, read_journal
from tradewarden.observability.logs import JsonLineFormatter, ScrubFilter, install_excepthooks, setup_logging
from tradewarden.observability.scrub import (
    MASK,
    refresh_secrets,
    register_public,
    register_secret,
    scrub,
    scrub_value,
)

__all__ = [
    "MASK",
    "EventJournal",
    "JsonLineFormatter",
    "ScrubFilter",
    "install_excepthooks",
    "iso_utc",
    "read_journal",
    "refresh_secrets",
    "register_public",
    "register_secret",
    "scrub",
    "scrub_value",
    "setup_logging",
]
