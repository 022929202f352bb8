"""DKIM signing of outgoing messages (dkimpy), and the DNS record that lets
receivers check it (DESIGN.md "Email headers").

Signing is on when DKIM_DOMAIN, DKIM_SELECTOR and DKIM_PRIVATE_KEY_PATH are all
set: an RSA private key in PEM (PKCS#1 or PKCS#8), read once per file version.
The signature covers From, To, Subject, Date, Message-ID and the RFC 8058 pair
List-Unsubscribe + List-Unsubscribe-Post (a header a message lacks is signed as
absent, so nobody can add it later), plus the other headers that shape what the
reader sees.
"""
import base64
import os
from functools import lru_cache

import dkim
from dkim.crypto import UnparsableKeyError, parse_pem_private_key

SIGNED_HEADERS = (b"From", b"To", b"Subject", b"Date", b"Message-ID", b"List-Unsubscribe",
                  b"List-Unsubscribe-Post", b"Reply-To", b"List-Id", b"MIME-Version",
                  b"Content-Type")
_RSA_ALGORITHM = bytes.fromhex("300d06092a864886f70d0101010500")  # rsaEncryption, NULL


class DkimError(RuntimeError):
    """DKIM is configured but cannot sign (unreadable or unsupported key); str() is for staff."""


def configured(config) -> bool:
    return all(config.get(k) for k in ("DKIM_DOMAIN", "DKIM_SELECTOR", "DKIM_PRIVATE_KEY_PATH"))


@lru_cache(maxsize=4)
def _key(path: str, _version: tuple) -> bytes:
    try:
        with open(path, "rb") as f:
            pem = f.read()
        parse_pem_private_key(pem)  # refuse a bad key here, with a clear message
    except (OSError, UnparsableKeyError) as exc:
        raise DkimError(f"cannot use the DKIM key {path}: {exc}") from exc
    return pem


def private_key(config) -> bytes:
    """The PEM key from DKIM_PRIVATE_KEY_PATH (cached until the file changes)."""
    path = config["DKIM_PRIVATE_KEY_PATH"]
    try:
        stat = os.stat(path)
    except OSError as exc:
        raise DkimError(f"cannot read the DKIM key {path}: {exc}") from exc
    return _key(path, (stat.st_mtime_ns, stat.st_size))


def sign(data: bytes, config) -> bytes:
    """The message with its DKIM-Signature header first; unchanged when DKIM is not configured."""
    if not configured(config):
        return data
    signature = dkim.sign(data, config["DKIM_SELECTOR"].encode("ascii"),
                          config["DKIM_DOMAIN"].encode("ascii"), private_key(config),
                          canonicalize=(b"relaxed", b"relaxed"),
                          include_headers=list(SIGNED_HEADERS), linesep=b"\r\n")
    return signature + data


# The DNS record's p= is a DER SubjectPublicKeyInfo. dkimpy parses keys but cannot
# build one (its asn1_build has no INTEGER or BIT STRING), and no crypto library is
# installed, so the few DER bytes are written here.
def _der(tag: int, body: bytes) -> bytes:
    n = len(body)
    length = bytes([n]) if n < 0x80 else bytes([0x80 | ((n.bit_length() + 7) // 8)]) + n.to_bytes(
        (n.bit_length() + 7) // 8, "big")
    return bytes([tag]) + length + body


def _der_int(value: int) -> bytes:
    return _der(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big"))  # leading 0: positive


def public_key_b64(pem: bytes) -> str:
    """The base64 SubjectPublicKeyInfo of an RSA private key (the p= of the DNS record)."""
    key = parse_pem_private_key(pem)
    rsa_public = _der(0x30, _der_int(key["modulus"]) + _der_int(key["publicExponent"]))
    spki = _der(0x30, _RSA_ALGORITHM + _der(0x03, b"\x00" + rsa_public))
    return base64.b64encode(spki).decode("ascii")


def dns_record(config) -> dict | None:
    """What to publish for the configured selector: {"name", "value"} (or {"error"});
    None when DKIM is not configured."""
    if not configured(config):
        return None
    name = f"{config['DKIM_SELECTOR']}._domainkey.{config['DKIM_DOMAIN']}"
    try:
        value = f"v=DKIM1; k=rsa; p={public_key_b64(private_key(config))}"
    except (DkimError, UnparsableKeyError) as exc:
        return {"name": name, "error": str(exc)}
    return {"name": name, "value": value}
