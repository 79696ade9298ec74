"""Errors: Binance-shaped API errors (HTTP status, code, message) and simulator configuration errors."""

from __future__ import annotations

from typing import Any


class BinanceError(Exception):
    """An error the simulator answers the way Binance does: ``{"code": <int>, "msg": "<text>"}``."""

    def __init__(self, code: int, msg: str, status: int = 400) -> None:
        super().__init__(f"{code}: {msg}")
        self.code = code
        self.msg = msg
        self.status = status

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "msg": self.msg}


class SimConfigError(ValueError):
    """Bad simulator input (data, symbols, balances, scenario, faults); the message says what and where."""


def mandatory(name: str) -> BinanceError:
    return BinanceError(-1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")


def illegal(name: str) -> BinanceError:
    return BinanceError(
        -1100,
        f"Illegal characters found in parameter '{name}'; "
        "legal range is '^([0-9]{1,20})(\\.[0-9]{1,20})?$'.",
    )


INVALID_SYMBOL = (-1121, "Invalid symbol.")
INSUFFICIENT_BALANCE = "Account has insufficient balance for requested action."

# Default messages for codes a test may ask the simulator to answer with (reject_next_order, http_error).
DEFAULT_MESSAGES: dict[int, str] = {
    -1000: "An unknown error occurred while processing the request.",
    -1003: "Too much request weight used; current limit is 6000 request weight per 1 MINUTE.",
    -1006: "An unexpected response was received from the message bus. Execution status unknown.",
    -1007: "Timeout waiting for response from backend server. Send status unknown; execution status unknown.",
    -1008: "Server is currently overloaded with other requests. Please try again in a few minutes.",
    -1013: "Filter failure: LOT_SIZE",
    -1015: "Too many new orders; current limit is 100 orders per 10 SECOND.",
    -1021: "Timestamp for this request is outside of the recvWindow.",
    -1022: "Signature for this request is not valid.",
    -1121: "Invalid symbol.",
    -2010: INSUFFICIENT_BALANCE,
    -2011: "Unknown order sent.",
    -2013: "Order does not exist.",
    -2014: "API-key format invalid.",
    -2015: "Invalid API-key, IP, or permissions for action.",
}
