"""RFC 3161 trusted timestamps (rfc3161-client): asking TSAs, keeping and checking tokens.

A signature says who sealed a manifest; a timestamp from an independent authority
says it existed at genTime. The full TimeStampResp is kept next to the manifest
(``<id>.json.tsr``, then ``<id>.json.2.tsr``...), so that ``openssl ts -verify``
can check it without custody. Tokens are checked against the configured TSA
roots at their genTime, so a TSA certificate that has since expired still
verifies, as RFC 3161 intends.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # cryptography's x509 takes a while to import: only where certificates are
    from cryptography import x509

PENDING_SUFFIX = ".tsr.pending"


class Unavailable(Exception):
    """No usable answer from a TSA."""


def token_paths(manifest_path: Path) -> list[Path]:
    """The manifest's tokens in order: .tsr, .2.tsr, .3.tsr..."""
    first = manifest_path.with_name(manifest_path.name + ".tsr")
    paths = [first] if first.exists() else []
    n = 2
    while (p := manifest_path.with_name(f"{manifest_path.name}.{n}.tsr")).exists():
        paths.append(p)
        n += 1
    return paths


def next_token_path(manifest_path: Path) -> Path:
    existing = token_paths(manifest_path)
    if not existing:
        return manifest_path.with_name(manifest_path.name + ".tsr")
    return manifest_path.with_name(f"{manifest_path.name}.{len(existing) + 1}.tsr")


def pending_path(manifest_path: Path) -> Path:
    return manifest_path.with_name(manifest_path.name + PENDING_SUFFIX)


# TSAs that did not answer (refused, unresolved, timed out), by URL: when, by the
# monotonic clock. One that did not answer is not asked again by the same process for
# SILENT_FOR seconds, so that a capture made offline, or behind a firewall that drops
# what it sends, waits for each authority once, not once for the manifest and again for
# the checkpoint.
_SILENT: dict[str, float] = {}
SILENT_FOR = 120.0


def request_token(tsa_url: str, message: bytes, *, timeout: float = 10.0) -> bytes:
    """Ask one TSA for a token over sha256(message); the DER TimeStampResp it sent."""
    import time

    import httpx

    since = _SILENT.get(tsa_url)
    if since is not None and time.monotonic() - since < SILENT_FOR:
        raise Unavailable(f"{tsa_url}: did not answer {time.monotonic() - since:.0f} s ago "
                          "(not asked again yet)")
    from rfc3161_client import (
        HashAlgorithm,
        PKIStatus,
        TimestampRequestBuilder,
        VerificationError,
        decode_timestamp_response,
    )

    request = TimestampRequestBuilder(data=message, hash_algorithm=HashAlgorithm.SHA256,
                                      nonce=True, cert_req=True).build()
    try:
        answer = httpx.post(tsa_url, content=request.as_bytes(), timeout=timeout,
                            headers={"Content-Type": "application/timestamp-query"})
    except httpx.HTTPError as exc:
        if isinstance(exc, httpx.TransportError):
            _SILENT[tsa_url] = time.monotonic()
        raise Unavailable(f"{tsa_url}: {exc.__class__.__name__}: {exc}") from exc
    if answer.status_code != 200:
        raise Unavailable(f"{tsa_url}: HTTP {answer.status_code}")
    try:
        response = decode_timestamp_response(der_sorted(answer.content))
    except (ValueError, VerificationError) as exc:
        raise Unavailable(f"{tsa_url}: not a timestamp response ({exc})") from exc
    if PKIStatus(response.status) not in (PKIStatus.GRANTED, PKIStatus.GRANTED_WITH_MODS):
        raise Unavailable(f"{tsa_url}: request refused (status {response.status})")
    if response.tst_info.nonce != request.nonce:
        raise Unavailable(f"{tsa_url}: the answer's nonce is not the request's")
    return answer.content


@dataclass
class TokenCheck:
    outcome: str  # passed, failed, unchecked
    detail: str
    gen_time: datetime | None = None


def load_certificates(paths: list[Path]) -> list[x509.Certificate]:
    from cryptography import x509

    certs: list[x509.Certificate] = []
    for path in paths:
        certs += x509.load_pem_x509_certificates(path.read_bytes())
    return certs


def check_token(token: bytes, message_sha256: bytes, roots: list[x509.Certificate],
                given: list[x509.Certificate] | None = None) -> TokenCheck:
    """Imprint, signature and chain (at genTime) of one token over the message whose
    sha256 digest is given. ``given``: certificates that came beside the token (the
    TSA's, for a token made without them)."""
    from rfc3161_client import VerificationError, decode_timestamp_response

    try:
        response = decode_timestamp_response(der_sorted(token))
    except (ValueError, VerificationError) as exc:
        return TokenCheck("failed", f"not a timestamp response ({exc})")
    from cryptography.x509 import InvalidVersion

    try:  # its parts are parsed as they are read: a damaged one raises there (an
        # embedded certificate's version changed raises InvalidVersion, no ValueError)
        return _judge_token(response, message_sha256, roots, given)
    except (ValueError, TypeError, StopIteration, InvalidVersion) as exc:
        return TokenCheck("failed", f"a damaged timestamp response ({exc})")


def _judge_token(response: Any, message_sha256: bytes, roots: list[x509.Certificate],
                 given: list[x509.Certificate] | None) -> TokenCheck:
    from cryptography import x509
    from rfc3161_client import VerificationError, VerifierBuilder

    info = response.tst_info
    gen_time = info.gen_time.replace(tzinfo=UTC) if info.gen_time.tzinfo is None \
        else info.gen_time
    if info.message_imprint.message != message_sha256:
        return TokenCheck("failed", "imprint is not the sha256 of the manifest", gen_time)
    if not roots:
        return TokenCheck("unchecked", "imprint matches, but no trusted TSA roots are "
                          "configured (custody.toml [timestamp] roots)", gen_time)
    embedded = [x509.load_der_x509_certificate(c) for c in response.signed_data.certificates]
    leaf = next((c for c in given or [] if _is_leaf_for(c, response)), None)
    # Only a configured root is a trust anchor. The token's own certificates are not
    # given to the verifier, which puts every certificate it is given among its anchors
    # (a self-signed one in a forged token would be one); it finds them in the token
    # itself as untrusted links of the chain. Certificates that came beside the token
    # may be links too, never anchors: a self-issued one is left out.
    links = [c for c in given or [] if not _is_leaf_for(c, response) and c.issuer != c.subject]
    named = {_folded(c.issuer) for c in [*embedded, *(given or [])]}
    # a root that issued a certificate of the chain, by name (as RFC 5280 compares names:
    # case and runs of spaces aside) is tried first; the others only if none did
    candidates = [r for r in roots if _folded(r.subject) in named] or roots
    last_error = "no configured root issued it"
    for root in candidates:
        builder = VerifierBuilder(roots=[root], tsa_certificate=leaf,
                                  intermediates=[c for c in links if c != root])
        try:
            builder.build().verify(response, message_sha256)
        except VerificationError as exc:
            last_error = str(exc)
            continue
        return TokenCheck("passed", f"genTime {gen_time.isoformat()} by "
                          f"{_tsa_name(embedded, response)}", gen_time)
    own = _own_anchor(response, message_sha256, embedded, leaf, links)
    if own is not None:
        return TokenCheck("unchecked", f"a sound token by {_tsa_name(embedded, response)}, "
                          f"but its chain ends at {own.subject.rfc4514_string()} (sha256 "
                          f"{_fingerprint(own)[:16]}), which is not among the archive's "
                          "trusted TSA roots (custody.toml [timestamp] roots)", gen_time)
    return TokenCheck("failed", f"token does not verify: {last_error}", gen_time)


def _own_anchor(response: Any, message_sha256: bytes, embedded: list[x509.Certificate],
                leaf: x509.Certificate | None,
                links: list[x509.Certificate]) -> x509.Certificate | None:
    """The self-signed certificate the token carries (or came with) that its chain ends
    at, when it is sound but for that root not being trusted: a token of a TSA the
    archive does not trust is unchecked, not false."""
    from rfc3161_client import VerificationError, VerifierBuilder

    for anchor in (c for c in embedded if c.issuer == c.subject):
        try:
            VerifierBuilder(roots=[anchor], tsa_certificate=leaf,
                            intermediates=links).build().verify(response, message_sha256)
        except VerificationError:
            continue
        return anchor
    return None


def _fingerprint(cert: x509.Certificate) -> str:
    from cryptography.hazmat.primitives import hashes

    return cert.fingerprint(hashes.SHA256()).hex()


def _folded(name: x509.Name) -> str:
    return " ".join(name.rfc4514_string().casefold().split())


def _is_leaf_for(cert: x509.Certificate, response: object) -> bool:
    signer = next(iter(response.signed_data.signer_infos))  # type: ignore[attr-defined]
    return bool(cert.issuer == signer.issuer and cert.serial_number == signer.serial_number)


def _tsa_name(embedded: list[x509.Certificate], response: object) -> str:
    for cert in embedded:
        if _is_leaf_for(cert, response):
            return cert.subject.rfc4514_string()
    return "the TSA"


def write_pending(manifest_path: Path, tsa_urls: list[str], errors: list[str]) -> None:
    from ..core.atomic import write_atomic

    record = {"tsa": tsa_urls, "errors": errors,
              "since": datetime.now(UTC).isoformat(timespec="seconds")}
    write_atomic(pending_path(manifest_path), (json.dumps(record, indent=2) + "\n").encode())


def stamp(manifest_path: Path, message: bytes, tsa_urls: list[str], *,
          owed: bool = True) -> tuple[list[Path], list[str]]:
    """Ask every TSA in turn; write each token; mark pending when none answered and a
    token is ``owed`` (a capture's own seal; or a later attempt for one marked so)."""
    from ..core import faults
    from ..core.atomic import write_atomic

    written, errors = [], []
    for url in tsa_urls:
        try:
            token = request_token(url, message)
        except Unavailable as exc:
            errors.append(str(exc))
            continue
        path = next_token_path(manifest_path)
        write_atomic(path, token)
        faults.after("seal.token")
        written.append(path)
    if tsa_urls and not written and owed:
        write_pending(manifest_path, tsa_urls, errors)
        faults.after("seal.token")
    elif written:
        pending_path(manifest_path).unlink(missing_ok=True)
    return written, errors


# -- tokens whose certificate set is not in DER order --------------------------------------------
#
# openssl's TSA, and many public ones, write SignedData.certificates (a SET OF) in the
# order the chain was configured, not in the ascending order DER requires, and
# rfc3161-client's strict DER parser refuses such tokens. The set is not covered by
# the signature, so custody parses a copy whose set is sorted -- the same elements,
# the same lengths -- and keeps the token on disk exactly as the TSA sent it.


def _tlv(buf: bytes, pos: int) -> tuple[int, int, int]:
    """Tag, start of content and end of the DER element at ``pos``."""
    tag = buf[pos]
    first = buf[pos + 1]
    if first < 0x80:
        return tag, pos + 2, pos + 2 + first
    count = first & 0x7F
    length = int.from_bytes(buf[pos + 2 : pos + 2 + count], "big")
    start = pos + 2 + count
    return tag, start, start + length


def _children(buf: bytes, start: int, end: int) -> list[tuple[int, int, int, int]]:
    out, pos = [], start
    while pos < end:
        tag, content, stop = _tlv(buf, pos)
        out.append((tag, pos, content, stop))
        pos = stop
    return out


def der_sorted(token: bytes) -> bytes:
    """The token with its certificate set in DER order; unchanged when it already is, or
    when it is not shaped as expected (the parser then says what is wrong)."""
    try:
        _, content, end = _tlv(token, 0)  # TimeStampResp
        parts = _children(token, content, end)
        if len(parts) < 2:
            return token
        _, _, info_start, info_end = parts[1]  # ContentInfo
        info = _children(token, info_start, info_end)
        _, _, explicit_start, explicit_end = info[1]  # [0] EXPLICIT
        (_, _, signed_start, signed_end), = _children(token, explicit_start, explicit_end)
        for tag, _, certs_start, certs_end in _children(token, signed_start, signed_end):
            if tag == 0xA0:  # certificates [0] IMPLICIT SET OF
                elements = [token[s:e] for _, s, _, e in _children(token, certs_start, certs_end)]
                ordered = b"".join(sorted(elements))
                return token[:certs_start] + ordered + token[certs_end:]
    except (IndexError, ValueError):
        return token
    return token
