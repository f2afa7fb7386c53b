"""Evidence bundles: one capture, self-contained, checkable with standard tools alone.

A bundle holds the manifest and its signature and timestamps, the TSA roots,
allowed_signers, the capture's WARC files (at the paths the manifest names), the
ledger checkpoint with its SSH signature, the inclusion proof, a standard-library
script that checks it, SHA256SUMS over all of it, and VERIFY.md with the exact
commands for this capture.
"""

from __future__ import annotations

import hashlib
import json
import shlex
import shutil
from datetime import datetime
from pathlib import Path

from ..core.archive import Archive
from ..core.config import load as load_config
from ..core.errors import EvidenceFails, UsageError, refuse_failed
from ..warc.payload import copy_block
from . import inclusion_script, manifest, timestamp
from .ledger import Ledger


def write_bundle(archive: Archive, capture_id: str, out: Path,
                 extra: dict[str, bytes] | None = None, *, verification: str,
                 include_credentials: bool = False) -> list[str]:
    """Write the bundle into ``out`` (new or empty); return the files written. ``extra``:
    more files (the capture report), listed in SHA256SUMS with the rest. ``verification``:
    the status of the capture's verification made now (report/court.gather makes one):
    one that failed writes nothing (EvidenceFails). The archivist's credentials (the
    values redacted in the WARC) go in only with ``include_credentials``."""
    refuse_failed(verification, capture_id, "no bundle was written")
    sealed, content = manifest.read_capture(archive.manifests_dir, capture_id)
    credentials = manifest.credentials_file(archive.root, content, include_credentials)
    path = sealed.path
    if out.exists() and any(out.iterdir()):
        raise UsageError("the bundle folder exists and is not empty", where=str(out))
    ledger = Ledger(archive.manifests_dir)
    try:
        proof = ledger.prove(sealed)
    except LookupError as exc:
        raise EvidenceFails(f"cannot prove inclusion: {exc}", where=capture_id) from exc
    checkpoint = ledger.latest()
    assert checkpoint is not None
    out.mkdir(parents=True, exist_ok=True)
    files: list[str] = []

    def put(name: str, data: bytes | None = None, source: Path | None = None) -> None:
        target = out / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source is not None:
            shutil.copyfile(source, target)
        else:
            target.write_bytes(data or b"")
        files.append(name)

    put("manifest.json", source=path)
    put("manifest.json.sig", source=path.with_name(path.name + ".sig"))
    tokens = timestamp.token_paths(path)
    for number, token in enumerate(tokens, start=1):
        put("manifest.json.tsr" if number == 1 else f"manifest.json.{number}.tsr", source=token)
    roots = load_config(archive.root).tsa_roots
    if roots:
        put("tsa-roots.pem", b"".join(r.read_bytes() for r in roots))
    put("allowed_signers", source=archive.allowed_signers)
    for entry in content["warc_files"]:
        put(entry["path"], source=archive.root / entry["path"])
    if credentials is not None:
        put("credentials.json", source=credentials)
    renders = _renders(archive, content, out)
    files += [name for name, _ in renders]
    if renders:
        put("renders/index.json", (json.dumps(
            [{"file": name, "record_id": e["record_id"], "target_uri": e["target_uri"],
              "warc_path": e["warc_path"], "block_sha256": e["block_sha256"]}
             for name, e in renders], indent=2, ensure_ascii=False) + "\n").encode())
    put("checkpoint", checkpoint.text.encode())
    put("checkpoint.sig", source=ledger.dir / "checkpoint.sig")
    put("inclusion-proof.json", (json.dumps(proof, indent=2) + "\n").encode())
    put("verify_inclusion.py", inclusion_script.script().encode())
    put("VERIFY.md", verify_instructions(content, checkpoint.size, tokens, bool(roots),
                                         bool(renders)).encode())
    for name, data in (extra or {}).items():
        put(name, data)
    sums = "".join(f"{hashlib.sha256((out / f).read_bytes()).hexdigest()}  {f}\n"
                   for f in files)
    (out / "SHA256SUMS").write_text(sums)
    return [*files, "SHA256SUMS"]


RENDER_KINDS = {"screenshot": "png", "screenshot-unmarked": "png", "pdf": "pdf", "dom": "html"}


def _renders(archive: Archive, content: dict, out: Path) -> list[tuple[str, dict]]:
    """What the browser made of each page (screenshots, PDF, DOM), copied out of their
    WARC records as files a person can open: (file name, the manifest's record entry).
    A copy whose sha256 is not the one the manifest seals stops the bundle."""
    written: list[tuple[str, dict]] = []
    pages: dict[str, int] = {}
    for entry in content.get("records") or []:
        uri = entry.get("target_uri") or ""
        kind, _, page = uri.removeprefix("urn:").partition(":")
        if entry.get("type") != "resource" or kind not in RENDER_KINDS or not uri.startswith(
                "urn:"):
            continue
        number = pages.setdefault(page, len(pages) + 1)
        name = f"renders/{number:03d}-{kind}.{RENDER_KINDS[kind]}"
        if any(name == done for done, _ in written):  # a frame's DOM of the same page
            name = f"renders/{number:03d}-{kind}-{len(written):03d}.{RENDER_KINDS[kind]}"
        target = out / name
        target.parent.mkdir(parents=True, exist_ok=True)
        digest = copy_block(archive.root / entry["warc_path"], entry["offset"], target)
        if digest != entry.get("block_sha256"):
            raise UsageError(f"the record {entry['record_id']} is not the one sealed "
                             "(run custody verify)", where=entry["warc_path"])
        written.append((name, entry))
    return written


COMMAND_INDENT = " " * 7  # VERIFY.md's commands stand indented so, as code in its list
# the files' sha256 taken from the signed manifest alone, not from a list beside it
# (SHA256SUMS, renders/index.json), which a forger writes again too; written to a file
# first, so that a list that cannot be made fails the step
SEALED_WARCS = ("python3 -c 'import json; m = json.load(open(\"manifest.json\")); "
                "[print(f[\"sha256\"] + \"  \" + f[\"path\"]) for f in m[\"warc_files\"]]'"
                " > sealed-warcs.sha256 && sha256sum -c sealed-warcs.sha256")
# every render record the manifest seals, each with the file renders/index.json names for
# it (a record it names none for is a file that is not there)
SEALED_RENDERS = ("python3 -c 'import json; m = json.load(open(\"manifest.json\")); "
                  "f = {e[\"record_id\"]: e[\"file\"] for e in "
                  "json.load(open(\"renders/index.json\"))}; "
                  "k = tuple(\"urn:\" + n + \":\" for n in " + repr(tuple(RENDER_KINDS)).replace(
                      "'", "\"") + "); "
                  "[print(r[\"block_sha256\"] + \"  \" + f.get(r[\"record_id\"], "
                  "\"missing-\" + r[\"record_id\"])) for r in m[\"records\"] "
                  "if r[\"type\"] == \"resource\" and (r[\"target_uri\"] or \"\")"
                  ".startswith(k)]' > sealed-renders.sha256 && sha256sum -c sealed-renders.sha256")


def verify_commands(text: str) -> list[str]:
    """The commands a VERIFY.md gives, in order: its indented lines, a line ending in a
    backslash joined to the next."""
    commands, current = [], ""
    for line in text.splitlines():
        stripped = line.strip()
        if line.startswith(COMMAND_INDENT) and stripped:
            current += stripped.removesuffix("\\")
            if not stripped.endswith("\\"):
                commands.append(current)
                current = ""
    return commands


def verify_instructions(content: dict, tree_size: int, tokens: list[Path], have_roots: bool,
                        have_renders: bool = False) -> str:
    """VERIFY.md: the commands that check a bundle of the capture with standard tools."""
    principal = shlex.quote(content["collector"]["operator"])  # a name with spaces, say
    fingerprint = content["collector"]["key_fingerprint"]
    started = datetime.fromisoformat(content["started_at"].replace("Z", "+00:00"))
    verify_time = started.strftime("%Y%m%d%H%M%S")
    warcs = " ".join(f["path"] for f in content["warc_files"])
    lines = [
        f"# Verifying capture {content['capture_id']}",
        "",
        f"Seed URL: {content['seed_url']}  ",
        f"Captured: {content['started_at']} to {content['finished_at']} (UTC)  ",
        f"Sealed by: {content['collector']['operator']}, key {fingerprint}",
        "",
        "Run these in this folder. Each must succeed; none needs custody. You need coreutils,",
        "OpenSSH 8.2 or later, OpenSSL, Python 3 and `pip install warcio`.",
        "",
        "1. Every file is the one that was bundled (SHA256SUMS is not signed: this finds",
        "   damage in transit, not a change made with care; steps 2 and 3 find that):",
        "",
        "       sha256sum -c SHA256SUMS",
        "",
        "2. The manifest was signed by the archivist (compare the key fingerprint with one",
        "   you obtained from the archivist directly):",
        "",
        f"       ssh-keygen -Y verify -f allowed_signers -I {principal} -n custody-manifest \\",
        f"           -s manifest.json.sig -Overify-time={verify_time} < manifest.json",
        "",
        "   (`-Overify-time` checks the key was valid when the capture was made, which",
        "   matters once the archivist has rotated keys.)",
        "",
        "3. The WARC files are the ones the signed manifest seals (their sha256 are its",
        "   `warc_files`), and intact, record by record:",
        "",
        f"       {SEALED_WARCS}",
        f"       warcio check -v {warcs}",
        "",
    ]
    if have_renders:
        lines += [
            "   The page as the browser showed it -- screenshots (one with a band giving the",
            "   URL and the UTC time, one as rendered), PDF and DOM -- is in renders/, copied",
            "   from its WARC resource records (renders/index.json names them); each file's",
            "   sha256 is the block_sha256 the signed manifest seals for its record:",
            "",
            f"       {SEALED_RENDERS}",
            "",
        ]
    if tokens:
        lines += [
            "4. An independent time-stamping authority saw this exact manifest at genTime:",
            "",
            "       openssl ts -reply -in manifest.json.tsr -text | grep 'Time stamp'",
        ]
        ca = "tsa-roots.pem" if have_roots else "TSA-ROOT.pem"
        lines += [
            f"       openssl ts -verify -data manifest.json -in manifest.json.tsr -CAfile {ca}",
            "",
            "   If the TSA's certificate has expired since, verify at genTime instead: add",
            "   `-attime EPOCH`, where EPOCH is genTime in seconds (`date -d 'GENTIME' +%s`).",
        ]
        if not have_roots:
            lines += ["   TSA-ROOT.pem is the TSA's root certificate, from the TSA itself."]
        lines += [""]
    else:
        lines += ["4. (This capture has no RFC 3161 timestamp.)", ""]
    lines += [
        "5. The manifest is in the archive's ledger, whose checkpoint the archivist signed:",
        "",
        f"       ssh-keygen -Y verify -f allowed_signers -I {principal} "
        "-n custody-checkpoint -s checkpoint.sig < checkpoint",
        "       python3 verify_inclusion.py manifest.json inclusion-proof.json checkpoint",
        "",
        f"   The checkpoint covers {tree_size} sealed capture{'' if tree_size == 1 else 's'}. "
        "Keep it: a later checkpoint",
        "   of the same archive must extend it (`custody verify --against checkpoint`), so a",
        "   capture removed or reordered after today shows.",
        "",
        "The WARC files are in the paths the manifest names; any WARC tool (pywb,",
        "ReplayWeb.page, warcio) reads them. Each record holds what the server sent, as",
        "sent: where it sent an interim answer (103 Early Hints, 100 Continue) before the",
        "final one, those tools take the interim answer's status for the record's.",
        "",
        "Files beside these (report.html, when the bundle has one) are made from them for",
        "reading, and signed by nobody: what they show is evidence as far as the files",
        "the steps above check are.",
        "",
    ]
    return "\n".join(lines)
