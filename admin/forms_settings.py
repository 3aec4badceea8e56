"""Forms of the rules and settings pages. Messages are French msgids; the services
(``kingavis.shops.rules``, ``kingavis.shops.settings``) do the checks that need the shop (known
statuses, trigger vs cancel)."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, SelectField, SelectMultipleField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from kingavis.scheduling import MAX_DELAY_DAYS
from kingavis.shops.settings import MAX_WINDOW_DAYS


class DaysField(StringField):
    """A whole number of days in [low, high], with a French message when it is not."""

    def __init__(self, label: Any, low: int, high: int, message: Any, **kwargs: Any) -> None:
        super().__init__(label, **kwargs)
        self.low, self.high, self.message = low, high, message
        self.number: int | None = None

    def pre_validate(self, form: Any) -> None:
        raw = (self.data or "").strip()
        self.number = None
        if not raw.isdigit() or not self.low <= int(raw) <= self.high:
            raise ValidationError(str(self.message))
        self.number = int(raw)


class CheckboxesField(SelectMultipleField):
    """Several checkboxes; a value that is not offered gets a French message."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()

    def pre_validate(self, form: Any) -> None:
        offered = {str(choice.value) for choice in self.choices or ()}
        unknown = [v for v in self.data or () if v not in offered]
        if unknown:
            raise ValidationError(str(lazy_gettext(
                "Statut inconnu pour cette boutique\u00a0: %(ids)s.", ids=", ".join(unknown))))


def hour_choices() -> list[SelectChoice]:
    return [SelectChoice("", lazy_gettext("Aucune (heure du déclenchement + délai)"))] + [
        SelectChoice(str(h), f"{h:02d}:00") for h in range(24)
    ]


def status_choices(statuses: list[tuple[str, str]]) -> list[SelectChoice]:
    return [SelectChoice(sid, f"{name} ({sid})") for sid, name in statuses]


class RuleForm(FlaskForm):
    name = StringField(lazy_gettext("Nom de la règle"))
    trigger_status_ids = CheckboxesField(lazy_gettext("Statuts déclencheurs"), choices=[])
    delay_days = DaysField(
        lazy_gettext("Délai (jours)"), 0, MAX_DELAY_DAYS,
        lazy_gettext("Le délai doit être un nombre de jours entre 0 et %(max)s.",
                     max=MAX_DELAY_DAYS),
    )
    send_hour = SelectField(lazy_gettext("Heure d'envoi"), choices=hour_choices(),
                            validate_choice=False)
    timezone = StringField(lazy_gettext("Fuseau horaire"))

    def __init__(self, statuses: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.trigger_status_ids.choices = status_choices(statuses)

    def validate_send_hour(self, field: Any) -> None:
        raw = (field.data or "").strip()
        if raw and not (raw.isdigit() and 0 <= int(raw) <= 23):
            raise ValidationError(str(lazy_gettext(
                "L'heure d'envoi doit être entre 0 et 23, ou aucune.")))

    def send_hour_value(self) -> int | None:
        raw = (self.send_hour.data or "").strip()
        if not raw:
            return None
        return int(raw) if raw.isdigit() else -1  # -1: rejected by the service too


class SettingsForm(FlaskForm):
    cancel_status_ids = CheckboxesField(lazy_gettext("Statuts d'annulation"), choices=[])
    require_consent = BooleanField(lazy_gettext("Exiger le consentement explicite du client"))
    customer_window_days = DaysField(
        lazy_gettext("Fenêtre par client (jours)"), 0, MAX_WINDOW_DAYS,
        lazy_gettext("La fenêtre par client doit être un nombre de jours entre 0 et %(max)s.",
                     max=MAX_WINDOW_DAYS),
    )
    paused = BooleanField(lazy_gettext("Mettre les envois en pause"))

    def __init__(self, statuses: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.cancel_status_ids.choices = status_choices(statuses)


class ActionForm(FlaskForm):
    """A button that changes something (activate, delete): CSRF only."""


class ApplyForm(FlaskForm):
    rule_id = HiddenField()
    confirm = HiddenField()
