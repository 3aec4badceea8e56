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

# Main navigation, in groups a merchant scans at a glance: (group label, [(endpoint, label)]).
# A link shows only once its page exists; a group with no link is left out.
NAV_GROUPS = [
    (lazy_gettext("Suivi"), [
        ("admin.dashboard", lazy_gettext("Tableau de bord")),
        ("admin.pending", lazy_gettext("Demandes en attente")),
        ("admin.weekly_check", lazy_gettext("Contrôle de la semaine")),
        ("admin.orders", lazy_gettext("Commandes")),
        ("admin.history", lazy_gettext("Historique")),
        ("admin.suppressions", lazy_gettext("Adresses bloquées")),
    ]),
    (lazy_gettext("Avis"), [
        ("admin.reviews", lazy_gettext("Avis")),
        ("admin.stats", lazy_gettext("Statistiques")),
    ]),
    (lazy_gettext("Réglages"), [
        ("admin.settings", lazy_gettext("Règles et réglages")),
        ("admin.collection_settings", lazy_gettext("Collecte d'avis")),
        ("admin.email_design_edit", lazy_gettext("Email d'invitation")),
        ("admin.credentials", lazy_gettext("Identifiants")),
        ("admin.customers", lazy_gettext("Données personnelles")),
        ("admin.audit_log", lazy_gettext("Journal")),
    ]),
]
NAV = [item for _group, items in NAV_GROUPS for item in items]

# Pages reached from a navigation entry, marked as that entry (e.g. an order's timeline).
NAV_PARENTS = {
    "admin.order_timeline": "admin.orders",
    "admin.rule_new": "admin.settings",
    "admin.rule_edit": "admin.settings",
    "admin.rule_preview": "admin.settings",
}


@blueprint.app_context_processor
def _nav_context() -> dict[str, object]:
    from flask import current_app, g, request, url_for

    def admin_nav() -> list[dict[str, object]]:
        """The groups of links of the current shop; the current page's link is ``active``."""
        shop = getattr(g, "shop", None)
        if shop is None:
            return []
        endpoints = current_app.view_functions
        current = NAV_PARENTS.get(request.endpoint or "", request.endpoint)
        groups = []
        for group_label, items in NAV_GROUPS:
            links = [
                {"url": url_for(endpoint, shop_key=shop.key), "label": str(label),
                 "active": current == endpoint}
                for endpoint, label in items
                if endpoint in endpoints
            ]
            if links:
                groups.append({"label": str(group_label), "links": links,
                               "active": any(link["active"] for link in links)})
        return groups

    def admin_nav_current() -> str:
        """The label of the current page's navigation entry ("" if none)."""
        for group in admin_nav():
            for link in group["links"]:  # type: ignore[attr-defined]
                if link["active"]:
                    return str(link["label"])
        return ""

    from admin.formatting import JINJA_GLOBALS

    return {"admin_nav": admin_nav, "admin_nav_current": admin_nav_current, **JINJA_GLOBALS}


from admin import (  # noqa: E402,F401
    audit,
    auth,
    collection,
    credentials,
    customers,
    dashboard,
    deliverability,
    email_design,
    history,
    moderation,
    orders,
    pending,
    reviews,
    settings,
    stats,
)
