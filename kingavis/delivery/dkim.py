"""DKIM signing of every outgoing email (docs/deliverability.md), with dkimpy.

``KINGAVIS_DKIM_SELECTOR`` and ``KINGAVIS_DKIM_KEY_FILE`` both set: each message is signed for
the ``MAIL_FROM`` domain, relaxed/relaxed, over the headers of ``SIGNED_HEADERS`` that it
has. The key file is PEM: an RSA key in PKCS#1 or PKCS#8 (rsa-sha256), or an ed25519 key in
PKCS#8 (ed25519-sha256). ``public_record`` gives the DNS TXT record that publishes its public
key, for ``flask mail check-domain``.
"""

from __future__ import annotations

import base64
import functools
import os
import re
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import parseaddr
from pathlib import Path

import dkim
import nacl.signing
from dkim.crypto import UnparsableKeyError, parse_private_key

SIGNED_HEADERS = (
    b"From", b"To", b"Subject", b"Date", b"Message-ID", b"List-Unsubscribe",
    b"List-Unsubscribe-Post", b"MIME-Version", b"Content-Type", b"Content-Language",
)
# An ed25519 private key in PKCS#8 (RFC 8410) is this DER prefix and the 32-byte seed.
_ED25519_PKCS8 = bytes.fromhex("302e020100300506032b657004220420")
_PEM = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\s*(.*?)\s*-----END \1-----", re.DOTALL)


class KeyFileError(ValueError):
    """The DKIM key file cannot be read or is not a key we can sign with."""


@dataclass(frozen=True)
class SigningKey:
    algorithm: str  # "rsa-sha256" or "ed25519-sha256"
    private: bytes  # what dkimpy's sign() takes: PEM for RSA, base64 seed for ed25519
    public: bytes  # the p= value's bytes: SubjectPublicKeyInfo DER (RSA), raw key (ed25519)

    @property
    def key_type(self) -> str:
        return "rsa" if self.algorithm == "rsa-sha256" else "ed25519"

    def record(self) -> str:
        """The TXT record publishing this key: ``v=DKIM1; k=…; p=…``."""
        return f"v=DKIM1; k={self.key_type}; p={base64.b64encode(self.public).decode()}"


def _der_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    raw = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def _der(tag: int, content: bytes) -> bytes:
    return bytes([tag]) + _der_length(len(content)) + content


def _der_int(value: int) -> bytes:
    raw = value.to_bytes(value.bit_length() // 8 + 1, "big")  # a leading 0 keeps it positive
    return _der(0x02, raw)


def _rsa_public_der(modulus: int, exponent: int) -> bytes:
    """SubjectPublicKeyInfo (RFC 5280) of an RSA key: what DKIM's p= holds (RFC 6376 3.6.1)."""
    algorithm = _der(0x30, _der(0x06, bytes.fromhex("2a864886f70d010101")) + _der(0x05, b""))
    key = _der(0x30, _der_int(modulus) + _der_int(exponent))
    return _der(0x30, algorithm + _der(0x03, b"\x00" + key))


def parse_key(pem: bytes) -> SigningKey:
    """The signing key of a PEM file's content; KeyFileError saying why it is not usable."""
    match = _PEM.search(pem)
    if match is None:
        raise KeyFileError("the DKIM key file is not PEM (no BEGIN … PRIVATE KEY block)")
    label = match[1].decode()
    try:
        der = base64.b64decode(b"".join(match[2].split()), validate=True)
    except ValueError:
        raise KeyFileError("the DKIM key file's PEM block is not valid base64") from None
    if label == "PRIVATE KEY" and der.startswith(_ED25519_PKCS8) and len(der) == 48:
        seed = der[len(_ED25519_PKCS8):]
        public = bytes(nacl.signing.SigningKey(seed).verify_key)
        return SigningKey("ed25519-sha256", base64.b64encode(seed), public)
    if label not in ("RSA PRIVATE KEY", "PRIVATE KEY"):
        raise KeyFileError(f"the DKIM key file holds a {label}, not a private key")
    try:
        parsed = parse_private_key(der)
    except (UnparsableKeyError, IndexError, ValueError):
        raise KeyFileError("the DKIM key file is neither an RSA key (PKCS#1 or PKCS#8) "
                           "nor an ed25519 key (PKCS#8)") from None
    pem_block = (f"-----BEGIN {label}-----\n".encode() + base64.encodebytes(der)
                 + f"-----END {label}-----\n".encode())
    public = _rsa_public_der(parsed["modulus"], parsed["publicExponent"])
    return SigningKey("rsa-sha256", pem_block, public)


@functools.lru_cache(maxsize=8)
def _load(path: str, mtime_ns: int, size: int) -> SigningKey:
    try:
        return parse_key(Path(path).read_bytes())
    except OSError as exc:
        raise KeyFileError(f"cannot read the DKIM key file: {exc.strerror or exc}") from None


def load_key(path: str) -> SigningKey:
    """The key in ``path``, read once per version of the file."""
    try:
        info = os.stat(path)
    except OSError as exc:
        raise KeyFileError(f"cannot read the DKIM key file: {exc.strerror or exc}") from None
    return _load(path, info.st_mtime_ns, info.st_size)


def domain_of(address: str) -> str:
    """The domain of an address such as MAIL_FROM (``"Name" <a@b>`` or ``a@b``), lower case."""
    return parseaddr(address)[1].rpartition("@")[2].strip().lower().rstrip(".")


def signature(data: bytes, *, selector: str, domain: str, key: SigningKey) -> bytes:
    """The ``DKIM-Signature: …`` header line (CRLF-folded, with its final CRLF) for the
    message ``data`` (as sent, CRLF line ends)."""
    present = {line.split(b":", 1)[0].strip().lower()
               for line in data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
               if line and line[:1] not in (b" ", b"\t")}
    headers = [name for name in SIGNED_HEADERS if name.lower() in present]
    return dkim.sign(
        data, selector.encode("ascii"), domain.encode("ascii"), key.private,
        canonicalize=(b"relaxed", b"relaxed"), signature_algorithm=key.algorithm.encode(),
        include_headers=headers, linesep=b"\r\n",
    )


def sign_message(msg: EmailMessage, *, selector: str, domain: str, key: SigningKey) -> None:
    """Add a DKIM-Signature header to ``msg``, as its first header, kept exactly as signed.

    The header is stored as already folded text (short lines, so the generator writes it as
    is); ``msg`` must not change afterwards.
    """
    line = signature(msg.as_bytes(), selector=selector, domain=domain, key=key)
    name, _, value = line.decode("ascii").partition(":")
    value = value.strip().replace("\r\n", "\n")
    # Stored like a parsed header (raw lines): EmailMessage.__setitem__ refuses line breaks.
    msg._headers.insert(0, (name, value))  # type: ignore[attr-defined]
