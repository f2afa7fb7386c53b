"""Proving a capture to others: timestamps, the ledger, the custody log and evidence
bundles."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from ..core.errors import ExitCode, UsageError
from .common import (
    allow_secrets_option,
    complete_seals,
    json_option,
    key_at_hand,
    root_option,
    search_before,
    signing_key,
)

# -- timestamps, the ledger, the log, bundles ----------------------------------------------------


@click.command()
@root_option
@click.argument("capture_ids", nargs=-1)
@click.option("--tsa", multiple=True, metavar="URL",
              help="Ask this TSA (repeatable; default: those the capture asked, or custody.toml).")
def timestamp(root: str | None, capture_ids: tuple[str, ...], tsa: tuple[str, ...]) -> None:
    """Ask TSAs again for captures whose timestamp is pending (or for the named ones).

    \b
    custody timestamp
    custody timestamp 20261121T101500Z-1a2b3c4d --tsa https://tsa.example/tsr
    """
    from ..core.archive import Archive
    from ..core.config import load as load_config
    from ..core.errors import NotFound
    from ..seal import manifest
    from ..seal import timestamp as tsp
    from ..seal.custody_log import CustodyLog
    from ..seal.sealing import companion_digests

    for url in tsa:
        if not url.lower().startswith(("http://", "https://")):
            raise UsageError(f"--tsa {url}: a TSA is an http:// or https:// URL")
    arch = Archive.open(root)
    if capture_ids:
        targets = [manifest.manifest_path(arch.manifests_dir, c) for c in capture_ids]
        for path in targets:
            if not path.exists():
                raise NotFound("no such capture", where=path.stem)
    else:
        targets = [p.with_name(p.name.removesuffix(tsp.PENDING_SUFFIX))
                   for p in sorted(arch.manifests_dir.glob("*" + tsp.PENDING_SUFFIX))]
    if not targets:
        click.echo("no timestamps pending", err=True)
        return
    key_obj = None
    still_pending = 0
    said: set[str] = set()  # the authorities whose failure was said
    with arch.lock(), arch.sealing():
        for path in targets:
            sealed = manifest.read(path)
            asked = ((sealed.content or {}).get("settings") or {}).get("tsa") or []
            urls = list(tsa) or asked or load_config(arch.root).tsa
            if not urls:
                raise UsageError("no TSA to ask (--tsa URL, or custody.toml)", where=path.stem)
            # a capture with no token owed (none asked for, or tokens already) stays so
            # when this attempt fails: no pending mark that every verify would then note
            owed = tsp.pending_path(path).exists()
            written, errors = tsp.stamp(path, sealed.data, urls, owed=owed)
            for error in errors:  # each authority's failure once, not once a capture
                url = next((u for u in urls if error.startswith(f"{u}: ")), error)
                if url not in said:
                    said.add(url)
                    click.echo(f"custody: failed: {error}", err=True)
            if written:
                click.echo(f"{sealed.capture_id}  {len(written)} timestamp(s)")
                key_obj = key_obj or signing_key(arch)
                CustodyLog(arch.manifests_dir).append(
                    "timestamped", key=key_obj,
                    who=arch.principal_for(key_obj.public_key()) or "unknown",
                    details={"capture_id": sealed.capture_id,
                             "tokens": [p.name for p in written],
                             "files": companion_digests(arch, sealed.capture_id, written)})
            else:
                still_pending += 1
    if still_pending:
        click.echo(f"custody: {still_pending} of {len(targets)} capture(s) still without a "
                   "token: `custody timestamp` asks again", err=True)
        sys.exit(ExitCode.FETCH)


@click.group()
def ledger() -> None:
    """The Merkle ledger of sealed manifests and its signed checkpoints."""


@ledger.command("checkpoint")
@root_option
def ledger_checkpoint(root: str | None) -> None:
    """Print the latest signed checkpoint, for a partner to keep.

    \b
    custody ledger checkpoint > checkpoint-2026-11-21.txt
    """
    from ..core.archive import Archive
    from ..core.errors import NotFound
    from ..seal.ledger import Ledger

    checkpoint = Ledger(Archive.open(root).manifests_dir).latest()
    if checkpoint is None:
        raise NotFound("the ledger has no checkpoint yet")
    click.echo(checkpoint.text, nl=False)


@ledger.command("proof")
@root_option
@click.argument("capture_id")
def ledger_proof(root: str | None, capture_id: str) -> None:
    """Print the inclusion proof of a capture in the latest checkpoint (JSON).

    \b
    custody ledger proof 20261121T101500Z-1a2b3c4d > inclusion-proof.json
    """
    from ..core.archive import Archive
    from ..core.capture_ids import check_capture_id
    from ..core.errors import NotFound
    from ..seal import manifest
    from ..seal.ledger import Ledger

    arch = Archive.open(root)
    sealed, _ = manifest.read_capture(arch.manifests_dir, check_capture_id(capture_id))
    try:
        proof = Ledger(arch.manifests_dir).prove(sealed)
    except LookupError as exc:
        raise NotFound(str(exc), where=capture_id) from exc
    click.echo(json.dumps(proof, indent=2))


@click.command("log")
@root_option
@json_option
@click.option("--tail", type=click.IntRange(min=1), metavar="N",
              help="Only the last N events (read from the log's end).")
@click.option("--capture", "capture_id", metavar="ID",
              help="Only the events about this capture (found through custody.db's index "
                   "of the log, each checked against the log itself).")
def log_command(root: str | None, as_json: bool, tail: int | None,
                capture_id: str | None) -> None:
    """Show the custody log: who captured, timestamped, verified, bundled, rotated keys.

    \b
    custody log
    custody log --tail 20
    custody log --capture 20261121T101500Z-1a2b3c4d --json
    """
    from ..core.archive import Archive
    from ..core.capture_ids import check_capture_id
    from ..seal.custody_log import CustodyLog
    from ..seal.log_events import of_capture

    arch = Archive.open(root)
    log = CustodyLog(arch.manifests_dir)
    if capture_id is not None:
        found, _ = of_capture(arch.root, check_capture_id(capture_id))
        if not found and not (arch.manifests_dir / f"{capture_id}.json").exists():
            from ..core.errors import NotFound

            raise NotFound("no such capture", where=capture_id)
        entries = [event.entry for event in found]
        if tail is not None:
            entries = entries[-tail:]
    elif tail is not None:
        entries = [json.loads(line) for line in log.tail(tail)]
    else:
        entries = log.entries()
    if as_json:
        click.echo(json.dumps(entries, ensure_ascii=False, indent=2))
        return
    for entry in entries:
        details = " ".join(f"{k}={v}" for k, v in (entry.get("details") or {}).items())
        click.echo(f"{entry.get('seq', 0):4d}  {entry.get('at')}  {entry.get('event', ''):12} "
                   f"{entry.get('who')}  {details}")


@click.command()
@root_option
@click.argument("capture_id")
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False),
              help="The folder to write the bundle into (new or empty).")
@click.option("--include-credentials", is_flag=True,
              help="Also put in the archivist's session secrets that the WARC holds only "
                   "as keyed hashes (never without this flag).")
@allow_secrets_option
def bundle(root: str | None, capture_id: str, output: str, include_credentials: bool,
           allow_secrets: bool) -> None:
    """Write an evidence bundle for one capture, checkable with standard tools alone.

    A capture made with the archivist's session is searched first for its secrets
    (`custody secrets`): where they appear, nothing is written without --allow-secrets.

    \b
    custody bundle 20261121T101500Z-1a2b3c4d -o evidence-for-court/
    """
    from ..core.archive import Archive
    from ..report.court import gather
    from ..report.html import render
    from ..seal.bundle import write_bundle

    arch = Archive.open(root)
    held = key_at_hand(arch)
    if held is not None:
        complete_seals(arch, *held)
    facts = gather(arch, capture_id)  # with a verification made now
    report = render(facts).encode("utf-8")  # a report for people, too
    secrets = search_before(arch, [capture_id], allow=allow_secrets,
                            extra={"report.html": report})
    from .handing_over import digest, handed_over, logged

    with handed_over(Path(output), folder="the bundle folder") as partial:
        files = write_bundle(arch, capture_id, partial, extra={"report.html": report},
                             verification=facts.verification,
                             include_credentials=include_credentials)
        details: dict[str, object] = {"capture_id": capture_id, "files": len(files),
                                      "sha256sums": digest(partial),
                                      "credentials": include_credentials}
        if secrets is not None:
            details["secrets"] = secrets
        logged(arch, "bundled", details)
    click.echo(f"{output}: {len(files)} files; see {Path(output) / 'VERIFY.md'}")
