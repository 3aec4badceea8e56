"""``flask mail check-domain``: are the sending domain's DNS records right?
(docs/deliverability.md)

Three checks, each a ``Finding`` with the record to publish when something is wrong:

- SPF of the envelope sender's domain (the bounce domain when set, else the ``MAIL_FROM``
  domain): exactly one ``v=spf1`` record;
- DKIM: the TXT record of the configured selector at the ``MAIL_FROM`` domain publishes the
  public key of the key file (same key type, same key);
- DMARC of the ``MAIL_FROM`` domain (or of its organisational domain), and its relaxed
  alignment: the signature's domain is the ``MAIL_FROM`` domain, and the envelope domain shares
  its organisational domain, unless the record asks for strict SPF alignment.

DNS is asked with dnspython, through the system's resolver or ``--nameserver IP[:PORT]``.
"""

from __future__ import annotations

import base64
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import dns.exception
import dns.resolver
from flask_babel import gettext as _

from kingavis.delivery.dkim import KeyFileError, domain_of, load_key

# Second-level labels under which a country's names are registered (co.uk, com.au, gouv.fr…):
# the organisational domain then has three labels. A short list, not the Public Suffix List:
# it only decides whether two domains are aligned.
_SECOND_LEVEL = frozenset({"co", "com", "net", "org", "gov", "gouv", "ac", "edu", "asso", "nom"})


class DomainCheckError(RuntimeError):
    """The check could not run (bad --nameserver, DNS server not answering)."""


@dataclass(frozen=True)
class Finding:
    check: str  # spf, dkim, dmarc, alignment
    ok: bool
    message: str
    # The record to publish ("name. TXT \"value\""), when something is to be done.
    record: str | None = None


def organisational_domain(domain: str) -> str:
    labels = domain.lower().rstrip(".").split(".")
    if len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2] in _SECOND_LEVEL:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


def _resolver(nameserver: str | None, timeout: float = 5.0) -> dns.resolver.Resolver:
    resolver = dns.resolver.Resolver(configure=nameserver is None)
    if nameserver is not None:
        host, port = nameserver, 53
        if nameserver.count(":") == 1:
            host, _, port_text = nameserver.partition(":")
            if not port_text.isdigit() or not 0 < int(port_text) < 65536:
                raise DomainCheckError(f"--nameserver port must be 1-65535, got {port_text!r}")
            port = int(port_text)
        elif nameserver.startswith("[") and "]:" in nameserver:
            host, _, port_text = nameserver[1:].partition("]:")
            port = int(port_text) if port_text.isdigit() else 0
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise DomainCheckError(f"--nameserver must be an IP address, got {host!r}") from None
        if not 0 < port < 65536:
            raise DomainCheckError("--nameserver port must be 1-65535")
        resolver.nameservers = [host]
        resolver.port = port
    resolver.timeout = resolver.lifetime = timeout
    return resolver


def _txt(resolver: dns.resolver.Resolver, name: str) -> list[str]:
    """The TXT records at ``name`` (each record's strings joined), [] when there is none."""
    try:
        answer = resolver.resolve(name, "TXT")
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return []
    except (dns.resolver.NoNameservers, dns.exception.Timeout) as exc:
        raise DomainCheckError(f"the DNS server did not answer for {name}: {type(exc).__name__}") from None
    return [b"".join(rdata.strings).decode("utf-8", "replace") for rdata in answer]


def _tags(record: str) -> dict[str, str]:
    tags = {}
    for part in record.split(";"):
        name, eq, value = part.partition("=")
        if eq:
            tags[name.strip().lower()] = "".join(value.split())
    return tags


def check_spf(resolver: dns.resolver.Resolver, domain: str) -> Finding:
    records = [r for r in _txt(resolver, domain) if r.lower().split(" ", 1)[0] == "v=spf1"]
    suggested = f'{domain}. TXT "v=spf1 mx -all"'
    if not records:
        return Finding("spf", False, _("SPF : aucun enregistrement v=spf1 pour %(domain)s ; publiez-en un qui nomme les "
                         "serveurs qui envoient pour lui (ajoutez ip4:/include: pour votre relais)",
                         domain=domain), suggested)
    if len(records) > 1:
        return Finding("spf", False, _("SPF : %(count)s enregistrements v=spf1 pour %(domain)s ; les destinataires y "
                         "voient une erreur : fusionnez-les en un seul",
                         count=len(records), domain=domain), suggested)
    if records[0].split()[-1].lower() in ("+all", "all"):
        return Finding("spf", False, _("SPF : celui de %(domain)s finit par +all : n'importe qui peut envoyer en son nom",
                         domain=domain),
                       suggested)
    return Finding("spf", True, _("SPF : %(domain)s a un seul enregistrement : %(record)s",
                                        domain=domain, record=records[0]))


def check_dkim(resolver: dns.resolver.Resolver, config: Mapping[str, Any], domain: str) -> Finding:
    selector, key_file = config.get("KINGAVIS_DKIM_SELECTOR"), config.get("KINGAVIS_DKIM_KEY_FILE")
    if not (selector and key_file):
        return Finding("dkim", True, _("DKIM : King-Avis ne signe pas (KINGAVIS_DKIM_SELECTOR et "
                         "KINGAVIS_DKIM_KEY_FILE absents) : votre relais doit signer pour "
                         "%(domain)s", domain=domain))
    try:
        key = load_key(str(key_file))
    except KeyFileError as exc:
        return Finding("dkim", False, f"DKIM: {exc}")
    name = f"{selector}._domainkey.{domain}"
    publish = f'{name}. TXT "{key.record()}"'
    records = [r for r in _txt(resolver, name) if "p=" in r]
    if not records:
        return Finding("dkim", False, _("DKIM : aucune clé publiée en %(name)s", name=name), publish)
    tags = _tags(records[0])
    try:
        published = base64.b64decode(tags.get("p", ""), validate=True)
    except ValueError:
        published = b""
    if tags.get("k", "rsa").lower() != key.key_type or published != key.public:
        return Finding("dkim", False, _("DKIM : la clé publiée en %(name)s ne correspond pas au fichier de "
                         "clé", name=name), publish)
    return Finding("dkim", True, _("DKIM : %(name)s publie la clé %(type)s du fichier de clé",
                                         name=name, type=key.key_type))


def check_dmarc(resolver: dns.resolver.Resolver, config: Mapping[str, Any], from_domain: str,
                envelope_domain: str) -> list[Finding]:
    organisation = organisational_domain(from_domain)
    record, where = None, None
    for candidate in dict.fromkeys((from_domain, organisation)):
        found = [r for r in _txt(resolver, f"_dmarc.{candidate}")
                 if r.replace(" ", "").lower().startswith("v=dmarc1")]
        if found:
            record, where = found[0], candidate
            break
    findings = []
    if record is None:
        findings.append(Finding(
            "dmarc", False, _("DMARC : aucun enregistrement en _dmarc.%(domain)s", domain=from_domain),
            f'_dmarc.{from_domain}. TXT "v=DMARC1; p=none; rua=mailto:postmaster@{from_domain}"'))
        tags: dict[str, str] = {}
    else:
        findings.append(Finding("dmarc", True, _("DMARC : _dmarc.%(domain)s : %(record)s",
                                                  domain=where, record=record)))
        tags = _tags(record)
    signs = bool(config.get("KINGAVIS_DKIM_SELECTOR") and config.get("KINGAVIS_DKIM_KEY_FILE"))
    strict_spf = tags.get("aspf", "r").lower() == "s"
    spf_aligned = (envelope_domain == from_domain if strict_spf
                   else organisational_domain(envelope_domain) == organisation)
    if spf_aligned or signs:
        how = "DKIM (d=" + from_domain + ")" if signs else "SPF (" + envelope_domain + ")"
        findings.append(Finding("alignment", True, _("Alignement : %(how)s est aligné sur %(domain)s",
                                                       how=how, domain=from_domain)))
    else:
        findings.append(Finding(
            "alignment", False, _("Alignement : le domaine d'enveloppe %(envelope)s n'est pas aligné sur "
                                "%(domain)s et King-Avis ne signe pas : utilisez un domaine de "
                                "retour sous %(organisation)s, ou configurez DKIM",
                                envelope=envelope_domain, domain=from_domain,
                                organisation=organisation)))
    return findings


def check_domain(config: Mapping[str, Any], *, nameserver: str | None = None) -> list[Finding]:
    """Every finding about the sending domain of ``config`` (the app's configuration)."""
    resolver = _resolver(nameserver)
    from_domain = domain_of(str(config.get("MAIL_FROM") or ""))
    if not from_domain:
        raise DomainCheckError("MAIL_FROM has no domain")
    envelope_domain = str(config.get("KINGAVIS_BOUNCE_DOMAIN") or from_domain)
    return [check_spf(resolver, envelope_domain), check_dkim(resolver, config, from_domain),
            *check_dmarc(resolver, config, from_domain, envelope_domain)]


def report_lines(findings: list[Finding]) -> list[str]:
    """The findings as the command prints them: OK/PROBLEM, then the record to publish."""
    lines = []
    for finding in findings:
        lines.append(("OK       " if finding.ok else "PROBLEM  ") + finding.message)
        if finding.record:
            lines.append("         publish: " + finding.record)
    return lines
