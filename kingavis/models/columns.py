"""What every table's columns share: UTC datetimes, the customer key default, foreign keys and
their delete rule, partial indexes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, ForeignKey, Index, String, TypeDecorator, UniqueConstraint, text
from sqlalchemy.orm import Mapped, declared_attr, mapped_column


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


def deleted_with(table: str, **options: Any) -> Any:
    """The id of a row of ``table`` this row belongs to: deleting that row deletes this one
    (ON DELETE CASCADE). ``options`` go to the column (index, unique, nullable...)."""
    return mapped_column(ForeignKey(f"{table}.id", ondelete="CASCADE"), **options)


def cleared_with(table: str) -> Any:
    """The id of a row of ``table`` this row only mentions: deleting that row sets it to NULL."""
    return mapped_column(ForeignKey(f"{table}.id", ondelete="SET NULL"), nullable=True)


def at_most_one(name: str, *columns: str, where: str) -> Index:
    """At most one row per value of ``columns`` among the rows where ``where`` holds, enforced
    by the database (a unique partial index)."""
    return partial_index(name, *columns, where=where, unique=True)


class KeyedAddress:
    """A shop's address that must not be emailed, looked up by its keyed hash
    (kingavis.customer_keys), one row per shop and address: an unsubscription, a suppression.
    The address itself is removed when the customer's data is erased, the hash stays
    (docs/personal-data.md). These columns come first in the table (``sort_order``)."""

    id: Mapped[int] = mapped_column(primary_key=True, sort_order=-1)
    shop_id: Mapped[int] = deleted_with("shops", sort_order=-1)
    email_normalized: Mapped[str | None] = mapped_column(String(320), nullable=True, sort_order=-1)
    email_hash: Mapped[str] = mapped_column(
        String(64), default=hash_default("shop_id", "email_normalized"), sort_order=-1
    )

    @declared_attr.directive
    def __table_args__(cls) -> tuple[Any, ...]:
        return (UniqueConstraint("shop_id", "email_hash"),)
