"""The merchant back-office: one blueprint, a module per resource (CTFd style).

Every view that touches a shop goes through ``admin.access.shop_view``: login required, and the
shop must be one of the user's, else 404 (we never confirm that another merchant's shop exists).
"""

from flask import Blueprint
from flask_babel import lazy_gettext

blueprint = Blueprint(
    "admin",
    __name__,
    url_prefix="/admin",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)

# Main navigation: (endpoint, label). A link shows only once its page exists.
NAV = [
    ("admin.dashboard", lazy_gettext("Tableau de bord")),
    ("admin.pending", lazy_gettext("Demandes en attente")),
    ("admin.weekly_check", lazy_gettext("Contrôle de la semaine")),
    ("admin.orders", lazy_gettext("Commandes")),
    ("admin.history", lazy_gettext("Historique")),
    ("admin.reviews", lazy_gettext("Avis")),
    ("admin.stats", lazy_gettext("Statistiques")),
    ("admin.settings", lazy_gettext("Règles et réglages")),
    ("admin.collection_settings", lazy_gettext("Collecte d'avis")),
    ("admin.credentials", lazy_gettext("Identifiants")),
    ("admin.audit_log", lazy_gettext("Journal")),
]


@blueprint.app_context_processor
def _nav_context() -> dict[str, object]:
    from flask import current_app, g, request, url_for
    def admin_nav() -> list[dict[str, object]]:
        shop = getattr(g, "shop", None)
        if shop is None:
            return []
        endpoints = current_app.view_functions
        return [
            {"url": url_for(endpoint, shop_key=shop.key), "label": str(label),
             "active": request.endpoint == endpoint}
            for endpoint, label in NAV
            if endpoint in endpoints
        ]

    return {"admin_nav": admin_nav}


from . import (  # noqa: E402,F401
    audit,
    auth,
    collection,
    credentials,
    dashboard,
    history,
    moderation,
    orders,
    pending,
    reviews,
    settings,
    stats,
)
