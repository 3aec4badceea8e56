"""The SSRF guard of the review.created callback, with KINGAVIS_CALLBACK_ALLOW_PRIVATE off (the
default, and so the default of the test app). On SQLite and PostgreSQL.

- Saving: a URL whose host is, or resolves to, a non-public address is refused with a message
  naming it (service and back-office form, French and English) and nothing changes.
- Sending: the address actually connected to is checked, so a URL saved earlier (while private
  addresses were allowed, or before its DNS changed) reaches nothing; the callback fails at once
  with the reason and is not retried, by the real ``rq worker`` too. The socket goes to the
  address that was checked (never resolved again) while the Host header, TLS SNI and certificate
  check keep the host name; redirects are not followed.

Nothing here leaves this machine: the only servers are on 127.0.0.1, public addresses are only
saved, never called, and names under ``.test`` are answered by ``FakeDNS``. Where a test needs
a "public" server, 127.0.0.1 stands in for one by replacing ``is_public_address`` where the URL
is checked when saved (``destinations``) and where each attempt checks it (``callbacks``).
"""

from __future__ import annotations

import html
import ipaddress
import re
import socket
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import make_app
from factories import make_shop
from flask import Flask
from requests_helpers import login, merchant
from smtp_server import make_certificates
from test_callbacks import (
    Receiver,
    only_review_created,
    sent_token,
    sent_token_rq,
    the_review,
    work_until_settled,
)

from kingavis.delivery import callbacks
from kingavis.delivery.dispatcher import tick
from kingavis.extensions import db
from kingavis.models import Review, Shop, utcnow
from kingavis.shops import destinations
from kingavis.shops.collection_settings import new_callback_secret, set_callback
from kingavis.shops.destinations import DestinationRefused

PUBLIC = "93.184.215.14"  # saved only, never connected to
NOT_PUBLIC = "n'est pas publique : les notifications ne partent que vers un serveur joignable sur Internet."


class FakeDNS:
    """``socket.getaddrinfo`` for names under .test: each lookup takes the next answer of the
    name (the last one repeats; an empty answer is "no such name"), an unknown .test name does
    not exist. Other hosts (IP literals, localhost, the databases) go to the real resolver."""

    def __init__(self, real: Callable[..., Any]) -> None:
        self.real = real
        self.answers: dict[str, list[list[str]]] = {}
        self.lookups: Counter[str] = Counter()

    def answer(self, name: str, *answers: list[str]) -> None:
        self.answers[name] = list(answers)
        self.lookups[name] = 0

    def __call__(self, host: Any, port: Any, family: int = 0, type: int = 0,  # noqa: A002
                 proto: int = 0, flags: int = 0) -> list[tuple[Any, ...]]:
        name = host.decode() if isinstance(host, bytes) else str(host)
        if not name.endswith(".test"):
            return self.real(host, port, family, type, proto, flags)
        answers = self.answers.get(name) or [[]]
        addresses = answers[min(self.lookups[name], len(answers) - 1)]
        self.lookups[name] += 1
        result = []
        for address in addresses:
            ip = ipaddress.ip_address(address)
            af = socket.AF_INET if ip.version == 4 else socket.AF_INET6
            if family in (0, af):
                sockaddr = (address, int(port)) if ip.version == 4 else (address, int(port), 0, 0)
                result.append((af, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", sockaddr))
        if not result:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return result


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> FakeDNS:
    fake = FakeDNS(socket.getaddrinfo)
    monkeypatch.setattr(socket, "getaddrinfo", fake)
    return fake


@pytest.fixture
def loopback_is_public(monkeypatch: pytest.MonkeyPatch) -> None:
    """127.0.0.1 (and no other loopback address) stands in for a public server: tests may not
    reach a real one."""
    real = destinations.is_public_address
    for module in (destinations, callbacks):
        monkeypatch.setattr(module, "is_public_address",
                            lambda ip: ip == ipaddress.ip_address("127.0.0.1") or real(ip))


@pytest.fixture
def receivers() -> Iterator[list[Receiver]]:
    started: list[Receiver] = []
    yield started
    for r in started:
        r.close()


def receiver(receivers: list[Receiver], shop: Shop, **kwargs: Any) -> Receiver:
    assert shop.callback_secret
    started = Receiver(shop.callback_secret, **kwargs)
    receivers.append(started)
    return started


def saved_while_allowed(app: Flask, shop: Shop, url: str) -> None:
    """Store ``url`` as an operator with KINGAVIS_CALLBACK_ALLOW_PRIVATE on would have."""
    app.config["CALLBACK_ALLOW_PRIVATE"] = True
    try:
        set_callback(shop, url)
    finally:
        app.config["CALLBACK_ALLOW_PRIVATE"] = False


def shop_with_secret() -> Shop:
    shop, _ = make_shop("Boutique Zoë")
    set_callback(shop, f"https://{PUBLIC}/cb")  # a public literal: saved without any network
    return shop


def review_posted(client: Any, shop: Shop) -> Review:
    """A customer leaves a review; without Redis the next tick attempts its callback once
    (the review.published event queued with it is left out: see ``only_review_created``)."""
    token, _ = sent_token(shop)
    response = client.post(f"/r/{token}", data={"rating": "4", "comment": "Très bien, merci !"})
    response.close()
    assert response.status_code == 200
    only_review_created()
    assert tick().messages_claimed == 1
    return the_review()


def callback_outcome(review: Review) -> tuple[str | None, int | None, str | None]:
    return review.callback_state, review.callback_attempts, review.callback_last_error


# ------------------------------------------------------------------ which addresses are public


@pytest.mark.parametrize(("address", "public"), [
    ("93.184.215.14", True),
    ("8.8.8.8", True),
    ("2606:4700:4700::1111", True),
    ("::ffff:93.184.215.14", True),     # IPv4-mapped: judged as the IPv4 it reaches
    ("127.0.0.1", False),
    ("127.8.9.10", False),
    ("10.1.2.3", False),
    ("172.16.0.1", False),
    ("192.168.1.1", False),
    ("169.254.169.254", False),         # cloud metadata
    ("100.64.0.1", False),              # CGNAT
    ("0.0.0.0", False),  # noqa: S104 - an address judged, not bound
    ("255.255.255.255", False),
    ("224.0.0.1", False),               # multicast (is_global alone says True)
    ("240.0.0.1", False),
    ("192.0.2.10", False),              # documentation
    ("198.18.0.1", False),              # benchmarking
    ("::1", False),
    ("::", False),
    ("fe80::1", False),
    ("fc00::1", False),
    ("fd12:3456::1", False),
    ("fec0::1", False),                 # site-local (is_global alone says True)
    ("ff02::1", False),                 # multicast
    ("::ffff:127.0.0.1", False),
    ("::ffff:10.0.0.5", False),
    ("::ffff:169.254.169.254", False),
    ("::7f00:1", False),                # IPv4-compatible 127.0.0.1 (is_global alone says True)
    ("2002:7f00:1::", False),           # 6to4 around 127.0.0.1
    ("2002:a00:5::", False),            # 6to4 around 10.0.0.5
    ("2001:db8::1", False),             # documentation
])
def test_which_addresses_a_callback_may_reach(address: str, public: bool) -> None:
    assert destinations.is_public_address(ipaddress.ip_address(address)) is public


# ------------------------------------------------------------------ saving (service)


REFUSED = [
    ("http://127.0.0.1:8081/kingavis", "destination address 127.0.0.1 is not public"),
    ("https://localhost/cb", re.compile(r"destination address (127\.0\.0\.1|::1) of localhost is not public")),
    ("https://[::1]/cb", "destination address ::1 is not public"),
    ("https://10.1.2.3/cb", "destination address 10.1.2.3 is not public"),
    ("http://169.254.169.254/latest/meta-data/", "destination address 169.254.169.254 is not public"),
    ("https://[::ffff:127.0.0.1]/cb", "destination address ::ffff:127.0.0.1 is not public"),
    ("https://100.64.0.1/cb", "destination address 100.64.0.1 is not public"),
    ("https://[fd00::1]:8443/cb", "destination address fd00::1 is not public"),
    ("https://0.0.0.0/cb", "destination address 0.0.0.0 is not public"),
    # Spellings of 127.0.0.1 that the resolver accepts as numbers.
    ("https://2130706433/cb", "destination address 127.0.0.1 of 2130706433 is not public"),
    ("https://0177.0.0.1/cb", "destination address 127.0.0.1 of 0177.0.0.1 is not public"),
]


@pytest.mark.parametrize(("url", "reason"), REFUSED, ids=[url for url, _ in REFUSED])
def test_saving_a_non_public_destination_is_refused_and_changes_nothing(
        app: Flask, url: str, reason: str | re.Pattern[str]) -> None:
    shop = shop_with_secret()
    before = (shop.callback_url, shop.callback_secret)

    with pytest.raises(DestinationRefused) as refused:
        set_callback(shop, url)

    if isinstance(reason, str):
        assert str(refused.value) == reason
    else:
        assert reason.fullmatch(str(refused.value))
    db.session.rollback()
    stored = db.session.get(Shop, shop.id)
    assert stored is not None and (stored.callback_url, stored.callback_secret) == before


def test_a_first_url_refused_creates_no_secret(app: Flask) -> None:
    shop, _ = make_shop()
    with pytest.raises(DestinationRefused):
        set_callback(shop, "https://10.0.0.5/cb")
    db.session.rollback()
    stored = db.session.get(Shop, shop.id)
    assert stored is not None and (stored.callback_url, stored.callback_secret) == (None, None)


@pytest.mark.parametrize("url", [
    f"https://{PUBLIC}/module/kingavis/callback",
    "https://[2606:4700:4700::1111]/cb",
    f"https://[::ffff:{PUBLIC}]:8443/cb",
])
def test_a_public_address_is_saved(app: Flask, url: str) -> None:
    shop, _ = make_shop()
    secret = set_callback(shop, url)
    assert secret and secret.startswith("whsec_")
    assert db.session.get(Shop, shop.id).callback_url == url  # type: ignore[union-attr]


def test_a_name_is_judged_by_every_address_it_resolves_to(app: Flask, dns: FakeDNS) -> None:
    shop = shop_with_secret()
    dns.answer("shop.test", [PUBLIC, "2606:4700:4700::1111"])
    dns.answer("internal.test", ["10.0.0.5"])
    dns.answer("mixed.test", [PUBLIC, "192.168.1.10"])

    set_callback(shop, "https://shop.test/cb")
    assert shop.callback_url == "https://shop.test/cb"

    for name, address in (("internal.test", "10.0.0.5"), ("mixed.test", "192.168.1.10")):
        with pytest.raises(DestinationRefused, match=re.escape(
                f"destination address {address} of {name} is not public")):
            set_callback(shop, f"https://{name}/cb")
        db.session.rollback()
    assert db.session.get(Shop, shop.id).callback_url == "https://shop.test/cb"  # type: ignore[union-attr]


def test_a_name_that_does_not_resolve_yet_is_saved_and_each_attempt_resolves_it_again(
        app: Flask, client: Any, dns: FakeDNS) -> None:
    shop, _ = make_shop()
    set_callback(shop, "https://not-yet.test/cb")  # no DNS record yet: accepted
    assert shop.callback_url == "https://not-yet.test/cb"

    review = review_posted(client, shop)

    state, attempts, error = callback_outcome(review)
    # A network error like any other: retried, not refused.
    assert (state, attempts) == ("pending", 1)  # the first attempt found no address
    assert "Failed to resolve 'not-yet.test'" in (error or "")
    assert tick(utcnow() + timedelta(seconds=61)).messages_claimed == 1
    state, attempts, error = callback_outcome(the_review())
    assert (state, attempts) == ("pending", 2)
    assert "Failed to resolve 'not-yet.test'" in (error or "")
    assert dns.lookups["not-yet.test"] == 3  # saving, then each attempt


def test_regenerating_the_secret_does_not_check_the_stored_url_again(app: Flask) -> None:
    shop, _ = make_shop()
    saved_while_allowed(app, shop, "http://127.0.0.1:8081/kingavis")
    old = shop.callback_secret

    new = set_callback(shop, shop.callback_url, secret=new_callback_secret())

    assert new != old and shop.callback_secret == new
    assert shop.callback_url == "http://127.0.0.1:8081/kingavis"  # refused on every attempt


# ------------------------------------------------------------------ saving (back-office form)


def form(callback_url: str) -> dict[str, str]:
    return {"review_link_days": "60", "postpone_days": "7", "reminder_days": "7",
            "balancing_platform": "google", "balancing_url": "", "redirect_seconds": "30",
            "split_percent": "0", "callback_url": callback_url}


def field_errors(response: Any) -> list[str]:
    raw = response.get_data(as_text=True)
    return [html.unescape(m).strip() for m in
            re.findall(r'<p class="field-error" id="callback_url-error"[^>]*>(.*?)</p>', raw, re.S)]


@pytest.fixture
def back_office(app: Flask, shop: Shop) -> Any:
    client = app.test_client()
    login(client, merchant(shop))
    return client


def collection(shop: Shop) -> str:
    return f"/admin/shops/{shop.key}/collection"


@pytest.mark.parametrize(("url", "message"), [
    ("http://127.0.0.1:8081/kingavis", f"L'adresse 127.0.0.1 {NOT_PUBLIC}"),
    ("https://169.254.169.254/latest/meta-data/", f"L'adresse 169.254.169.254 {NOT_PUBLIC}"),
    ("https://[::ffff:127.0.0.1]/cb", f"L'adresse ::ffff:127.0.0.1 {NOT_PUBLIC}"),
    ("https://internal.test/cb", "internal.test correspond à l'adresse 10.0.0.5, qui n'est pas "
     "publique : les notifications ne partent que vers un serveur joignable sur Internet."),
    # http:// is only for localhost, which is refused here: the message says https only.
    (f"http://{PUBLIC}/cb", "L'adresse de notification doit commencer par https://."),
])
def test_the_form_shows_why_a_destination_is_refused_and_saves_nothing(
        back_office: Any, shop: Shop, dns: FakeDNS, url: str, message: str) -> None:
    dns.answer("internal.test", ["10.0.0.5"])

    response = back_office.post(collection(shop), data={**form(url), "review_link_days": "90"})

    assert response.status_code == 422
    assert field_errors(response) == [message]
    db.session.expire_all()
    stored = db.session.get(Shop, shop.id)
    assert stored is not None
    assert (stored.callback_url, stored.callback_secret, stored.review_link_days) == (None, None, 60)


def test_a_name_that_changes_between_the_form_check_and_saving_saves_nothing(
        back_office: Any, shop: Shop, dns: FakeDNS) -> None:
    dns.answer("flip.test", [PUBLIC], ["10.0.0.5"])  # the form's lookup, then the service's

    response = back_office.post(collection(shop), data={**form("https://flip.test/cb"),
                                                        "review_link_days": "90"})

    assert response.status_code == 422
    assert field_errors(response) == [
        "flip.test correspond à l'adresse 10.0.0.5, qui n'est pas publique : les notifications "
        "ne partent que vers un serveur joignable sur Internet."]
    db.session.expire_all()
    stored = db.session.get(Shop, shop.id)
    assert stored is not None
    assert (stored.callback_url, stored.callback_secret, stored.review_link_days) == (None, None, 60)


def test_the_form_speaks_english_to_an_english_merchant(back_office: Any, shop: Shop) -> None:
    user = merchant(shop, "merchant@example.com")
    user.language = "en"
    db.session.commit()
    login(back_office, user)

    page = back_office.get(collection(shop)).get_data(as_text=True)
    assert "which must be a public server's, reachable on the Internet" in html.unescape(page)
    response = back_office.post(collection(shop), data=form("https://10.1.2.3/cb"))

    assert response.status_code == 422
    assert field_errors(response) == [
        "The address 10.1.2.3 is not public: notifications are only sent to a server reachable "
        "on the Internet."]


def test_the_form_hint_tells_the_rule_in_force(app: Flask, back_office: Any, shop: Shop) -> None:
    page = html.unescape(back_office.get(collection(shop)).get_data(as_text=True))
    assert "qui doit être celle d'un serveur public, joignable sur Internet" in page
    assert "localhost" not in page.split('id="callback-hint"')[1].split("</p>")[0]

    app.config["CALLBACK_ALLOW_PRIVATE"] = True
    page = html.unescape(back_office.get(collection(shop)).get_data(as_text=True))
    assert "http:// n'est accepté que pour localhost, pour des essais" in page


def test_the_form_saves_a_name_without_address_yet_with_a_warning(
        back_office: Any, shop: Shop, dns: FakeDNS) -> None:
    response = back_office.post(collection(shop), data=form("https://new-shop.test/kingavis"),
                                follow_redirects=True)

    assert response.status_code == 200
    page = html.unescape(response.get_data(as_text=True))
    assert "Réglages de collecte enregistrés." in page
    assert ("Attention : new-shop.test ne correspond encore à aucune adresse. Les notifications "
            "échoueront tant que ce nom ne sera pas déclaré dans le DNS.") in page
    db.session.expire_all()
    assert db.session.get(Shop, shop.id).callback_url == "https://new-shop.test/kingavis"  # type: ignore[union-attr]


def test_other_settings_still_save_beside_a_stored_url_that_is_now_refused(
        app: Flask, back_office: Any, shop: Shop) -> None:
    saved_while_allowed(app, shop, "http://127.0.0.1:8081/kingavis")

    response = back_office.post(collection(shop), data={
        **form("http://127.0.0.1:8081/kingavis"), "review_link_days": "90"})

    assert response.status_code == 302
    db.session.expire_all()
    stored = db.session.get(Shop, shop.id)
    assert stored is not None and stored.review_link_days == 90
    assert stored.callback_url == "http://127.0.0.1:8081/kingavis"


# ------------------------------------------------------------------ sending


def test_a_url_saved_while_allowed_reaches_nothing_once_private_addresses_are_refused(
        app: Flask, client: Any, receivers: list[Receiver]) -> None:
    shop = shop_with_secret()
    server = receiver(receivers, shop)
    saved_while_allowed(app, shop, server.url)  # http://127.0.0.1:<port>/hooks/kingavis

    review = review_posted(client, shop)

    assert server.received == []
    assert callback_outcome(review) == ("failed", 1, "destination address 127.0.0.1 is not public")


def test_a_name_that_rebinds_to_loopback_after_saving_reaches_nothing(
        app: Flask, client: Any, dns: FakeDNS, receivers: list[Receiver]) -> None:
    shop = shop_with_secret()
    server = receiver(receivers, shop)
    dns.answer("rebind.test", [PUBLIC], ["127.0.0.1"])
    set_callback(shop, f"http://rebind.test:{server.port}/hooks/kingavis")  # public when saved

    review = review_posted(client, shop)

    assert server.received == []
    assert callback_outcome(review) == (
        "failed", 1, "destination address 127.0.0.1 of rebind.test is not public")
    assert dns.lookups["rebind.test"] == 2


def test_the_rq_worker_fails_a_refused_destination_at_once_without_retrying(
        database_url: str, tmp_path: Path, redis_url: str, receivers: list[Receiver]) -> None:
    app = make_app(database_url, tmp_path, REDIS_URL=redis_url)
    with app.app_context():
        shop = shop_with_secret()
        server = receiver(receivers, shop)
        saved_while_allowed(app, shop, f"http://localhost:{server.port}/hooks/kingavis")
        token, _ = sent_token_rq(app, shop)
        assert app.test_client().post(f"/r/{token}", data={"rating": "5"}).status_code == 200
        assert the_review().callback_state == "pending"  # queued
        only_review_created()

        # The worker reads KINGAVIS_CALLBACK_ALLOW_PRIVATE from its environment: unset, off.
        work_until_settled(database_url, tmp_path, redis_url, allow_private=False)

        review = the_review()
        assert server.received == []
        state, attempts, error = callback_outcome(review)
        assert (state, attempts) == ("failed", 1)  # five retries were allowed, none was made
        assert re.fullmatch(r"destination address (127\.0\.0\.1|::1) of localhost is not public",
                            error or ""), error
        assert tick(utcnow() + timedelta(days=1)).messages_claimed == 0
        db.session.remove()
        db.engine.dispose()


@pytest.mark.usefixtures("loopback_is_public")
def test_the_connection_goes_to_the_checked_address_and_keeps_the_host_name(
        app: Flask, client: Any, dns: FakeDNS, receivers: list[Receiver]) -> None:
    shop = shop_with_secret()
    server = receiver(receivers, shop)
    set_callback(shop, f"http://shop.test:{server.port}/hooks/kingavis")
    # Checked as 127.0.0.1; a second lookup would give 127.0.0.2, where nothing listens.
    dns.answer("shop.test", ["127.0.0.1"], ["127.0.0.2"])

    review = review_posted(client, shop)

    assert callback_outcome(review) == ("delivered", 1, None)
    (got,) = server.received
    assert got["verified"]
    assert got["headers"]["host"] == f"shop.test:{server.port}"
    assert dns.lookups["shop.test"] == 1


def tls_receiver(receivers: list[Receiver], shop: Shop, tmp_path: Path, names: str,
                 sni: list[str | None]) -> tuple[Receiver, Path]:
    certs = make_certificates(tmp_path / "certs", names=names)
    context = certs.server_context()
    context.sni_callback = lambda sock, name, ctx: sni.append(name)  # type: ignore[assignment]
    return receiver(receivers, shop, context=context), certs.ca_file


@pytest.mark.usefixtures("loopback_is_public")
def test_https_sends_sni_and_verifies_the_certificate_for_the_host_name(
        app: Flask, client: Any, dns: FakeDNS, receivers: list[Receiver], tmp_path: Path) -> None:
    shop = shop_with_secret()
    sni: list[str | None] = []
    server, ca_file = tls_receiver(receivers, shop, tmp_path, "DNS:shop.test", sni)
    app.config["CALLBACK_VERIFY"] = str(ca_file)
    dns.answer("shop.test", ["127.0.0.1"])
    set_callback(shop, f"https://shop.test:{server.port}/hooks/kingavis")

    review = review_posted(client, shop)

    assert callback_outcome(review) == ("delivered", 1, None)
    assert sni == ["shop.test"]
    (got,) = server.received
    assert got["headers"]["host"] == f"shop.test:{server.port}"


@pytest.mark.usefixtures("loopback_is_public")
def test_https_refuses_a_certificate_for_another_name(
        app: Flask, client: Any, dns: FakeDNS, receivers: list[Receiver], tmp_path: Path) -> None:
    shop = shop_with_secret()
    sni: list[str | None] = []
    # Valid for the address connected to, not for the URL's name: must not be accepted.
    server, ca_file = tls_receiver(receivers, shop, tmp_path, "DNS:other.test,IP:127.0.0.1", sni)
    app.config["CALLBACK_VERIFY"] = str(ca_file)
    dns.answer("shop.test", ["127.0.0.1"])
    set_callback(shop, f"https://shop.test:{server.port}/hooks/kingavis")

    review = review_posted(client, shop)

    state, attempts, error = callback_outcome(review)
    assert (state, attempts) == ("pending", 1)  # retried later like any network error
    assert "SSLError" in (error or "") and "CERTIFICATE_VERIFY_FAILED" in (error or ""), error
    assert server.received == []


@pytest.mark.usefixtures("loopback_is_public")
def test_a_redirect_is_not_followed(app: Flask, client: Any, dns: FakeDNS,
                                    receivers: list[Receiver]) -> None:
    shop = shop_with_secret()
    target = receiver(receivers, shop)
    first = receiver(receivers, shop, statuses=[307], location=target.url)
    dns.answer("shop.test", ["127.0.0.1"])
    set_callback(shop, f"http://shop.test:{first.port}/hooks/kingavis")

    review = review_posted(client, shop)

    assert [r["status"] for r in first.received] == [307]
    assert target.received == []
    assert callback_outcome(review) == ("failed", 1, "HTTP 307")

