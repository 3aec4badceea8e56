"""Back-office accounts."""

from __future__ import annotations

import re

from sqlalchemy import func, select
from werkzeug.security import generate_password_hash

from .extensions import db
from .models import Shop, User

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD_LENGTH = 10


class UserError(ValueError):
    """Invalid account input; the message is meant for the person who gave it."""


def create_user(email: str, password: str, shop: Shop) -> tuple[User, bool]:
    """Create an account with access to ``shop``, or give an existing one access. Commits.

    Returns the user and whether it was newly created.
    """
    email = (email or "").strip().lower()
    if not EMAIL_RE.match(email) or len(email) > 320:
        raise UserError(f"not a valid email address: {email!r}")
    user = db.session.execute(select(User).where(func.lower(User.email) == email)).scalar_one_or_none()
    created = user is None
    if user is None:
        if len(password) < MIN_PASSWORD_LENGTH:
            raise UserError(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
        user = User(email=email, password_hash=generate_password_hash(password))
        db.session.add(user)
    elif shop in user.shops:
        raise UserError(f"{email} already has access to shop {shop.key}")
    user.shops.append(shop)
    db.session.commit()
    return user, created
