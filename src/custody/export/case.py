"""A case as one signed package, to hand to counsel, a court or a partner.

The package (a folder) holds:

- ``captures/<id>/``: each capture's evidence bundle (seal/bundle.py), with its capture
  report, its own VERIFY.md and SHA256SUMS;
- ``events/`` and ``check_events.py``: the case's events as the custody log holds them,
  where they lie in it, and the log's signed head (case_events.py);
- ``report.html``: the case report (case_report.py);
- ``allowed_signers``: the archive's;
- ``SHA256SUMS``: every file above;
- ``manifest.json``: the case, its captures and their manifests' sha256, the events' span
  and the log's head, and every file with its size and sha256 (SHA256SUMS's own too),
  signed by the exporting archivist: ``manifest.json.sig``, an SSH signature in the
  manifest namespace (as a WACZ export's, and for the same reason: what the archivist
  attests, under the namespaces allowed_signers grants; its ``format`` makes it no
  capture's manifest), so that ``ssh-keygen -Y verify`` checks it;
- ``VERIFY.md``: the exact commands.

It is written in a folder beside the target and renamed into place once whole, so an
interrupted export leaves no package that looks complete. The case's state, events and
the log's head are read in one moment (under the archive's locks); the bundles after.
Each capture (with its report) and then the case's own files are searched for the
session secrets of captures made with them first (report/secrets.py): where they
appear, nothing is written unless asked.
"""

from __future__ import annotations

import hashlib
import json
import shlex
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .. import __version__
from ..annotate import notes_of, selectors_of_case, show_case, tags_of
from ..annotate.caselog import case_log, log_head
from ..core import sshsig
from ..core.allowed_signers import read_allowed_signers
from ..core.archive import Archive
from ..core.errors import EvidenceFails, UsageError
from ..report.court import gather
from ..report.html import render as render_capture
from ..report.secrets import Matcher, Search, known, search
from ..seal.bundle import COMMAND_INDENT, verify_commands, write_bundle
from ..seal.log_events import catch_up
from ..seal.manifest import read_capture
from . import case_report
from .case_events import write_events

FORMAT = "custody-case-package/1"


@dataclass(frozen=True)
class Package:
    case_id: str
    name: str
    capture_ids: list[str]
    events: int
    files: int
    manifest_sha256: str
    secrets: dict[str, Any] | None  # what the search for session secrets found, if any


def write_case_package(archive: Archive, ref: str, out: Path, *, key: Any, principal: str,
                       include_credentials: bool = False,
                       allow_secrets: bool = False) -> Package:
    """Write the package of the case into ``out`` (new, or an empty folder)."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UsageError("the package folder exists and is not empty", where=str(out))
    state = _read_case(archive, ref)
    partial = out.with_name(f".{out.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        package = _write(archive, state, partial, key, principal, include_credentials,
                         allow_secrets)
        if out.exists():
            out.rmdir()
        partial.rename(out)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return package


def _read_case(archive: Archive, ref: str) -> dict[str, Any]:
    """The case, its captures, tags, notes, selectors and events, and the log's head, as
    they stand in one moment: the index caught up, and no event written meanwhile."""
    import sqlite3

    with archive.lock(), archive.sealing():
        conn = sqlite3.connect(archive.db_path, timeout=10)
        try:
            with conn:
                catch_up(archive.root, conn)
        finally:
            conn.close()
        detail = show_case(archive, ref)
        ids = [c.capture_id for c in detail.captures]
        if not ids:
            raise UsageError("the case holds no capture to export", where=detail.case.name)
        return {"detail": detail, "ids": ids, "notes": notes_of(archive, case=detail.case.id),
                "tags": {cid: [t.tag for t in tags_of(archive, cid)] for cid in ids},
                "selectors": selectors_of_case(archive, detail.case.id),
                "events": case_log(archive, detail.case.id), "head": log_head(archive)}


def _write(archive: Archive, state: dict[str, Any], folder: Path, key: Any, principal: str,
           include_credentials: bool, allow_secrets: bool) -> Package:
    detail = state["detail"]
    found = Search()
    rows = []
    bundles: dict[str, list[str]] = {}
    failing = []
    for capture in detail.captures:
        cid = capture.capture_id
        checked = gather(archive, cid)
        if checked.verification == "failed":  # each one named, then nothing written
            failing.append(cid)
            continue
        report = render_capture(checked).encode("utf-8")
        one = search(archive, [cid], extra={f"captures/{cid}/report.html": report})
        one.refuse(allow=allow_secrets)
        _merge(found, one)
        written = write_bundle(archive, cid, folder / "captures" / cid,
                               extra={"report.html": report},
                               verification=checked.verification,
                               include_credentials=include_credentials)
        bundles[cid] = [f"captures/{cid}/{name}" for name in written]
        rows.append({**capture.__dict__, "tags": state["tags"][cid],
                     "manifest_sha256": checked.manifest_sha256,
                     "verification": checked.verification})
    if failing:
        raise EvidenceFails(f"{len(failing)} of the case's {len(detail.captures)} captures "
                            f"fail verification (custody verify {' '.join(failing)} says "
                            "where); no package was written", where=detail.case.name)
    keys = {sshsig.fingerprint(s.public_key): s.public_key
            for s in read_allowed_signers(archive.allowed_signers)}
    files = [name for names in bundles.values() for name in names]
    files += write_events(folder, state["events"], state["head"], keys)
    shutil.copyfile(archive.allowed_signers, folder / "allowed_signers")
    files.append("allowed_signers")
    head_count, head_sha = _head(state["head"])
    verify_md = _verify_md(archive, detail.case, principal, state["ids"], folder)
    facts = {"case": detail.case, "captures": rows, "notes": state["notes"],
             "standing": sum(1 for n in state["notes"] if n.standing),
             "selectors": state["selectors"], "events": [_event(e) for e in state["events"]],
             "head": {"count": head_count, "last_sha256": head_sha},
             "made_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
             "principal": principal, "fingerprint": sshsig.fingerprint(key.public_key()),
             "verify_md": verify_md}
    (folder / "report.html").write_text(case_report.render(facts), encoding="utf-8")
    (folder / "VERIFY.md").write_text(verify_md, encoding="utf-8")
    files += ["report.html", "VERIFY.md"]
    _refuse_in_own_files(archive, state["ids"], folder, found, allow_secrets)
    sums = "".join(f"{_sha256(folder / name)}  {name}\n" for name in files)
    (folder / "SHA256SUMS").write_text(sums, encoding="utf-8")
    manifest = _manifest(detail.case, state, folder, files, principal, key, facts)
    (folder / "manifest.json").write_bytes(manifest)
    (folder / "manifest.json.sig").write_text(
        sshsig.sign(key, manifest, sshsig.MANIFEST_NAMESPACE), encoding="ascii")
    return Package(detail.case.id, detail.case.name, state["ids"], len(state["events"]),
                   len(files) + 3, hashlib.sha256(manifest).hexdigest(),
                   {**found.summary(), "allowed": bool(allow_secrets and not found.clean)}
                   if found.session else None)


def _merge(into: Search, one: Search) -> None:
    into.searched += one.searched
    into.short += one.short
    into.unsearchable += one.unsearchable
    into.places += one.places
    into.pictures += one.pictures


def _refuse_in_own_files(archive: Archive, ids: list[str], folder: Path, found: Search,
                         allow: bool) -> None:
    """The case's own files (its report, the events: notes quote pages) searched for every
    capture's session secrets; SecretsFound, unless allowed, where they appear."""
    secrets = Search()
    for cid in ids:
        known(archive, read_capture(archive.manifests_dir, cid)[1], secrets)
    if not secrets.searched:
        return
    matcher = Matcher(secrets.searched)
    mine = Search()
    for name in ("report.html", "VERIFY.md", "events/events.jsonl"):
        mine.places += [(s, name) for s in matcher.find((folder / name).read_bytes())]
    mine.refuse(allow=allow)
    found.places += mine.places


def _event(logged: Any) -> dict[str, Any]:
    entry = logged.entry
    details = entry.get("details") or {}
    return {"seq": logged.seq, "at": entry.get("at"), "who": entry.get("who"),
            "account": details.get("account"), "event": entry.get("event"),
            "summary": case_report.summary(entry)}


def _head(head: str) -> tuple[int, str]:
    import base64

    lines = head.partition("\n\n")[0].split("\n")
    return int(lines[1]), base64.b64decode(lines[2]).hex()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _manifest(case: Any, state: dict[str, Any], folder: Path, files: list[str],
              principal: str, key: Any, facts: dict[str, Any]) -> bytes:
    events = state["events"]
    listed = [*files, "SHA256SUMS"]
    content = {
        "format": FORMAT,
        "case": {"id": case.id, "name": case.name, "status": case.status,
                 "description": case.description, "created_at": case.created_at,
                 "created_by": case.created_by},
        "exported_at": facts["made_at"], "exported_by": principal,
        "key_fingerprint": sshsig.fingerprint(key.public_key()),
        "software": f"custody {__version__}",
        "captures": [{"capture_id": row["capture_id"], "manifest_sha256": row["manifest_sha256"],
                      "bundle": f"captures/{row['capture_id']}/",
                      "verified_at_export": row["verification"]} for row in facts["captures"]],
        "events": {"count": len(events), "seqs": [e.seq for e in events],
                   "log_head": facts["head"]},
        "notes": len(state["notes"]),
        "files": [{"path": name, "bytes": (folder / name).stat().st_size,
                   "sha256": _sha256(folder / name)} for name in listed],
    }
    return (json.dumps(content, indent=2, ensure_ascii=False) + "\n").encode()


def _verify_md(archive: Archive, case: Any, principal: str, ids: list[str],
               folder: Path) -> str:
    """VERIFY.md: the commands, run in the package's folder, each of which must succeed."""
    run = COMMAND_INDENT
    signer = shlex.quote(principal)
    lines = [
        f"# Verifying the package of case {case.id}",
        "",
        f"Case: {_code(case.name)}  ",
        f"Exported by: {_code(principal)}",
        "",
        "Run these in this folder. Each must succeed; none needs custody. You need coreutils,",
        "OpenSSH 8.2 or later, OpenSSL 3, Python 3 and `pip install warcio`.",
        "",
        "1. The archivist who exported it signed manifest.json, which lists every file with",
        "   its sha256 (compare the key fingerprint with one you had from the archivist):",
        "",
        run + f"ssh-keygen -Y verify -f allowed_signers -I {signer} "
        f"-n {sshsig.MANIFEST_NAMESPACE} -s manifest.json.sig < manifest.json",
        "",
        "2. Every file is the one manifest.json lists (SHA256SUMS is, and it lists the rest):",
        "",
        run + "python3 -c \"import hashlib,json; m=json.load(open('manifest.json')); "
        "f={x['path']: x['sha256'] for x in m['files']}; assert f['SHA256SUMS'] == "
        "hashlib.sha256(open('SHA256SUMS','rb').read()).hexdigest(); "
        "print('SHA256SUMS: the one manifest.json lists')\"",
        run + "sha256sum -c --quiet SHA256SUMS",
        "",
        "3. The case's events -- its creation and changes, the tags and notes on its",
        "   captures, their seals -- are lines of the archive's custody log, each signed by",
        "   an archivist of allowed_signers: check_events.py holds each line to its place",
        "   and lays out what each key signed; openssl checks every signature, and the",
        "   log's signed head (events/log.head) at the time of the export:",
        "",
        run + "python3 check_events.py",
        run + "for m in events/signed/*.msg; do s=${m%.msg}; openssl pkeyutl -verify -pubin "
        "-inkey $s.pem -rawin -in $m -sigfile $s.sig > /dev/null || { echo \"FAILED: $m\"; "
        "exit 1; }; done; echo 'every event: Signature Verified Successfully'",
        run + "openssl pkeyutl -verify -pubin -inkey events/log.head.pem -rawin "
        "-in events/log.head.msg -sigfile events/log.head.sig",
        "",
        "   events/places.json gives each line's offset in the archive's",
        "   manifests/ledger/log.jsonl; with that log, `tail -c +$((OFFSET+1))",
        "   manifests/ledger/log.jsonl | head -c LENGTH | sha256sum` shows the line is there,",
        "   and the log's chain (each line's \"prev\", the sha256 of the line before) leads",
        "   from it to the head (`custody verify` checks all of it).",
        "",
        "4. Each capture's evidence bundle, by its own VERIFY.md (in captures/ID/):",
        "",
    ]
    for cid in ids:
        bundle = (folder / "captures" / cid / "VERIFY.md").read_text(encoding="utf-8")
        steps = " && ".join(verify_commands(bundle))
        lines.append(run + f"(cd captures/{cid} && {steps})")
    lines += ["", "report.html is the case report, for people; each capture's report is "
              "captures/ID/report.html.", ""]
    return "\n".join(lines)


def _code(text: str) -> str:
    """Text as a Markdown code span, which no viewer reads as HTML or markup (a name is
    anyone's words: `<script>` in a case's name must stay text)."""
    import re

    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    return f"{fence} {text} {fence}"

