"""The merchant back-office (its pages come with the back-office issue)."""

from flask import Blueprint

blueprint = Blueprint("admin", __name__, url_prefix="/admin", template_folder="templates")
