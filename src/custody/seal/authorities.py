"""The time-stamping authorities a new archive asks, and the roots their tokens are
checked against: what ``custody init`` writes into ``custody.toml`` and
``tsa-roots.pem``.

By default three public RFC 3161 authorities, run by three companies on three roots:
every seal asks each of them, so one that is down, slow, or later distrusted leaves the
others' tokens. Their three roots are taken from Mozilla's CA bundle as certifi ships it
and copied into the archive when it is made, so that verify gives the same answer years
later whatever the machine's bundle has become; no other root is trusted for them.
Authorities named with ``--tsa`` and no roots of their own are checked against the
whole bundle, since custody cannot know which of its roots they chain to (a root
``cryptography`` reads only with a warning, its serial number not positive, is left
out).
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path

from ..core.atomic import write_atomic
from ..core.config import FILENAME

ROOTS_FILE = "tsa-roots.pem"


@dataclass(frozen=True)
class Authority:
    url: str
    who: str
    root: str  # the subject of the root its tokens chain to, as certifi's bundle has it


PUBLIC = (
    Authority("http://timestamp.digicert.com", "DigiCert",
              "CN=DigiCert Trusted Root G4,OU=www.digicert.com,O=DigiCert Inc,C=US"),
    Authority("http://timestamp.sectigo.com", "Sectigo",
              "CN=USERTrust RSA Certification Authority,O=The USERTRUST Network,"
              "L=Jersey City,ST=New Jersey,C=US"),
    Authority("http://timestamp.globalsign.com/tsa/r6advanced1", "GlobalSign",
              "CN=GlobalSign,O=GlobalSign,OU=GlobalSign Root CA - R6"),
)


def bundle_roots(only: set[str] | None = None) -> tuple[bytes, str, set[str]]:
    """Mozilla's roots as certifi has them (those whose subjects are ``only``, if given),
    in PEM, each under a line naming it; where they come from, for people; the subjects
    found."""
    import certifi
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    kept: list[bytes] = []
    found: set[str] = set()
    every = _each_pem(Path(certifi.where()).read_bytes())
    for cert in every:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            try:
                parsed = x509.load_pem_x509_certificate(cert)
                name = parsed.subject.rfc4514_string()
            except (ValueError, Warning):
                continue
        if only is None or name in only:
            kept.append(f"# {name}\n".encode() + parsed.public_bytes(Encoding.PEM))
            found.add(name)
    left = len(every) - len(kept)
    source = (f"Mozilla's CA bundle (certifi {certifi.__version__}: " +
              (f"{len(kept)} of its roots" if only is not None else
               f"{len(kept)} roots" + (f"; {left} whose serial number is not positive left "
                                       "out" if left else "")) + ")")
    return b"".join(kept), source, found


def _each_pem(data: bytes) -> list[bytes]:
    end = b"-----END CERTIFICATE-----"
    found = []
    for part in data.split(end)[:-1]:
        start = part.find(b"-----BEGIN CERTIFICATE-----")
        if start >= 0:
            found.append(part[start:] + end + b"\n")
    return found


def write_settings(root: Path, tsas: list[str] | None, roots_pem: bytes | None) -> str:
    """``custody.toml`` (and ``tsa-roots.pem``, unless the folder has one, which is kept)
    for a new archive: the public authorities (``tsas`` None), the ones given, or none
    (``[]``); the roots given, else the bundle's. What was done, for the archivist."""
    lines = ["# custody's settings for this archive: see docs/guide/proving.md", "",
             "[timestamp]"]
    if tsas == []:
        lines += ["# no time-stamping authority: each capture's time rests on this machine's",
                  "# clock and the archivist's signature; `custody timestamp --tsa URL` adds",
                  "# tokens later", "tsa = []"]
        write_atomic(root / FILENAME, ("\n".join(lines) + "\n").encode())
        return "no time-stamping authority is asked (custody.toml)"
    chosen = [(url, "") for url in tsas] if tsas else [
        (a.url, f"{a.who}, under {a.root.split(',')[0].split('=')[1]}") for a in PUBLIC]
    lines += ["# RFC 3161 authorities, each asked after every seal, in this order; each sees",
              "# the sha256 of what is sealed, and this machine's address", "tsa = ["]
    lines += [f"    {json.dumps(url)},{f'  # {about}' if about else ''}" for url, about in chosen]
    lines += ["]"]
    said = ""
    if (root / ROOTS_FILE).exists() or (root / ROOTS_FILE).is_symlink():
        source = "the folder's own, kept as it was"
        said = f"; {ROOTS_FILE} kept as it was: their tokens are checked against it"
    else:
        if roots_pem is not None:
            pem, source = roots_pem, "the roots given to `custody init --tsa-roots`"
        else:
            wanted = None if tsas else {a.root for a in PUBLIC}
            pem, source, found = bundle_roots(wanted)
            missing = sorted((wanted or set()) - found)
            if missing:
                said = f"; not in certifi's bundle, so not trusted: {'; '.join(missing)}"
        source += ", copied when the archive was made"
        write_atomic(root / ROOTS_FILE, (f"# TSA roots of this archive: {source}.\n"
                                         "# verify checks each token's chain up to one of "
                                         "them.\n\n").encode() + pem)
    lines += [f"# the roots their tokens are checked against: {source}",
              f"roots = [{json.dumps(ROOTS_FILE)}]"]
    write_atomic(root / FILENAME, ("\n".join(lines) + "\n").encode())
    named = ", ".join(url for url, _ in chosen)
    many = "authority" if len(chosen) == 1 else "authorities"
    return f"each seal asks {len(chosen)} time-stamping {many} ({named}; custody.toml){said}"
