"""The time-stamping authorities a new archive asks, and the roots their tokens are
checked against: what ``custody init`` writes into ``custody.toml`` and
``tsa-roots.pem``.

By default three public RFC 3161 authorities, run by three companies on three roots
(DigiCert Trusted Root G4, USERTrust RSA, GlobalSign R6): every seal asks each of them,
so one that is down, slow, or later distrusted leaves the others' tokens. Their roots
are Mozilla's CA bundle as certifi ships it, copied into the archive when it is made,
so that verify gives the same answer years later whatever the machine's bundle has
become (a root Mozilla drops later still checks the tokens made under it; a person
can trim the file to the roots they trust). A certificate of the bundle that
``cryptography`` reads only with a warning (a negative serial number) is left out.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

from ..core.atomic import write_atomic
from ..core.config import FILENAME

PUBLIC = (
    ("http://timestamp.digicert.com", "DigiCert, under DigiCert Trusted Root G4"),
    ("http://timestamp.sectigo.com", "Sectigo, under USERTrust RSA Certification Authority"),
    ("http://timestamp.globalsign.com/tsa/r6advanced1", "GlobalSign, under GlobalSign Root R6"),
)
ROOTS_FILE = "tsa-roots.pem"


def bundle_roots() -> tuple[bytes, str]:
    """Mozilla's roots as certifi has them, in PEM, each under a line naming it; and
    where they come from, for people."""
    import certifi
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    kept: list[bytes] = []
    every = _each_pem(Path(certifi.where()).read_bytes())
    for cert in every:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            try:
                parsed = x509.load_pem_x509_certificate(cert)
                name = parsed.subject.rfc4514_string()
            except (ValueError, Warning):
                continue
        kept.append(f"# {name}\n".encode() + parsed.public_bytes(Encoding.PEM))
    left = len(every) - len(kept)
    source = (f"Mozilla's CA bundle (certifi {certifi.__version__}: {len(kept)} roots"
              + (f"; {left} that cryptography reads only with a warning left out" if left
                 else "") + ")")
    return b"".join(kept), source


def _each_pem(data: bytes) -> list[bytes]:
    end = b"-----END CERTIFICATE-----"
    found = []
    for part in data.split(end)[:-1]:
        start = part.find(b"-----BEGIN CERTIFICATE-----")
        if start >= 0:
            found.append(part[start:] + end + b"\n")
    return found


def write_settings(root: Path, tsas: list[str] | None, roots_pem: Path | None) -> str:
    """``custody.toml`` (and ``tsa-roots.pem``) for a new archive: the public authorities
    (``tsas`` None), the ones given, or none (``[]``); the roots given, else the bundle's.
    What was done, in a line for the archivist."""
    lines = ["# custody's settings for this archive: see docs/guide/proving.md", "",
             "[timestamp]"]
    if tsas == []:
        lines += ["# no time-stamping authority: each capture's time rests on this machine's",
                  "# clock and the archivist's signature; `custody timestamp --tsa URL` adds",
                  "# tokens later", "tsa = []"]
        write_atomic(root / FILENAME, ("\n".join(lines) + "\n").encode())
        return "no time-stamping authority is asked (custody.toml)"
    chosen = [(url, "") for url in tsas] if tsas else list(PUBLIC)
    lines += ["# RFC 3161 authorities, each asked after every seal, in this order",
              "tsa = ["]
    lines += [f"    {json.dumps(url)},{f'  # {about}' if about else ''}" for url, about in chosen]
    lines += ["]"]
    if roots_pem is not None:
        pem = roots_pem.read_bytes()
        source = f"copied from {roots_pem.name} when the archive was made"
    else:
        pem, source = bundle_roots()
        source += ", copied when the archive was made"
        pem = (f"# TSA roots of this archive: {source}.\n"
               "# verify checks each token's chain up to one of them.\n\n").encode() + pem
    write_atomic(root / ROOTS_FILE, pem)
    lines += [f"# the roots tokens are checked against: {source}",
              f"roots = [{json.dumps(ROOTS_FILE)}]"]
    write_atomic(root / FILENAME, ("\n".join(lines) + "\n").encode())
    named = ", ".join(url for url, _ in chosen)
    many = "authority" if len(chosen) == 1 else "authorities"
    return f"each seal asks {len(chosen)} time-stamping {many} ({named}; custody.toml)"
