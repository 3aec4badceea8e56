"""The English back-office: every French UI string has an English translation, the compiled
catalog is the one committed, placeholders survive translation, and a merchant who chooses
English sees the pages in English (French stays the default)."""

from __future__ import annotations

import html
import re
from collections import Counter
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from html_text import visible_text
from requests_helpers import PASSWORD, merchant, scheduled

from kingavis.extensions import db

ROOT = Path(__file__).resolve().parent.parent
CATALOG_DIR = ROOT / "kingavis" / "translations" / "en" / "LC_MESSAGES"
PO_PATH = CATALOG_DIR / "messages.po"
MO_PATH = CATALOG_DIR / "messages.mo"
# Keep in step with the Makefile's `translations` target.
KEYWORDS = {**DEFAULT_KEYWORDS, "lazy_gettext": None, "lazy_ngettext": (1, 2), "plural": (1, 2)}
IGNORED_DIRS = {"tests", "bench", "docs", "migrations", "instance"}

# A %-format placeholder as Python (and Jinja2's newstyle gettext) reads it, "%%" included.
PLACEHOLDER = re.compile(
    r"%(?:\((?P<name>[^)]*)\))?[#0\- +]*(?:\*|\d+)?(?:\.(?:\*|\d+))?[hlL]?(?P<conv>[diouxXeEfFgGcrsa%])"
)


def extract_current_source() -> Catalog:
    """The messages babel.cfg selects from today's source, as `make translations` extracts them."""
    with open(ROOT / "babel.cfg", encoding="utf-8") as f:
        method_map, options_map = parse_mapping_cfg(f, "babel.cfg")

    def keep_dir(dirpath: str) -> bool:
        rel = Path(dirpath).relative_to(ROOT)
        return not any(part.startswith((".", "_")) for part in rel.parts) and (
            not rel.parts or rel.parts[0] not in IGNORED_DIRS)

    catalog = Catalog(locale="fr")
    for filename, lineno, message, comments, context in extract_from_dir(
        ROOT, method_map, options_map, keywords=KEYWORDS, directory_filter=keep_dir
    ):
        catalog.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return catalog


def committed_po() -> Catalog:
    with open(PO_PATH, "rb") as f:
        return read_po(f, locale="en")


def forms(message: Message) -> tuple[str, ...]:
    value = message.string
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)


def ids(message: Message) -> tuple[str, ...]:
    return tuple(message.id) if isinstance(message.id, (tuple, list)) else (message.id,)


def placeholders(text: str) -> Counter[tuple[str | None, str]]:
    return Counter((m.group("name"), m.group("conv")) for m in PLACEHOLDER.finditer(text))


def stray_percent(text: str) -> bool:
    """A "%" that is not part of a placeholder breaks %-formatting (Jinja2 always formats)."""
    return "%" in PLACEHOLDER.sub("", text)


# --- (a) every string of the current source is translated ---------------------------------------

def test_extraction_finds_the_back_office_strings() -> None:
    """Guards the check below: an extraction that silently finds nothing would pass it."""
    extracted = extract_current_source()
    found = {ids(m)[0] for m in extracted if m.id}
    assert {"Tableau de bord", "Mot de passe", "Règles d'invitation", "%(num)d jour"} <= found
    files = {path for m in extracted if m.id for path, _ in m.locations}
    assert any(f.startswith("admin/templates/") for f in files)
    assert any(f.startswith("admin/") and f.endswith(".py") for f in files)
    assert not any(f.startswith("kingavis/templates/email/") for f in files)


def test_every_extracted_string_has_an_english_translation() -> None:
    po = committed_po()
    problems = []
    for message in extract_current_source():
        if not message.id:
            continue
        where = ", ".join(f"{path}:{line}" for path, line in message.locations[:3])
        entry = po.get(message.id, context=message.context)
        if entry is None:
            problems.append(f"not in the catalog: {message.id!r} ({where})")
        elif "fuzzy" in entry.flags:
            problems.append(f"fuzzy, review it: {message.id!r} ({where})")
        elif message.pluralizable != entry.pluralizable or message.id != entry.id:
            problems.append(f"plural forms differ from the source: {message.id!r} ({where})")
        elif not all(s.strip() for s in forms(entry)):
            problems.append(f"no English: {message.id!r} ({where})")
    assert not problems, (
        "run `make translations`, translate these in kingavis/translations/en/LC_MESSAGES/"
        "messages.po, then run it again to compile:\n  " + "\n  ".join(problems))


def test_navigation_labels_are_translated() -> None:
    """The nav labels reach gettext() through a variable, so extraction cannot vouch for them."""
    from admin import NAV

    po = committed_po()
    missing = [label for _, label in NAV if not (po.get(label) and po.get(label).string)]
    assert not missing


# --- (b) the compiled catalog is the committed .po ----------------------------------------------

def test_the_committed_mo_is_compiled_from_the_po() -> None:
    po = committed_po()
    with open(MO_PATH, "rb") as f:
        mo = read_mo(f)
    expected = {(m.context, ids(m)): forms(m) for m in po
                if m.id and "fuzzy" not in m.flags and all(forms(m))}
    compiled = {(m.context, ids(m)): forms(m) for m in mo if m.id}
    stale = sorted(key[1][0] for key in expected.keys() ^ compiled.keys())
    changed = sorted(key[1][0] for key in expected.keys() & compiled.keys()
                     if expected[key] != compiled[key])
    assert not stale and not changed, (
        f"messages.mo is out of date (run `make translations`): {stale + changed}")
    assert mo.plural_forms == po.plural_forms == "nplurals=2; plural=(n != 1);"


# --- (c) placeholders survive translation -------------------------------------------------------

def test_translations_keep_the_placeholders_of_their_msgid() -> None:
    po = committed_po()
    problems = []
    for message in po:
        if not message.id:
            continue
        sources = ids(message)
        for index, text in enumerate(forms(message)):
            if not text:
                continue
            source = sources[min(index, len(sources) - 1)]
            if placeholders(text) != placeholders(source):
                problems.append(f"{source!r} -> {text!r}")
            if stray_percent(text) and not stray_percent(source):  # "(%)" in a label is fine
                problems.append(f"stray % in {text!r}")
    # babel's own checks: python-format consistency and the number of plural forms
    problems += [f"{m.id!r}: {'; '.join(map(str, errors))}" for m, errors in po.check()]
    assert not problems, "\n".join(problems)


def test_the_placeholder_check_catches_a_broken_translation() -> None:
    assert placeholders("Send %(num)d requests") != placeholders("Envoyer %(n)d demandes")
    assert placeholders("Valid until %(when)s") == placeholders("Valable jusqu'au %(when)s")
    assert stray_percent("Done at 100%.") and not stray_percent("100%% of %(n)d")
    assert placeholders("100% sent") == Counter({(None, "s"): 1})  # "% s" is a conversion


# --- (d) the pages, end to end on both databases ------------------------------------------------

def flashes(response) -> list[str]:
    """Flashed messages (base.html), not the page's own banners."""
    return [html.unescape(m).strip() for m in re.findall(
        r'<div class="flash flash-\w+" role="status">(.*?)</div>', response.get_data(as_text=True),
        re.S)]


def login(client, email: str) -> None:
    response = client.post("/admin/login", data={"email": email, "password": PASSWORD})
    assert response.status_code == 302, response.get_data(as_text=True)


def french_left_in(text: str) -> list[str]:
    """French UI strings (long enough to be unambiguous, translated differently) on a page."""
    leftovers = []
    for message in committed_po():
        if not message.id or message.pluralizable or "%" in message.id or len(message.id) < 15:
            continue
        if message.string and message.string != message.id and message.id in text:
            leftovers.append(message.id)
    return leftovers


@pytest.fixture
def shop_with_requests(app):
    from factories import make_shop

    shop, _ = make_shop("Boutique Zoë")
    scheduled(shop, "1")
    scheduled(shop, "2")
    return shop


def pages(shop) -> dict[str, str]:
    base = f"/admin/shops/{shop.key}"
    return {"dashboard": f"{base}/", "pending": f"{base}/pending", "settings": f"{base}/settings"}


FRENCH = {
    "dashboard": ["Tableau de bord", "demandes en attente d'envoi", "Les 12 dernières semaines",
                  "Se déconnecter"],
    "pending": ["Demandes en attente", "2 demandes programmées correspondent.",
                "Envoyer maintenant"],
    "settings": ["Règles d'invitation", "Fenêtre par client (jours)", "Enregistrer les réglages"],
}
ENGLISH = {
    "dashboard": ["Dashboard", "requests waiting to be sent", "The last 12 weeks", "Log out",
                  "Pending requests"],
    "pending": ["Pending requests", "2 scheduled requests match.", "Send now", "Current status"],
    "settings": ["Invitation rules", "Per-customer window (days)", "Save the settings",
                 "Rules and settings"],
}


def test_pages_are_in_french_by_default(app, shop_with_requests) -> None:
    shop = shop_with_requests
    merchant(shop, "zoe@example.com")
    client = app.test_client()
    login(client, "zoe@example.com")
    for name, url in pages(shop).items():
        response = client.get(url)
        assert response.status_code == 200, name
        text = visible_text(response)
        assert '<html lang="fr">' in response.get_data(as_text=True), name
        assert [s for s in FRENCH[name] if s not in text] == [], name
        assert [s for s in ENGLISH[name] if s in text and s not in FRENCH[name]] == [], name


def test_a_merchant_whose_language_is_english_sees_english_pages(app, shop_with_requests) -> None:
    shop = shop_with_requests
    user = merchant(shop, "john@example.com")
    user.language = "en"
    db.session.commit()
    client = app.test_client()
    login(client, "john@example.com")
    for name, url in pages(shop).items():
        response = client.get(url)
        assert response.status_code == 200, name
        text = visible_text(response)
        assert '<html lang="en">' in response.get_data(as_text=True), name
        assert [s for s in ENGLISH[name] if s not in text] == [], name
        assert french_left_in(text) == [], name


def test_switching_to_english_translates_pages_messages_and_form_errors(
    app, shop_with_requests
) -> None:
    shop = shop_with_requests
    merchant(shop, "zoe@example.com")
    client = app.test_client()
    login(client, "zoe@example.com")
    settings = pages(shop)["settings"]
    assert "Règles d'invitation" in visible_text(client.get(settings))

    switched = client.post("/admin/language", data={"language": "en", "next": settings})
    assert switched.status_code == 302 and switched.location == settings
    assert "Invitation rules" in visible_text(client.get(settings))

    # A validator message given with lazy_gettext and a variable, shown next to its field.
    refused = client.post(settings, data={"customer_window_days": "99999"})
    assert refused.status_code == 422
    assert "The per-customer window must be a number of days between 0 and" in visible_text(refused)
    assert "La fenêtre par client" not in visible_text(refused)

    # Messages flashed from Python code.
    data = {"customer_window_days": str(shop.customer_window_days), "paused": "y",
            "cancel_status_ids": list(shop.cancel_status_ids or [])}
    if shop.require_consent:
        data["require_consent"] = "y"
    saved = client.post(settings, data=data, follow_redirects=True)
    assert flashes(saved) == ["Settings saved.", "Sending paused: due requests wait, nothing is lost."]

    # And back to French: the choice is the user's, kept across requests.
    client.post("/admin/language", data={"language": "fr", "next": settings})
    assert "Règles d'invitation" in visible_text(client.get(settings))
