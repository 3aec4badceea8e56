"""The parts the back-office's lists share (pending, history, orders, reviews, journal): their
filter forms, read from the query string, and the page of rows a list shows."""

from __future__ import annotations

from typing import Any

from flask_sqlalchemy.pagination import Pagination
from flask_wtf import FlaskForm
from wtforms import SelectChoice, SelectField, StringField
from wtforms.validators import Length, Optional

from admin.access import page_arg
from kingavis.extensions import db
from kingavis.personal_data.customers import MAX_EMAIL


class QueryForm(FlaskForm):
    """A list's filters, read from the query string (or carried along by a form that has its
    own token): choosing rows changes nothing, so they have no CSRF token."""

    class Meta:
        csrf = False


def search_field(label: Any) -> Any:
    """The search box of a list of orders or requests: an order reference or an email (no
    longer than an address can be)."""
    return StringField(label, validators=[Optional(), Length(max=MAX_EMAIL)])


def filter_select(label: Any, everything: Any, choices: list[SelectChoice]) -> Any:
    """A filter's select, optional: its first choice, empty and labelled ``everything``
    ("Tous", "Toutes"), keeps every row; then ``choices``."""
    return SelectField(
        label, choices=[SelectChoice("", everything), *choices], validators=[Optional()]
    )


def paginate(query: Any, per_page: int) -> Pagination:
    """The page of ``query`` the URL asks for (``page_arg``): empty past the last one,
    never an error."""
    return db.paginate(query, page=page_arg(), per_page=per_page, error_out=False)
