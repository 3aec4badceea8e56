"""Back-office: the audit log of merchant actions — who, what, when — paginated, by action."""

from __future__ import annotations

from typing import Any

from flask import render_template, request
from flask_babel import lazy_gettext
from sqlalchemy import Select, and_, or_, select

from admin import blueprint
from admin.access import shop_view
from admin.audit_words import Lookups, Wording
from admin.listing import paginate
from admin.pending import Display
from kingavis.extensions import db
from kingavis.models import AuditLog, Shop, user_shops

PER_PAGE = 50

# Known actions and their label; others are shown as they are stored.
ACTION_LABELS: dict[str, Any] = {
    "login": lazy_gettext("Connexion"),
    "login.failed": lazy_gettext("Échec de connexion"),
    "login.locked": lazy_gettext("Compte bloqué après des échecs de connexion"),
    "logout": lazy_gettext("Déconnexion"),
    "secret.reveal": lazy_gettext("Secret affiché"),
    "secret.rotate": lazy_gettext("Secret renouvelé"),
    "rule.create": lazy_gettext("Règle créée"),
    "rule.update": lazy_gettext("Règle modifiée"),
    "rule.delete": lazy_gettext("Règle supprimée"),
    "rule.activate": lazy_gettext("Règle activée"),
    "rule.apply": lazy_gettext("Règle appliquée aux demandes programmées"),
    "settings.update": lazy_gettext("Réglages modifiés"),
    "shop.pause": lazy_gettext("Envois mis en pause"),
    "shop.resume": lazy_gettext("Envois repris"),
    "review_requests.cancel": lazy_gettext("Demandes annulées"),
    "review_requests.send_now": lazy_gettext("Demandes envoyées maintenant"),
    "review_requests.postpone": lazy_gettext("Demandes reportées"),
    "collection.update": lazy_gettext("Réglages de collecte d'avis modifiés"),
    "balancing.update": lazy_gettext("Partage vers un site d'avis modifié"),
    "callback.secret_reveal": lazy_gettext("Clé de rappel affichée"),
    "callback.secret_rotate": lazy_gettext("Clé de rappel régénérée"),
    "email_design.update": lazy_gettext("Email d'invitation modifié"),
    "email_design.test_send": lazy_gettext("Envoi d'un email d'essai"),

    "customer.erase": lazy_gettext("Données d'un client effacées"),
    "deliverability.suppressed": lazy_gettext("Adresse bloquée après un échec de remise ou une plainte"),
    "deliverability.suppression_removed": lazy_gettext("Adresse bloquée rétablie"),
    "deliverability.auto_pause": lazy_gettext("Envois mis en pause automatiquement (plaintes pour spam)"),
    "customer.export": lazy_gettext("Données d'un client exportées"),
    "platform.secrets_set": lazy_gettext("Secrets de la plateforme modifiés"),
    "platform.data_request_closed": lazy_gettext("Demande de données d'un client traitée"),

    "review.report": lazy_gettext("Avis signalé à la modération"),
    "review.reply": lazy_gettext("Réponse à un avis publiée"),
    "review.reply_update": lazy_gettext("Réponse à un avis modifiée"),
    "moderation.publish": lazy_gettext("Modération : avis publié"),
    "moderation.reject": lazy_gettext("Modération : avis refusé"),
    "moderation.dismiss_report": lazy_gettext("Modération : signalement écarté, avis maintenu"),
}


def audit_query(shop: Shop, action: str | None = None) -> Select[Any]:
    """The shop's entries, plus the account entries (logins…) of the shop's own users."""
    shop_users = select(user_shops.c.user_id).where(user_shops.c.shop_id == shop.id)
    query = select(AuditLog).where(
        or_(
            AuditLog.shop_id == shop.id,
            and_(AuditLog.shop_id.is_(None), AuditLog.user_id.in_(shop_users)),
        )
    )
    if action:
        query = query.where(AuditLog.action == action)
    return query.order_by(AuditLog.created_at.desc(), AuditLog.id.desc())


def known_actions(shop: Shop) -> list[str]:
    rows = db.session.scalars(
        audit_query(shop).with_only_columns(AuditLog.action).distinct().order_by(None)
    ).all()
    return sorted(set(rows) | set(ACTION_LABELS))


@blueprint.route("/shops/<shop_key>/audit")
@shop_view
def audit_log(shop: Shop) -> str:
    action = (request.args.get("action") or "").strip()[:64] or None
    actions = known_actions(shop)
    if action is not None and action not in actions:
        action = None
    pagination = paginate(audit_query(shop, action), PER_PAGE)
    params = {"action": action} if action else {}
    words = Wording(Lookups.for_entries(shop, pagination.items))
    return render_template(
        "admin/audit.html", shop=shop, pagination=pagination, actions=actions, action=action,
        labels=ACTION_LABELS, params=params, show=Display(shop), words=words,
    )
