"""Back-office accounts."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from kingavis.accounts.passwords import hash_password
from kingavis.extensions import db
from kingavis.models import Shop, User

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD_LENGTH = 10


class UserError(ValueError):
    """Invalid account input; the message is meant for the person who gave it."""


def _clean_email(email: str) -> str:
    email = (email or "").strip().lower()
    if not EMAIL_RE.match(email) or len(email) > 320:
        raise UserError(f"not a valid email address: {email!r}")
    return email


def _find(email: str) -> User | None:
    return db.session.execute(select(User).where(func.lower(User.email) == email)).scalar_one_or_none()


def create_operator(email: str, password: str) -> User:
    """Create a King-Avis operator account (moderation, docs/publication.md). Commits.

    An operator manages no shop: the back-office shows them the moderation queue only. An
    address that already has an account (operator or merchant) is refused, so one account is
    never both."""
    email = _clean_email(email)
    existing = _find(email)
    if existing is not None:
        kind = "an operator" if existing.is_operator else "a merchant"
        raise UserError(f"{email} already has an account ({kind})")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
    user = User(email=email, password_hash=hash_password(password), is_operator=True)
    db.session.add(user)
    db.session.commit()
    return user


def create_user(email: str, password: str, shop: Shop) -> tuple[User, bool]:
    """Create an account with access to ``shop``, or give an existing one access. Commits.

    Returns the user and whether it was newly created.
    """
    email = _clean_email(email)
    user = _find(email)
    if user is not None and user.is_operator:
        raise UserError(f"{email} is an operator account: it cannot manage a shop")
    created = user is None
    if user is None:
        if len(password) < MIN_PASSWORD_LENGTH:
            raise UserError(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
        user = User(email=email, password_hash=hash_password(password))
        db.session.add(user)
    elif shop in user.shops:
        raise UserError(f"{email} already has access to shop {shop.key}")
    user.shops.append(shop)
    db.session.commit()
    return user, created
