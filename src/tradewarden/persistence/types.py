"""Column types that keep money exact on every database."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from sqlalchemy import String
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class DecimalText(TypeDecorator[Decimal]):
    """A :class:`~decimal.Decimal` stored as its exact text.

    SQLite has no exact decimal type (SQLAlchemy would round-trip through float), so amounts are stored as
    strings on every backend: what is written is exactly what is read back.
    """

    impl = String(64)
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        if not isinstance(value, Decimal):
            raise TypeError(f"expected a Decimal, got {type(value).__name__} {value!r}")
        return str(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        try:
            return Decimal(value)
        except InvalidOperation as exc:
            raise ValueError(f"stored amount {value!r} is not a decimal number") from exc
