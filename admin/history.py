"""Back-office: history of sent, cancelled, suppressed and failed review requests."""

from __future__ import annotations

from typing import Any

from flask import render_template, request
from flask_babel import gettext, lazy_gettext
from wtforms import DateField, SelectChoice
from wtforms.validators import Optional, ValidationError

from admin import blueprint
from admin.access import shop_view
from admin.listing import QueryForm, filter_select, paginate, search_field
from admin.pending import Display
from kingavis.models import Reason, Shop
from kingavis.review_requests.labels import REASON_LABELS, STATE_LABELS
from kingavis.review_requests.queries import HISTORY_STATES, HistoryFilter, history_query

PER_PAGE = 50


MIN_YEAR = 1970
MAX_YEAR = 2999


def _plausible_date(field: Any) -> None:
    # Year 1 or 9999 would overflow once converted to UTC in the shop's time zone.
    if field.data and not MIN_YEAR <= field.data.year <= MAX_YEAR:
        raise ValidationError(gettext("Indiquez une date entre %(min)d et %(max)d.",
                                      min=MIN_YEAR, max=MAX_YEAR))


class HistoryFilterForm(QueryForm):
    state = filter_select(lazy_gettext("État"), lazy_gettext("Tous"),
                          [SelectChoice(s, STATE_LABELS[s]) for s in HISTORY_STATES])
    reason = filter_select(lazy_gettext("Raison"), lazy_gettext("Toutes"),
                           [SelectChoice(r.value, REASON_LABELS[r.value]) for r in Reason])
    date_from = DateField(lazy_gettext("Du"), validators=[Optional()])
    date_to = DateField(lazy_gettext("Au"), validators=[Optional()])
    q = search_field(lazy_gettext("Référence ou email"))

    def validate_date_from(self, field: Any) -> None:
        _plausible_date(field)

    def validate_date_to(self, field: Any) -> None:
        _plausible_date(field)
        if field.data and self.date_from.data and field.data < self.date_from.data:
            raise ValidationError(gettext("La date de fin doit être après la date de début."))

    def to_filter(self) -> HistoryFilter:
        return HistoryFilter(
            state=self.state.data or None,
            reason=self.reason.data or None,
            date_from=self.date_from.data,
            date_to=self.date_to.data,
            q=(self.q.data or "").strip() or None,
        )

    def params(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for name in ("state", "reason", "q"):
            value = getattr(self, name).data
            if value and not getattr(self, name).errors:
                out[name] = str(value).strip()
        for name in ("date_from", "date_to"):
            value = getattr(self, name).data
            if value and not getattr(self, name).errors:
                out[name] = value.isoformat()
        return {k: v for k, v in out.items() if v}


@blueprint.route("/shops/<shop_key>/history")
@shop_view
def history(shop: Shop) -> str:
    form = HistoryFilterForm(formdata=request.args)
    pagination = None
    if form.validate():
        pagination = paginate(history_query(shop, form.to_filter()), PER_PAGE)
    return render_template(
        "admin/history.html",
        shop=shop,
        form=form,
        params=form.params(),
        pagination=pagination,
        show=Display(shop),
    )
