"""The field types event payloads share: exact amounts (a ``Decimal`` or its text) and free-form JSON objects.

Kept apart from the payload modules (``payloads_trading``, ``payloads_risk``, ``payloads_session``,
``payloads_exchange``) so each of them, and :mod:`tradewarden.domain.event_payloads` which gathers them, can
import these without importing one another.
"""

from decimal import Decimal
from typing import Any

# Money and quantities: a Decimal, or its exact text (the batch backtest writes text directly); both are the
# same decimal string in events.jsonl.
Amount = Decimal | str
Json = dict[str, Any]
