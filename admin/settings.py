"""Back-office: invitation rules (several named rules, one active) and shop settings (cancel
statuses, consent, per-customer window, pause), and applying the active rule to the requests
already scheduled after a preview.

The work is done by ``kingavis.shops.rules`` (rules), ``kingavis.shops.settings`` (settings) and
``kingavis.review_requests.replanning`` (applying the active rule); these views parse forms,
show errors next to their fields and ask before moving anything.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any
from zoneinfo import available_timezones

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import get_locale, gettext, ngettext
from flask_login import current_user
from werkzeug.wrappers import Response

from admin import blueprint
from admin.access import shop_view
from admin.forms_settings import ActionForm, ApplyForm, RuleForm, SettingsForm
from kingavis import formatting
from kingavis.models import InvitationRule, Shop
from kingavis.review_requests import replanning
from kingavis.shops import rules
from kingavis.shops import settings as shop_settings


@lru_cache(maxsize=1)
def timezone_names() -> list[str]:
    return sorted(z for z in available_timezones() if "/" in z and not z.startswith("Etc/"))


def format_due(shop: Shop, value: datetime | None) -> str:
    if value is None:
        return "—"
    return formatting.moment(value, str(get_locale() or "fr"), shop.timezone)


def _rule_or_404(shop: Shop, rule_id: int) -> InvitationRule:
    rule = rules.get_rule(shop, rule_id)
    if rule is None:
        abort(404)
    return rule


def _posted_rule(shop: Shop, rule_id: int) -> InvitationRule:
    """The shop's rule a row button (activate, delete) posts to: 404 if the shop has no such
    rule, then 400 if the form's CSRF token does not check."""
    rule = _rule_or_404(shop, rule_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    return rule


def _settings_form(shop: Shop, formdata: Any = None) -> SettingsForm:
    statuses = rules.status_options(shop)
    if formdata is not None:
        return SettingsForm(statuses, formdata=formdata)
    return SettingsForm(
        statuses,
        formdata=None,
        data={
            "cancel_status_ids": list(shop.cancel_status_ids or ()),
            "require_consent": bool(shop.require_consent),
            "customer_window_days": str(shop.customer_window_days),
            "paused": bool(shop.paused),
        },
    )


def _rule_form(shop: Shop, rule: InvitationRule | None, formdata: Any = None) -> RuleForm:
    statuses = rules.status_options(shop)
    if formdata is not None:
        return RuleForm(statuses, formdata=formdata)
    if rule is None:
        data = {"name": "", "trigger_status_ids": [], "delay_days": "10", "send_hour": "",
                "timezone": shop.timezone}
    else:
        data = {
            "name": rule.name,
            "trigger_status_ids": list(rule.trigger_status_ids or ()),
            "delay_days": str(rule.delay_days),
            "send_hour": "" if rule.send_hour is None else str(rule.send_hour),
            "timezone": rule.timezone,
        }
    return RuleForm(statuses, formdata=None, data=data)


def _merge_errors(form: Any, errors: dict[str, list[str]]) -> None:
    for name, messages in errors.items():
        target = getattr(form, name, None)
        if target is None:
            for message in messages:
                flash(message, "error")
            continue
        target.errors = list(target.errors or []) + [m for m in messages if m not in target.errors]


def _render_settings(shop: Shop, form: SettingsForm, status: int = 200) -> tuple[str, int]:
    names = dict(rules.status_options(shop))
    return render_template(
        "admin/settings.html",
        shop=shop,
        form=form,
        rules=sorted(shop.rules, key=lambda r: (not r.is_active, r.name.lower(), r.id)),
        status_names=names,
        action_form=ActionForm(),
    ), status


def _flash_errors(exc: rules.RuleError) -> None:
    """A refusal that has no form field to sit next to: each message as an error flash."""
    for messages in exc.errors.values():
        for message in messages:
            flash(message, "error")


@blueprint.route("/shops/<shop_key>/settings", methods=["GET", "POST"])
@shop_view
def settings(shop: Shop) -> Any:
    if request.method == "GET":
        return _render_settings(shop, _settings_form(shop))
    form = _settings_form(shop, request.form)
    ok = form.validate()
    window = form.customer_window_days.number
    data = shop_settings.SettingsData(
        cancel_status_ids=list(form.cancel_status_ids.data or ()),
        require_consent=bool(form.require_consent.data),
        customer_window_days=window if window is not None else -1,
        paused=bool(form.paused.data),
    )
    try:
        shop_settings.validate_settings(shop, data)
    except rules.RuleError as exc:
        _merge_errors(form, {k: v for k, v in exc.errors.items()
                             if not getattr(getattr(form, k, None), "errors", None)})
        ok = False
    if not ok:
        return _render_settings(shop, form, 422)
    try:
        changes = shop_settings.update_settings(shop, current_user, data)
    except rules.RuleError as exc:
        _merge_errors(form, exc.errors)
        return _render_settings(shop, form, 422)
    if not changes:
        flash(gettext("Aucun changement."), "success")
    else:
        flash(gettext("Réglages enregistrés."), "success")
        if "paused" in changes:
            flash(gettext("Envois en pause\u00a0: les demandes arrivées à échéance attendent, rien "
                          "n'est perdu.") if shop.paused else gettext("Envois repris."), "success")
    return redirect(url_for("admin.settings", shop_key=shop.key))


def _render_rule(shop: Shop, form: RuleForm, rule: InvitationRule | None,
                 status: int = 200) -> tuple[str, int]:
    cancel_ids = set(shop.cancel_status_ids or ())
    statuses = rules.known_statuses(shop)
    chosen = [str(i) for i in (form.trigger_status_ids.data or ())]
    return render_template(
        "admin/rule_form.html",
        shop=shop,
        form=form,
        rule=rule,
        timezones=timezone_names(),
        cancel_ids=cancel_ids,
        coverage=rules.trigger_coverage(statuses, chosen, cancel_ids),
        shipped_ids=[st.status_id for st in statuses if st.shipped],
    ), status


def _rule_data(form: RuleForm) -> rules.RuleData:
    return rules.RuleData(
        name=form.name.data or "",
        trigger_status_ids=list(form.trigger_status_ids.data or ()),
        delay_days=form.delay_days.number if form.delay_days.number is not None else -1,
        send_hour=form.send_hour_value(),
        timezone=form.timezone.data or "",
    )


def _validate_rule_form(shop: Shop, form: RuleForm, rule: InvitationRule | None) -> bool:
    """WTForms checks plus the service's, so every field gets its message at once."""
    ok = form.validate()
    try:
        rules.validate_rule(shop, _rule_data(form), active=bool(rule and rule.is_active))
    except rules.RuleError as exc:
        # Only the messages of fields the form did not already reject.
        _merge_errors(form, {k: v for k, v in exc.errors.items()
                             if not getattr(getattr(form, k, None), "errors", None)})
        ok = False
    return ok


@blueprint.route("/shops/<shop_key>/settings/rules/new", methods=["GET", "POST"])
@shop_view
def rule_new(shop: Shop) -> Any:
    if request.method == "GET":
        return _render_rule(shop, _rule_form(shop, None), None)
    form = _rule_form(shop, None, request.form)
    if not _validate_rule_form(shop, form, None):
        return _render_rule(shop, form, None, 422)
    rule = rules.create_rule(shop, current_user, _rule_data(form))
    flash(gettext("Règle « %(name)s » créée. Elle n'est pas active\u00a0: cliquez sur « Activer » "
                  "pour l'utiliser.", name=rule.name), "success")
    return redirect(url_for("admin.settings", shop_key=shop.key))


@blueprint.route("/shops/<shop_key>/settings/rules/<int:rule_id>", methods=["GET", "POST"])
@shop_view
def rule_edit(shop: Shop, rule_id: int) -> Any:
    rule = _rule_or_404(shop, rule_id)
    if request.method == "GET":
        return _render_rule(shop, _rule_form(shop, rule), rule)
    form = _rule_form(shop, rule, request.form)
    if not _validate_rule_form(shop, form, rule):
        return _render_rule(shop, form, rule, 422)
    scheduling_changed = rules.update_rule(shop, current_user, rule, _rule_data(form))
    flash(gettext("Règle « %(name)s » enregistrée.", name=rule.name), "success")
    if scheduling_changed:
        return redirect(url_for("admin.rule_preview", shop_key=shop.key))
    return redirect(url_for("admin.settings", shop_key=shop.key))


@blueprint.route("/shops/<shop_key>/settings/rules/<int:rule_id>/activate", methods=["POST"])
@shop_view
def rule_activate(shop: Shop, rule_id: int) -> Response:
    rule = _posted_rule(shop, rule_id)
    try:
        changed = rules.activate_rule(shop, current_user, rule)
    except rules.RuleError as exc:
        _flash_errors(exc)
        return redirect(url_for("admin.settings", shop_key=shop.key))
    if not changed:
        flash(gettext("Cette règle est déjà active."), "success")
        return redirect(url_for("admin.settings", shop_key=shop.key))
    flash(gettext("Règle « %(name)s » activée\u00a0: les nouvelles commandes suivent cette règle.",
                  name=rule.name), "success")
    return redirect(url_for("admin.rule_preview", shop_key=shop.key))


@blueprint.route("/shops/<shop_key>/settings/rules/<int:rule_id>/delete", methods=["POST"])
@shop_view
def rule_delete(shop: Shop, rule_id: int) -> Response:
    rule = _posted_rule(shop, rule_id)
    name = rule.name
    try:
        rules.delete_rule(shop, current_user, rule)
    except rules.RuleError as exc:
        _flash_errors(exc)
    else:
        flash(gettext("Règle « %(name)s » supprimée.", name=name), "success")
    return redirect(url_for("admin.settings", shop_key=shop.key))


@blueprint.route("/shops/<shop_key>/settings/apply", methods=["GET"])
@shop_view
def rule_preview(shop: Shop) -> Any:
    preview = replanning.preview_apply(shop)
    return render_template(
        "admin/rule_preview.html",
        shop=shop,
        preview=preview,
        moves=preview.moves[: replanning.PREVIEW_LIMIT],
        kept=preview.kept[: replanning.PREVIEW_LIMIT],
        limit=replanning.PREVIEW_LIMIT,
        fmt=lambda value: format_due(shop, value),
        status_names=dict(rules.status_options(shop)),
        form=ApplyForm(formdata=None, data={"rule_id": str(preview.rule.id), "confirm": "yes"}),
    )


@blueprint.route("/shops/<shop_key>/settings/apply", methods=["POST"])
@shop_view
def rule_apply(shop: Shop) -> Response:
    form = ApplyForm()
    if not form.validate_on_submit():
        abort(400)
    if form.confirm.data != "yes":
        flash(gettext("Rien n'a été appliqué\u00a0: confirmez depuis l'aperçu."), "error")
        return redirect(url_for("admin.rule_preview", shop_key=shop.key))
    try:
        rule_id = int(form.rule_id.data or "")
    except ValueError:
        abort(400)
    try:
        moved = replanning.apply_rule(shop, current_user, rule_id)
    except rules.RuleError as exc:
        _flash_errors(exc)
        return redirect(url_for("admin.rule_preview", shop_key=shop.key))
    flash(ngettext("Règle appliquée\u00a0: %(num)d demande programmée a été déplacée.",
                   "Règle appliquée\u00a0: %(num)d demandes programmées ont été déplacées.", moved),
          "success")
    return redirect(url_for("admin.settings", shop_key=shop.key))
