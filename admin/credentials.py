"""Back-office: the shop's webhook URL and secret (revealed on demand), rotation, examples.

The examples send a test event (``"test": true``, docs/webhooks.md): run against the live
service they prove the URL, the secret and the signing work, and store nothing, so they can
never overwrite a real order of the shop.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import get_locale, gettext, lazy_gettext
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import HiddenField, PasswordField
from wtforms.validators import DataRequired, Length

from admin import blueprint
from admin.access import shop_view
from admin.pending import Display
from kingavis.models import Shop, ShopSecret
from kingavis.platforms import service as platforms
from kingavis.platforms.setup import setup_for
from kingavis.shops import credentials as creds
from kingavis.shops.service import ShopError, webhook_url
from kingavis.shops.settings import MAX_SECRET_LENGTH

# Shown in the examples until the secret is revealed; in the reader's language, since it is
# the one word of the examples the merchant has to replace.
SECRET_PLACEHOLDER = lazy_gettext("whsec_VOTRE_SECRET")

EXAMPLE_BODY = {
    "type": "order.status_changed",
    "test": True,
    "timestamp": "__NOW__",
    "data": {
        "order": {
            "id": "1234",
            "reference": "XKBKNABJK",
            "placed_at": "__NOW__",
            "customer": {"email": "client@example.com", "first_name": "Zoé", "locale": "fr",
                         "review_consent": True},
        },
        "status": {"id": "5", "name": "Livré", "paid": True, "shipped": True},
        "changed_at": "__NOW__",
    },
}


class ActionForm(FlaskForm):
    """Reveal / rotate buttons: only the CSRF token, plus the confirmation of a rotation."""

    confirm = HiddenField()


class PlatformSecretForm(FlaskForm):
    """A signing secret the platform shows (Shopify's), added to those already valid."""

    secret = PasswordField(lazy_gettext("Secret de signature de la plateforme"), validators=[
        DataRequired(lazy_gettext("Collez le secret que la plateforme affiche.")),
        Length(max=MAX_SECRET_LENGTH)])


def example_curl(url: str, secret: str) -> str:
    """A shell script that signs and sends one test status change with openssl and curl."""
    body = json.dumps(EXAMPLE_BODY, ensure_ascii=False, separators=(",", ":"))
    body = body.replace('"__NOW__"', "\"'\"$NOW\"'\"")
    return "\n".join([
        f"URL={shlex.quote(url)}",
        f"SECRET={shlex.quote(secret)}",
        "NOW=$(date -u +%Y-%m-%dT%H:%M:%SZ)",
        f"BODY='{body}'",
        'MSG_ID="msg_$(date +%s)_$$"',
        "TS=$(date +%s)",
        "KEY_HEX=$(printf '%s' \"${SECRET#whsec_}\" | openssl base64 -d -A | xxd -p -c 256)",
        "SIG=$(printf '%s.%s.%s' \"$MSG_ID\" \"$TS\" \"$BODY\" \\",
        "  | openssl dgst -sha256 -mac HMAC -macopt \"hexkey:$KEY_HEX\" -binary | openssl base64 -A)",
        'curl -sS -X POST "$URL" \\',
        "  -H 'Content-Type: application/json' \\",
        '  -H "webhook-id: $MSG_ID" -H "webhook-timestamp: $TS" \\',
        '  -H "webhook-signature: v1,$SIG" \\',
        '  --data-binary "$BODY"',
    ])


def example_python(url: str, secret: str) -> str:
    """A Python script that signs one test status change with the standardwebhooks package and
    sends it with urllib."""
    body = json.dumps(EXAMPLE_BODY, ensure_ascii=False, indent=4)
    body = body.replace('"__NOW__"', "now").replace("true", "True").replace("false", "False")
    return "\n".join([
        "import json",
        "import urllib.request",
        "import uuid",
        "from datetime import datetime, timezone",
        "",
        "from standardwebhooks import Webhook  # pip install standardwebhooks",
        "",
        f"URL = {url!r}",
        f"SECRET = {secret!r}",
        "",
        'now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")',
        f"event = {body}",
        'payload = json.dumps(event)',
        'msg_id = f"msg_{uuid.uuid4().hex}"',
        "sent_at = datetime.now(timezone.utc)",
        "signature = Webhook(SECRET).sign(msg_id, sent_at, payload)",
        "request = urllib.request.Request(URL, data=payload.encode(), method=\"POST\", headers={",
        '    "Content-Type": "application/json",',
        '    "webhook-id": msg_id,',
        '    "webhook-timestamp": str(int(sent_at.timestamp())),',
        '    "webhook-signature": signature,',
        "})",
        "with urllib.request.urlopen(request) as response:",
        "    print(response.status, response.read().decode())",
    ])


def _page(shop: Shop, *, revealed: ShopSecret | None = None, new_secret: ShopSecret | None = None,
          confirm_rotation: bool = False, platform_form: PlatformSecretForm | None = None,
          status: int = 200) -> Any:
    shown = new_secret or revealed
    url = webhook_url(shop)
    placeholder = str(SECRET_PLACEHOLDER)
    secret_text = shown.secret if shown else placeholder
    html = render_template(
        "admin/credentials.html",
        shop=shop,
        show=Display(shop),
        url=url,
        form=ActionForm(formdata=None),
        secrets=sorted(shop.secrets, key=lambda s: s.id, reverse=True),
        current=creds.current_secret(shop),
        valid_ids={s.id for s in creds.valid_secrets(shop)},
        revealed=revealed,
        new_secret=new_secret,
        confirm_rotation=confirm_rotation,
        secret_placeholder=placeholder,
        example_curl=example_curl(url, secret_text),
        example_python=example_python(url, secret_text),
        platform_setup=setup_for(shop.platform, str(get_locale() or "fr")),
        platform_secrets=[platforms.masked(s) for s in shop.platform_secrets or []],
        platform_form=platform_form or PlatformSecretForm(formdata=None),
        deliveries=platforms.last_deliveries(shop),
        data_requests=platforms.data_requests(shop),
    )
    # A page holding a secret is never cached, by the browser or anyone in between.
    return html, status, {"Cache-Control": "no-store", "Pragma": "no-cache"}


@blueprint.route("/shops/<shop_key>/credentials")
@shop_view
def credentials(shop: Shop) -> Any:
    return _page(shop)


@blueprint.route("/shops/<shop_key>/credentials/reveal", methods=["POST"])
@shop_view
def credentials_reveal(shop: Shop) -> Any:
    # CSRF is checked app-wide (CSRFProtect) before this runs.
    return _page(shop, revealed=creds.reveal(shop, current_user._get_current_object()))


@blueprint.route("/shops/<shop_key>/credentials/rotate", methods=["POST"])
@shop_view
def credentials_rotate(shop: Shop) -> Any:
    form = ActionForm()
    if not form.validate_on_submit() or form.confirm.data != "yes":
        return _page(shop, confirm_rotation=True)
    new = creds.rotate(shop, current_user._get_current_object())
    flash(gettext("Nouveau secret créé. L'ancien reste valable 24 heures\u00a0: mettez à jour le module "
                  "de votre boutique d'ici là."), "success")
    return _page(shop, new_secret=new)


@blueprint.route("/shops/<shop_key>/credentials/platform-secrets", methods=["POST"])
@shop_view
def platform_secret_add(shop: Shop) -> Any:
    form = PlatformSecretForm()
    if not form.validate_on_submit():
        return _page(shop, platform_form=form, status=422)
    try:
        platforms.add_platform_secret(shop, form.secret.data, current_user._get_current_object())
    except ShopError as exc:
        form.secret.errors = [str(exc)]
        return _page(shop, platform_form=form, status=422)
    flash(gettext("Secret ajouté : les webhooks signés avec lui sont acceptés dès maintenant."),
          "success")
    return redirect(url_for("admin.credentials", shop_key=shop.key))


def _posted_int(name: str) -> int | None:
    value = request.form.get(name, "")
    return int(value) if value.isdigit() and len(value) <= 9 else None


def _row_action(shop: Shop, name: str, act: Callable[[int], bool], done: str) -> Any:
    """A row button of the page: 400 unless the CSRF token checks and the row's number is
    posted as ``name``; ``act`` on that number, 404 when the shop has no such row (False);
    else ``done`` is flashed and the page shown again."""
    number = _posted_int(name)
    if not ActionForm().validate_on_submit() or number is None:
        return _page(shop, status=400)
    if not act(number):
        return _page(shop, status=404)
    flash(done, "success")
    return redirect(url_for("admin.credentials", shop_key=shop.key))


@blueprint.route("/shops/<shop_key>/credentials/platform-secrets/remove", methods=["POST"])
@shop_view
def platform_secret_remove(shop: Shop) -> Any:
    def remove(index: int) -> bool:
        try:
            platforms.remove_platform_secret(shop, index, current_user._get_current_object())
        except ShopError:
            return False
        return True

    return _row_action(shop, "index", remove,
                       gettext("Secret retiré : les webhooks signés avec lui sont désormais refusés."))


@blueprint.route("/shops/<shop_key>/credentials/data-requests/close", methods=["POST"])
@shop_view
def data_request_close(shop: Shop) -> Any:
    def close(request_id: int) -> bool:
        # Only a request of this shop: another shop's id is not found.
        return platforms.close_data_request(shop, request_id, current_user._get_current_object())

    return _row_action(shop, "data_request", close, gettext("Demande marquée comme traitée."))
