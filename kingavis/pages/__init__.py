"""Public pages reached from links in emails (unsubscribe, the review questionnaire)."""

from flask import Blueprint

blueprint = Blueprint("pages", __name__)

from kingavis.pages import author, home, public, public_review, questionnaire, sample, views  # noqa: E402,F401
