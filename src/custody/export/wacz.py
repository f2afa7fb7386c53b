"""Exporting captures as one WACZ 1.1.1 file, with custody's proof inside.

The package holds the captures' WARC files as they were sealed (``archive/``, stored
uncompressed in the ZIP, as the WACZ spec asks), a CDXJ index made from their sealed
manifests (``indexes/index.cdx``), the pages (``pages/pages.jsonl``: each HTML page
with its URL, time and title), and under ``custody/`` what proves them: each manifest
with its SSH signature and RFC 3161 tokens and its ledger inclusion proof, the ledger
checkpoint and its signature, allowed_signers, the TSA roots, the inclusion check
script and VERIFY.md. ``datapackage.json`` lists every file with its sha256 and size;
``datapackage-digest.json`` gives the sha256 of ``datapackage.json`` and, under
``custody``, the archivist's SSH signature over ``datapackage.json``'s bytes.

Why that signature and not the wacz-auth ``signedData`` form: wacz-auth signs with an
ECDSA P-256 key (or a domain's TLS certificate), while custody's archivists hold Ed25519
SSH keys, and an archive's allowed_signers admits them for custody's own namespaces
only (``custody-manifest``, ``custody-checkpoint``, ``custody-job``). The package is
signed in the manifest namespace -- what the archivist attests -- and cannot pass for a
capture's manifest, which must carry custody's manifest format. ``ssh-keygen -Y verify``
checks it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from .. import __version__
from ..core import sshsig
from ..core.archive import Archive
from ..core.config import load as load_config
from ..core.errors import EvidenceFails, UsageError
from ..report.secrets import search
from ..seal import inclusion_script, manifest, timestamp
from ..seal.bundle import COMMAND_INDENT
from ..seal.ledger import Ledger
from ..verify.handover import require_verified
from ..warc.scan import file_sha256
from . import cdxj

WACZ_VERSION = "1.1.1"
SIGNED = "custody-signature"  # the key in datapackage-digest.json
_NAME = re.compile(r"[^a-z0-9._-]+")


def write_wacz(archive: Archive, capture_ids: list[str], out: Path, *,
               key: Ed25519PrivateKey, principal: str, include_credentials: bool = False,
               allow_secrets: bool = False) -> dict[str, Any]:
    """Write the WACZ file; what it holds (counts), for the command to say. The archivist's
    credentials (the values redacted in the WARC) go in only with ``include_credentials``.
    Every file that would go in is searched for the captures' session secrets first
    (report/secrets.py): SecretsFound, and nothing written, where they appear, unless
    ``allow_secrets`` (the summary's ``secrets`` says what was found)."""
    if out.exists():
        raise UsageError("the file exists: name another (nothing was overwritten)",
                         where=str(out))
    sealed = [_sealed(archive, cid) for cid in dict.fromkeys(capture_ids)]
    require_verified(archive, [s.capture_id for s in sealed], "nothing was exported")
    ledger = Ledger(archive.manifests_dir)
    checkpoint = ledger.latest()
    if checkpoint is None:
        raise UsageError("the archive has no ledger checkpoint to prove inclusion against")
    files: list[tuple[str, Path | bytes]] = []  # (path in the package, source or bytes)
    filenames: dict[str, str] = {}
    records: list[dict[str, Any]] = []
    pages: list[dict[str, Any]] = []
    for item in sealed:
        content = item.content or {}
        for entry in content.get("warc_files") or []:
            source = archive.root / entry["path"]
            name = Path(entry["path"]).name
            filenames[entry["path"]] = name
            files.append((f"archive/{name}", source))
        records += content.get("records") or []
        pages += _pages(content)
        files += _proof(archive, ledger, item)
        if include_credentials and content.get("redactions"):
            held = manifest.credentials_file(archive.root, content, True)
            assert held is not None
            files.append((f"custody/{item.capture_id}.credentials.json", held))
    files.append(("indexes/index.cdx", "".join(
        line + "\n" for line in cdxj.lines(records, filenames)).encode()))
    files.append(("pages/pages.jsonl", _pages_jsonl(pages)))
    files += [("custody/checkpoint", checkpoint.text.encode()),
              ("custody/checkpoint.sig", ledger.dir / "checkpoint.sig"),
              ("custody/allowed_signers", archive.allowed_signers),
              ("custody/verify_inclusion.py", inclusion_script.script().encode())]
    roots = load_config(archive.root).tsa_roots
    if roots:
        files.append(("custody/tsa-roots.pem", b"".join(r.read_bytes() for r in roots)))
    files.append(("custody/VERIFY.md", _verify_md(principal, sealed, bool(roots)).encode()))
    package = _datapackage(files, sealed, pages)
    found = search(archive, [s.capture_id for s in sealed], extra={
        **{path: source for path, source in files if isinstance(source, bytes)},
        "datapackage.json": package})
    found.refuse(allow=allow_secrets)
    digest = {"path": "datapackage.json", "hash": "sha256:" + hashlib.sha256(package).hexdigest(),
              SIGNED: {"namespace": sshsig.MANIFEST_NAMESPACE, "principal": principal,
                       "key": sshsig.public_key_line(key.public_key()),
                       "signature": sshsig.sign(key, package, sshsig.MANIFEST_NAMESPACE)}}
    partial = out.with_name(f".{out.name}.partial")
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        with zipfile.ZipFile(partial, "w") as package_zip:
            for path, source in files:
                compress = zipfile.ZIP_STORED if path.startswith("archive/") else \
                    zipfile.ZIP_DEFLATED
                if isinstance(source, Path):
                    package_zip.write(source, path, compress_type=compress)
                else:
                    package_zip.writestr(path, source, compress_type=compress)
            package_zip.writestr("datapackage.json", package,
                                 compress_type=zipfile.ZIP_DEFLATED)
            package_zip.writestr("datapackage-digest.json",
                                 json.dumps(digest, indent=2) + "\n",
                                 compress_type=zipfile.ZIP_DEFLATED)
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)
    return {"captures": len(sealed), "files": len(files) + 2, "pages": len(pages),
            "warc_files": sum(1 for p, _ in files if p.startswith("archive/")),
            "secrets": ({**found.summary(), "allowed": allow_secrets and not found.clean}
                        if found.session else None)}


def _sealed(archive: Archive, capture_id: str) -> manifest.Sealed:
    """The capture's manifest, its WARC files checked to be the sealed ones."""
    sealed, content = manifest.read_capture(archive.manifests_dir, capture_id)
    packages = manifest.imported_packages(content)
    if packages:
        raise UsageError(f"an imported WACZ: hand over {packages[0]} itself, with `custody "
                         "bundle` for its proof; nothing was exported", where=capture_id)
    problem = manifest.unsealed_file(archive.root, content)
    if problem:
        raise EvidenceFails(f"{problem} (custody verify says more); nothing was exported",
                         where=capture_id)
    return sealed


def _proof(archive: Archive, ledger: Ledger, sealed: manifest.Sealed) -> list[tuple[str, Any]]:
    cid = sealed.capture_id
    try:
        proof = ledger.prove(sealed)
    except LookupError as exc:
        raise EvidenceFails(f"cannot prove inclusion: {exc}", where=cid) from exc
    files: list[tuple[str, Any]] = [
        (f"custody/{cid}.manifest.json", sealed.path),
        (f"custody/{cid}.manifest.json.sig", sealed.path.with_name(sealed.path.name + ".sig")),
        (f"custody/{cid}.inclusion-proof.json", (json.dumps(proof, indent=2) + "\n").encode())]
    for number, token in enumerate(timestamp.token_paths(sealed.path), start=1):
        suffix = "tsr" if number == 1 else f"{number}.tsr"
        files.append((f"custody/{cid}.manifest.json.{suffix}", token))
    return files


def _pages(content: dict[str, Any]) -> list[dict[str, Any]]:
    """The capture's HTML pages: each 2xx text/html response, titled from its document."""
    titles = {d.get("record_id"): (d.get("metadata") or {}).get("title")
              for d in content.get("documents") or [] if isinstance(d, dict)}
    out = []
    for record in content.get("records") or []:
        if record.get("type") != "response" or not str(record.get("http_status") or "") \
                .startswith("2") or "html" not in str(record.get("payload_type") or ""):
            continue
        page = {"id": record["record_id"].strip("<>").removeprefix("urn:uuid:"),
                "url": record["target_uri"], "ts": record["date"],
                "capture_id": content.get("capture_id")}
        if titles.get(record["record_id"]):
            page["title"] = titles[record["record_id"]]
        out.append(page)
    return out


def _pages_jsonl(pages: list[dict[str, Any]]) -> bytes:
    head = {"format": "json-pages-1.0", "id": "pages", "title": "All Pages"}
    return "".join(json.dumps(p, ensure_ascii=False) + "\n" for p in [head, *pages]).encode()


def _datapackage(files: list[tuple[str, Path | bytes]], sealed: list[manifest.Sealed],
                 pages: list[dict[str, Any]]) -> bytes:
    resources = []
    for path, source in files:
        if isinstance(source, Path):
            size, digest = file_sha256(source)
        else:
            size, digest = len(source), hashlib.sha256(source).hexdigest()
        resources.append({"name": _NAME.sub("-", path.lower().replace("/", "-")),
                          "path": path, "hash": f"sha256:{digest}", "bytes": size})
    now = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    first = (sealed[0].content or {}) if sealed else {}
    package: dict[str, Any] = {
        "profile": "data-package", "wacz_version": WACZ_VERSION,
        "title": "custody captures " + ", ".join(s.capture_id for s in sealed),
        "description": "Sealed captures of a custody archive, with their proof under "
                       "custody/ (see custody/VERIFY.md).",
        "created": now, "modified": now, "software": f"custody {__version__}",
        "resources": resources}
    if first.get("final_url") or first.get("seed_url"):
        package["mainPageUrl"] = first.get("final_url") or first.get("seed_url")
        package["mainPageDate"] = first.get("started_at")
    return (json.dumps(package, indent=2, ensure_ascii=False) + "\n").encode()


def _verify_md(principal: str, sealed: list[manifest.Sealed], have_roots: bool) -> str:
    """The commands that check the package with standard tools, for these captures, each
    indented as a bundle's VERIFY.md indents them (bundle.verify_commands reads both)."""
    signer = shlex.quote(principal)
    run = COMMAND_INDENT
    steps = [
        "# Checking this WACZ without custody",
        "",
        "Unzip it; in the folder it made, run these. Each must succeed; none needs custody.",
        "You need OpenSSH 8.2 or later, OpenSSL and Python 3.",
        "",
        "1. Every file is the one datapackage.json lists, and datapackage.json the one",
        "   datapackage-digest.json names (`wacz validate -f FILE.wacz` checks this too):",
        "",
        run + "python3 -c \"import hashlib,json; d=json.load(open('datapackage-digest.json'));"
        " assert d['hash'] == 'sha256:' + hashlib.sha256(open('datapackage.json','rb')"
        ".read()).hexdigest(); print('datapackage.json: OK')\"",
        run + "python3 -c \"import hashlib,json; rs=json.load(open('datapackage.json'))"
        "['resources']; bad=[r['path'] for r in rs if r['hash'] != 'sha256:' + "
        "hashlib.sha256(open(r['path'],'rb').read()).hexdigest()]; print(len(rs) - len(bad), "
        "'files OK'); assert not bad, bad\"",
        "",
        "2. The archivist who exported it signed datapackage.json, and the ledger checkpoint",
        "   the inclusion proofs lead to:",
        "",
        run + "python3 -c \"import json; print(json.load(open('datapackage-digest.json'))"
        f"['{SIGNED}']['signature'], end='')\" > datapackage.json.sig",
        run + f"ssh-keygen -Y verify -f custody/allowed_signers -I {signer} "
        f"-n {sshsig.MANIFEST_NAMESPACE} -s datapackage.json.sig < datapackage.json",
        run + f"ssh-keygen -Y verify -f custody/allowed_signers -I {signer} "
        f"-n {sshsig.CHECKPOINT_NAMESPACE} -s custody/checkpoint.sig < custody/checkpoint",
        "",
        "3. Each capture's manifest was signed when it was made (it seals the sha256 of each",
        "   of its WARC files, as datapackage.json lists them), its RFC 3161 timestamp holds,",
        "   and it is in the ledger:",
        "",
    ]
    for item in sealed:
        content = item.content or {}
        cid = item.capture_id
        operator = shlex.quote(str((content.get("collector") or {}).get("operator")))
        started = manifest.when(content.get("started_at"))
        when = f" -Overify-time={started.strftime('%Y%m%d%H%M%S')}" if started else ""
        steps.append(run + f"ssh-keygen -Y verify -f custody/allowed_signers -I {operator} "
                     f"-n {sshsig.MANIFEST_NAMESPACE} -s custody/{cid}.manifest.json.sig"
                     f"{when} < custody/{cid}.manifest.json")
        if have_roots and timestamp.token_paths(item.path):
            steps.append(run + f"openssl ts -verify -data custody/{cid}.manifest.json -in "
                         f"custody/{cid}.manifest.json.tsr -CAfile custody/tsa-roots.pem")
        steps.append(run + f"python3 custody/verify_inclusion.py custody/{cid}.manifest.json"
                     f" custody/{cid}.inclusion-proof.json custody/checkpoint")
    return "\n".join(steps) + "\n"
