"""The signature a WACZ may carry in datapackage-digest.json's ``signedData``, as the
WACZ Signing and Verification spec (wacz-auth) and Webrecorder's authsign write it:

- signed by a domain: an ECDSA signature of the ``hash`` string, by the key of a TLS
  certificate for ``domain`` (``domainCert``, its chain with it), made within the
  certificate's first days (authsign signs with fresh 7-day ACME certificates), and an
  RFC 3161 timestamp of the signature (``timeSignature``, by ``timestampCert``);
- anonymous: the same signature by a ``publicKey`` given beside it.

The arithmetic is checked here, with no network. Whose roots to trust is a judgement:
the chains are accepted up to the roots authsign trusts (Let's Encrypt's for domains,
freetsa.org's for time, by sha-256 fingerprint, from authsign's trusted/roots.yaml);
a chain that ends at another root -- Let's Encrypt's staging root, say -- fails, as it
does in authsign, naming the root's fingerprint.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from ..verify.report import FAILED, PASSED

_DOMAIN_ROOTS = {  # Let's Encrypt ISRG Root X1, X2, DST X3 (expired), X1 cross-signed
    "96bcec06264976f37460779acf28c5a7cfe8a3c0aae11a8ffcee05c0bddf08c6",
    "69729b8e15a86efc177a57afb7171dfc64add28c2fca8cf1507e34453ccb1470",
    "6d99fb265eb1c5b3744765fcbc648f3cd8e1bffafdc4c2f99b9d47cf7ff1c24f",
    "ee5f7abd6981bb0255632cd8f49283451b4b18844d12040b44ee00f07b8fe2c6",
}
_TIME_ROOTS = {"a6379e7cecc05faa3cbf076013d745e327bbbaa38c0b9af22469d4701d18aabc"}  # freetsa
_CERT_DAYS = timedelta(days=7)
_STAMP_WINDOW = timedelta(minutes=10)


def check(signed: dict[str, Any], digest_hash: str) -> tuple[str, str]:
    """(outcome, detail) of a ``signedData`` object for the WACZ whose
    datapackage-digest.json gives ``digest_hash``."""
    from cryptography import x509
    from cryptography.exceptions import UnsupportedAlgorithm

    try:
        return _check(signed, digest_hash)
    except (KeyError, TypeError, ValueError, UnsupportedAlgorithm,
            x509.InvalidVersion) as exc:  # a certificate's version byte changed
        return FAILED, f"signedData cannot be read: {exc.__class__.__name__}: {exc}"


def _check(signed: dict[str, Any], digest_hash: str) -> tuple[str, str]:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import load_der_public_key

    signed_hash = str(signed["hash"])
    if signed_hash != digest_hash:
        return FAILED, f"signs {signed_hash}, not the package's {digest_hash}"
    signature = base64.b64decode(signed["signature"])
    if "domainCert" not in signed:
        key = load_der_public_key(base64.b64decode(signed["publicKey"]))
        if not _verifies(key, signature, signed_hash.encode()):
            return FAILED, "the signature does not verify with the publicKey given"
        fp = hashlib.sha256(base64.b64decode(signed["publicKey"])).hexdigest()
        return PASSED, (f"anonymous signature by key sha256:{fp} (the WACZ does not say whose "
                        "key it is)")
    certs = x509.load_pem_x509_certificates(str(signed["domainCert"]).encode())
    broken = _chain_problem(certs)
    if broken:
        return FAILED, f"domainCert: {broken}"
    leaf = certs[0]
    if not _verifies(leaf.public_key(), signature, signed_hash.encode()):
        return FAILED, "the signature does not verify with domainCert's key"
    names = _names(leaf)
    if signed.get("domain") not in names:
        return FAILED, f"domainCert is for {', '.join(names)}, not {signed.get('domain')!r}"
    created = _when(str(signed["created"]))
    start = leaf.not_valid_before_utc
    if not start <= created <= start + _CERT_DAYS:
        return FAILED, (f"created {created.isoformat()} is not within {_CERT_DAYS.days} days of "
                        f"domainCert's start ({start.isoformat()})")
    stamp = _timestamp(signed)
    if isinstance(stamp, tuple):
        return stamp
    if not created - timedelta(seconds=1) <= stamp <= created + _STAMP_WINDOW:
        return FAILED, (f"timeSignature's genTime {stamp.isoformat()} is not within "
                        f"{_STAMP_WINDOW} after created {created.isoformat()}")
    domain_root = _fingerprint(certs[-1])
    what = f"signed by {signed.get('domain')} at {stamp.isoformat()} (RFC 3161 genTime)"
    if domain_root not in _DOMAIN_ROOTS:
        return FAILED, (f"{what}, but domainCert's chain ends at sha256:{domain_root}, not a "
                        "root trusted for WACZ signing (Let's Encrypt's, as authsign's)")
    return PASSED, what


def _timestamp(signed: dict[str, Any]) -> datetime | tuple[str, str]:
    from cryptography import x509

    from ..seal.timestamp import check_token

    certs = x509.load_pem_x509_certificates(str(signed["timestampCert"]).encode())
    broken = _chain_problem(certs)
    if broken:
        return FAILED, f"timestampCert: {broken}"
    message = hashlib.sha256(str(signed["signature"]).encode("ascii")).digest()
    token = base64.b64decode(signed["timeSignature"])
    result = check_token(token, message, [certs[-1]], certs)
    if result.outcome != PASSED or result.gen_time is None:
        return FAILED, f"timeSignature: {result.detail}"
    root = _fingerprint(certs[-1])
    if root not in _TIME_ROOTS:
        return FAILED, (f"timeSignature verifies up to sha256:{root}, not a timestamp "
                        "root trusted for WACZ signing (freetsa.org's, as authsign's)")
    return result.gen_time


def _verifies(key: Any, signature: bytes, message: bytes) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    if not isinstance(key, ec.EllipticCurvePublicKey):
        return False
    candidates = [signature]
    size = (key.curve.key_size + 7) // 8
    if len(signature) == 2 * size:  # WebCrypto writes r || s, not DER
        candidates.append(encode_dss_signature(int.from_bytes(signature[:size], "big"),
                                               int.from_bytes(signature[size:], "big")))
    for candidate in candidates:
        try:
            key.verify(candidate, message, ec.ECDSA(hashes.SHA256()))
            return True
        except (InvalidSignature, ValueError):
            continue
    return False


def _chain_problem(certs: list[Any]) -> str | None:
    if not certs:
        return "holds no certificate"
    for cert, issuer in itertools.pairwise(certs):
        try:
            cert.verify_directly_issued_by(issuer)
        except (ValueError, TypeError, Exception) as exc:  # InvalidSignature among them
            return f"{cert.subject.rfc4514_string()} is not issued by the next certificate " \
                   f"({type(exc).__name__})"
    return None


def _names(cert: Any) -> list[str]:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        names = list(san.value.get_values_for_type(x509.DNSName))
    except x509.ExtensionNotFound:
        names = []
    names += [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    return names


def _fingerprint(cert: Any) -> str:
    from cryptography.hazmat.primitives import hashes

    return str(cert.fingerprint(hashes.SHA256()).hex())


def _when(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
