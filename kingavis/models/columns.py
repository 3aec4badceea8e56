"""What every table's columns share: UTC datetimes, the customer key default, partial indexes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Index, TypeDecorator, text


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC, hands back aware UTC datetimes on every database."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use an aware (UTC) datetime")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


def hash_default(shop_column: str, email_column: str) -> Any:
    """Column default: the keyed hash of the row's address (kingavis.customer_keys), so every
    insert that gives the address also stores the key lookups use."""

    def default(context: Any) -> str | None:
        from kingavis.customer_keys import customer_key

        params = context.get_current_parameters()
        email = params.get(email_column)
        if email is None:
            return None
        return customer_key(params[shop_column], email)

    return default


def partial_index(name: str, *columns: Any, where: str, unique: bool = False) -> Index:
    """An index of the rows where ``where`` holds, the same condition on SQLite and PostgreSQL
    (both build partial indexes; the migrations create them with the same two options)."""
    return Index(name, *columns, unique=unique, sqlite_where=text(where),
                 postgresql_where=text(where))
