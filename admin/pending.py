"""Back-office: pending review requests (filters, actions on one / selected / all matching) and
this week's check.

The work is done by ``kingavis.review_requests.actions`` (the lists: ``.queries``); these views
parse and validate input, ask for confirmation (bulk actions) and report what changed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import flash, redirect, render_template, request, url_for
from flask_babel import format_timedelta as babel_format_timedelta
from flask_babel import get_locale, gettext, lazy_gettext, ngettext
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response
from wtforms import (
    BooleanField,
    HiddenField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
)
from wtforms.fields import IntegerField
from wtforms.validators import NumberRange, Optional, ValidationError

from admin import blueprint
from admin.access import shop_view
from admin.listing import QueryForm, filter_select, paginate, search_field
from kingavis import formatting
from kingavis.extensions import db
from kingavis.models import Reason, Shop, ShopStatus, utcnow
from kingavis.review_requests.actions import (
    MAX_POSTPONE_DAYS,
    MIN_POSTPONE_DAYS,
    RequestAction,
    RequestActionError,
    RequestActionResult,
    apply,
    validate_postpone_days,
)
from kingavis.review_requests.labels import REASON_LABELS, STATE_LABELS
from kingavis.review_requests.queries import (
    DUE_SOON_DAYS,
    STUCK_DAYS,
    PendingFilter,
    count_pending,
    matching_ids,
    pending_query,
    scheduled_among,
)

PER_PAGE = 50

REASON_EXPLANATIONS = {
    Reason.ORDER_CANCELLED.value: lazy_gettext(
        "La commande est passée à un statut d'annulation (annulée, remboursée, erreur de "
        "paiement…)\u00a0: on ne demande pas d'avis sur une commande annulée. Si elle atteint de "
        "nouveau un statut déclencheur, la demande peut être reprogrammée."
    ),
    Reason.ORDER_UNPAID.value: lazy_gettext(
        "Au moment de l'envoi, le dernier statut de la commande indiquait qu'elle n'était pas "
        "payée\u00a0: la demande a été annulée au lieu d'être envoyée."
    ),
    Reason.NO_CONSENT.value: lazy_gettext(
        "Le client a refusé les demandes d'avis, ou la boutique exige un consentement explicite "
        "que le client n'a pas donné."
    ),
    Reason.UNSUBSCRIBED.value: lazy_gettext(
        "Le client a utilisé le lien de désinscription\u00a0: il ne reçoit plus de demandes d'avis "
        "de cette boutique."
    ),
    Reason.RECENT_REQUEST.value: lazy_gettext(
        "Ce client a déjà reçu, ou va recevoir, une demande d'avis de cette boutique dans la "
        "fenêtre par client\u00a0: on ne le sollicite pas deux fois."
    ),
    Reason.MERCHANT_CANCELLED.value: lazy_gettext(
        "Annulée depuis l'espace marchand\u00a0; une demande annulée par le marchand n'est jamais "
        "reprogrammée."
    ),
    Reason.DELIVERY_FAILED.value: lazy_gettext(
        "L'email n'a pas pu être remis au serveur de messagerie après plusieurs tentatives."
    ),
    Reason.ERASED.value: lazy_gettext(
        "Les données personnelles du client ont été effacées (à sa demande ou à la fin de la "
        "durée de conservation) : aucune demande d'avis ne lui est envoyée."
    ),
    Reason.BOUNCED.value: lazy_gettext(
        "La messagerie du client a refusé définitivement un email de cette boutique (adresse "
        "inexistante, boîte fermée…), ou l'a refusé temporairement trois fois en 30 jours\u00a0: "
        "l'adresse ne reçoit plus d'emails. Vous pouvez la rétablir depuis la page « Adresses "
        "bloquées »."
    ),
    Reason.COMPLAINED.value: lazy_gettext(
        "Le client a signalé un email de cette boutique comme indésirable (spam)\u00a0: il est "
        "désinscrit et ne reçoit plus de demandes d'avis."
    ),
}

ACTION_LABELS = {
    RequestAction.CANCEL.value: lazy_gettext("Annuler"),
    RequestAction.SEND_NOW.value: lazy_gettext("Envoyer maintenant"),
    RequestAction.POSTPONE.value: lazy_gettext("Reporter"),
}


def elapsed(delta: timedelta) -> str:
    """How long ago, rounded *down* to whole minutes, hours or days.

    An age answers "how long has this been waiting?": one minute is "1 minute", 59 minutes
    "59 minutes", never "1 heure"; 47 hours are "1 jour". Rounding up (Babel's default) would
    make things look older than they are.
    """
    seconds = max(int(delta.total_seconds()), 0)
    if seconds < 60:
        return gettext("moins d'une minute")
    if seconds < 3600:
        return ngettext("%(num)d minute", "%(num)d minutes", seconds // 60)
    if seconds < 86400:
        return ngettext("%(num)d heure", "%(num)d heures", seconds // 3600)
    return ngettext("%(num)d jour", "%(num)d jours", seconds // 86400)


class Display:
    """Formatting for the templates: times in the shop's time zone, French labels."""

    def __init__(self, shop: Shop, now: datetime | None = None) -> None:
        self.shop = shop
        self.zone = ZoneInfo(shop.timezone)
        self.now = now or utcnow()

    def dt(self, value: datetime | None) -> str:
        if value is None:
            return "—"
        # As every page writes a moment: 7 déc. 2026 07:19, Dec 7, 2026, 7:19 AM (kingavis.formatting).
        return formatting.moment(value, str(get_locale() or "fr"), self.shop.timezone)

    def iso(self, value: datetime | None) -> str:
        return "" if value is None else value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def age(self, value: datetime | None) -> str:
        if value is None:
            return "—"
        return elapsed(self.now - value)

    def until(self, value: datetime | None) -> str:
        if value is None:
            return "—"
        delta = value - self.now
        if delta <= timedelta(0):
            return gettext("dès maintenant")
        return gettext("dans %(delta)s", delta=babel_format_timedelta(delta, threshold=1.5))

    def state(self, value: str | None) -> str:
        return str(STATE_LABELS.get(value or "", value or "—"))

    def reason(self, value: str | None) -> str:
        return "" if not value else str(REASON_LABELS.get(value, value))

    def explain(self, value: str | None) -> str:
        return "" if not value else str(REASON_EXPLANATIONS.get(value, value))

    def email(self, order: Any) -> str:
        """The order's address, or a note that the customer's data was erased."""
        if order.customer_email:
            return str(order.customer_email)
        return gettext("données effacées") if order.erased_at is not None else "—"

    def customer(self, order: Any) -> str:
        name = " ".join(p for p in (order.customer_first_name, order.customer_last_name) if p)
        return name


# --------------------------------------------------------------------------- forms


def status_choices(shop: Shop) -> list[SelectChoice]:
    rows = db.session.execute(
        select(ShopStatus.status_id, ShopStatus.name).where(ShopStatus.shop_id == shop.id)
    ).all()

    def key(row: Any) -> tuple[int, str]:
        return (int(row[0]), "") if row[0].isdigit() else (10**9, row[0])

    return [SelectChoice(r[0], f"{r[1]} ({r[0]})") for r in sorted(rows, key=key)]


class PendingFilterForm(QueryForm):
    """The pending list's filters; read from the query string (GET) or carried through forms."""

    q = search_field(lazy_gettext("Référence ou email"))
    status = SelectField(lazy_gettext("Statut actuel"), choices=[], validators=[Optional()])
    due = filter_select(lazy_gettext("Échéance"), lazy_gettext("Toutes"), [
        SelectChoice("week", lazy_gettext("Cette semaine")),
        SelectChoice("7", lazy_gettext("Dans les 7 jours")),
    ])
    stale_days = IntegerField(
        lazy_gettext("Sans changement de statut depuis plus de (jours)"),
        validators=[Optional(), NumberRange(min=1, max=3650, message=lazy_gettext(
            "Indiquez un nombre de jours entre 1 et 3650."))],
    )
    unpaid = BooleanField(lazy_gettext("Commande non payée"))
    undelivered = BooleanField(lazy_gettext("Commande non livrée"))
    open_status = BooleanField(lazy_gettext("Statut non final"))

    def __init__(self, shop: Shop, formdata: MultiDict[str, str] | None, **kwargs: Any) -> None:
        super().__init__(formdata=formdata, **kwargs)
        self.status.choices = [SelectChoice("", gettext("Tous")), *status_choices(shop)]

    def to_filter(self) -> PendingFilter:
        due = self.due.data or ""
        return PendingFilter(
            due_this_week=due == "week",
            due_within_days=int(due) if due.isdigit() else None,
            unpaid=bool(self.unpaid.data),
            undelivered=bool(self.undelivered.data),
            open_status=bool(self.open_status.data),
            status_id=self.status.data or None,
            stale_days=self.stale_days.data if not self.stale_days.errors else None,
            q=(self.q.data or "").strip() or None,
        )

    def params(self) -> dict[str, str]:
        """The valid, non-empty filter values, for links and hidden fields."""
        out: dict[str, str] = {}
        for name in ("q", "status", "due"):
            field = getattr(self, name)
            if field.data and not field.errors:
                out[name] = str(field.data).strip()
        if self.stale_days.data is not None and not self.stale_days.errors:
            out["stale_days"] = str(self.stale_days.data)
        for name in ("unpaid", "undelivered", "open_status"):
            if getattr(self, name).data:
                out[name] = "1"
        return {k: v for k, v in out.items() if v}


def filter_params(flt: PendingFilter) -> dict[str, str]:
    """Query-string parameters of the pending list that select ``flt``."""
    out: dict[str, str] = {}
    if flt.q:
        out["q"] = flt.q
    if flt.status_id:
        out["status"] = flt.status_id
    if flt.due_this_week:
        out["due"] = "week"
    elif flt.due_within_days is not None:
        out["due"] = str(flt.due_within_days)
    if flt.stale_days is not None:
        out["stale_days"] = str(flt.stale_days)
    for name in ("unpaid", "undelivered", "open_status"):
        if getattr(flt, name):
            out[name] = "1"
    return out


class ActionForm(FlaskForm):
    """One action on one row, on the selected rows, or on every request matching the filter."""

    action = SelectField(
        lazy_gettext("Action"),
        choices=[SelectChoice(k, v) for k, v in ACTION_LABELS.items()],
    )
    days = StringField(lazy_gettext("Nombre de jours"))
    scope = SelectField(
        lazy_gettext("Appliquer à"),
        choices=[
            SelectChoice("one", lazy_gettext("Cette demande")),
            SelectChoice("selected", lazy_gettext("Les demandes sélectionnées")),
            SelectChoice("filter", lazy_gettext("Toutes les demandes correspondant au filtre")),
        ],
    )
    ids = SelectMultipleField(coerce=int, validate_choice=False)
    confirm = HiddenField()

    def validate_days(self, field: Any) -> None:
        if self.action.data != RequestAction.POSTPONE.value:
            return
        try:
            validate_postpone_days(field.data)
        except RequestActionError:
            raise ValidationError(
                gettext("Indiquez un nombre de jours entier entre %(min)d et %(max)d.",
                        min=MIN_POSTPONE_DAYS, max=MAX_POSTPONE_DAYS)
            ) from None

    def validate_ids(self, field: Any) -> None:
        if self.scope.data == "one" and len(field.data or []) != 1:
            raise ValidationError(gettext("Choisissez une demande."))
        if self.scope.data == "selected" and not field.data:
            raise ValidationError(gettext("Sélectionnez au moins une demande."))


# --------------------------------------------------------------------------- views


@blueprint.route("/shops/<shop_key>/pending")
@shop_view
def pending(shop: Shop) -> str:
    now = utcnow()
    filters = PendingFilterForm(shop, formdata=request.args)
    filters.validate()
    pagination = None
    if not filters.errors:
        pagination = paginate(pending_query(shop, filters.to_filter(), now), PER_PAGE)
    return render_template(
        "admin/pending.html",
        shop=shop,
        filters=filters,
        params=filters.params(),
        pagination=pagination,
        action_form=ActionForm(),
        show=Display(shop, now),
        action_labels=ACTION_LABELS,
    )


@blueprint.route("/shops/<shop_key>/pending/actions", methods=["POST"])
@shop_view
def pending_action(shop: Shop) -> Response | str:
    form = ActionForm()
    filters = PendingFilterForm(shop, formdata=request.form)
    filters_ok = filters.validate()
    back = url_for("admin.pending", shop_key=shop.key, **filters.params())
    if not form.validate():
        for field_errors in form.errors.values():
            for message in field_errors:
                flash(str(message), "error")
        return redirect(back)
    action = form.action.data
    scope = form.scope.data
    days = validate_postpone_days(form.days.data) if action == RequestAction.POSTPONE.value else None
    if scope == "filter":
        if not filters_ok:
            flash(gettext("Le filtre n'est pas valide\u00a0: rien n'a été modifié."), "error")
            return redirect(back)
        targets = matching_ids(shop, filters.to_filter())
    else:
        targets = scheduled_among(shop, form.ids.data or [])

    if scope != "one" and form.confirm.data != "yes":
        if not targets:
            flash(gettext("Aucune demande en attente ne correspond\u00a0: rien n'a été modifié."),
                  "error")
            return redirect(back)
        return render_template(
            "admin/confirm_bulk.html",
            shop=shop,
            form=form,
            action=action,
            action_label=ACTION_LABELS[action],
            question=_question(action, len(targets), days),
            count=len(targets),
            scope=scope,
            days=days,
            ids=targets if scope == "selected" else [],
            # The filter always goes along: the merchant comes back to the list they were on.
            params=filters.params(),
            back=back,
        )

    if scope != "filter":
        # Every id asked for: those no longer scheduled are reported as left alone.
        targets = list(form.ids.data or [])
    result = apply(shop, action, targets, days=days, user=current_user._get_current_object())
    if result.changed == 0:
        flash(gettext("Aucune demande n'était encore en attente\u00a0: rien n'a été modifié."), "error")
    else:
        flash(_done_message(result, days), "success")
        if result.skipped:
            flash(
                ngettext(
                    "%(num)d demande n'était plus en attente (déjà prise en charge) et n'a pas "
                    "été modifiée.",
                    "%(num)d demandes n'étaient plus en attente (déjà prises en charge) et n'ont "
                    "pas été modifiées.",
                    result.skipped,
                ),
                "error",
            )
    return redirect(back)


def _question(action: str, count: int, days: int | None) -> str:
    if action == RequestAction.CANCEL.value:
        return ngettext("Annuler %(num)d demande\u00a0?", "Annuler %(num)d demandes\u00a0?", count)
    if action == RequestAction.SEND_NOW.value:
        return ngettext("Envoyer %(num)d demande maintenant\u00a0?",
                        "Envoyer %(num)d demandes maintenant\u00a0?", count)
    return ngettext("Reporter %(num)d demande de %(days)d jours\u00a0?",
                    "Reporter %(num)d demandes de %(days)d jours\u00a0?", count, days=days or 0)


def _done_message(result: RequestActionResult, days: int | None) -> str:
    count = result.changed
    if result.action is RequestAction.CANCEL:
        return ngettext("%(num)d demande annulée.", "%(num)d demandes annulées.", count)
    if result.action is RequestAction.SEND_NOW:
        return ngettext(
            "%(num)d demande sera envoyée dans la minute (l'envoi passe chaque minute).",
            "%(num)d demandes seront envoyées dans la minute (l'envoi passe chaque minute).",
            count,
        )
    return ngettext("%(num)d demande reportée de %(days)d jours.",
                    "%(num)d demandes reportées de %(days)d jours.", count, days=days or 0)


WEEKLY_SAMPLE = 10


@blueprint.route("/shops/<shop_key>/weekly")
@shop_view
def weekly_check(shop: Shop) -> str:
    now = utcnow()
    sections = [
        {
            "key": "unpaid",
            "title": gettext("Commandes non payées avec une demande programmée"),
            "help": gettext("Le dernier statut reçu indique que la commande n'est pas payée\u00a0; "
                            "la demande sera annulée à l'envoi si rien ne change."),
            "filter": PendingFilter(unpaid=True),
        },
        {
            "key": "stuck",
            "title": gettext("Commandes bloquées dans un statut"),
            "help": gettext("Aucun changement de statut depuis plus de %(days)d jours, et le "
                            "statut n'est ni un statut déclencheur ni un statut d'annulation.",
                            days=STUCK_DAYS),
            "filter": PendingFilter(stale_days=STUCK_DAYS, open_status=True),
        },
        {
            "key": "undelivered",
            "title": gettext("Demandes dues sous %(days)d jours, commande non livrée",
                             days=DUE_SOON_DAYS),
            "help": gettext("Le dernier statut n'est ni un statut déclencheur de la règle active "
                            "ni un statut « expédié »."),
            "filter": PendingFilter(due_within_days=DUE_SOON_DAYS, undelivered=True),
        },
    ]
    for section in sections:
        flt = section["filter"]
        section["count"] = count_pending(shop, flt, now)
        section["rows"] = list(
            db.session.execute(pending_query(shop, flt, now).limit(WEEKLY_SAMPLE))
            .unique()
            .scalars()
        )
        section["url"] = url_for("admin.pending", shop_key=shop.key, **filter_params(flt))
    return render_template(
        "admin/weekly.html", shop=shop, sections=sections, show=Display(shop, now)
    )
