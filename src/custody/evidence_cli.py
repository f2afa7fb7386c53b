"""Commands for proving a capture to others: timestamps, the ledger, the log, key
rotation and evidence bundles. They add themselves to ``custody.cli.main``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from .cli import (
    _load_key,
    _log_event,
    _passphrase,
    handles_errors,
    json_option,
    key,
    main,
    root_option,
)
from .errors import ExitCode, UsageError

# -- timestamps, the ledger, the log, bundles ----------------------------------------------------


@main.command()
@root_option
@click.argument("capture_ids", nargs=-1)
@click.option("--tsa", multiple=True, metavar="URL",
              help="Ask this TSA (repeatable; default: those the capture asked, or custody.toml).")
@handles_errors
def timestamp(root: str | None, capture_ids: tuple[str, ...], tsa: tuple[str, ...]) -> None:
    """Ask TSAs again for captures whose timestamp is pending (or for the named ones).

    \b
    custody timestamp
    custody timestamp 20261121T101500Z-1a2b3c4d --tsa https://tsa.example/tsr
    """
    from . import manifest
    from . import timestamp as tsp
    from .config import load as load_config
    from .errors import NotFound
    from .events import CustodyLog
    from .root import Archive

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
    with arch.lock(), arch.sealing():
        for path in targets:
            sealed = manifest.read(path)
            asked = ((sealed.content or {}).get("settings") or {}).get("tsa") or []
            urls = list(tsa) or asked or load_config(arch.root).tsa
            if not urls:
                raise UsageError("no TSA to ask (--tsa URL, or custody.toml)", where=path.stem)
            written, errors = tsp.stamp(path, sealed.data, urls)
            for error in errors:
                click.echo(f"custody: failed: {error}", err=True)
            if written:
                click.echo(f"{sealed.capture_id}  {len(written)} timestamp(s)")
                key_obj = key_obj or _load_key()
                CustodyLog(arch.manifests_dir).append(
                    "timestamped", key=key_obj,
                    who=arch.principal_for(key_obj.public_key()) or "unknown",
                    details={"capture_id": sealed.capture_id,
                             "tokens": [p.name for p in written]})
            else:
                still_pending += 1
    if still_pending:
        sys.exit(ExitCode.FETCH)


@main.group()
def ledger() -> None:
    """The Merkle ledger of sealed manifests and its signed checkpoints."""


@ledger.command("checkpoint")
@root_option
@handles_errors
def ledger_checkpoint(root: str | None) -> None:
    """Print the latest signed checkpoint, for a partner to keep.

    \b
    custody ledger checkpoint > checkpoint-2026-11-21.txt
    """
    from .errors import NotFound
    from .ledger import Ledger
    from .root import Archive

    checkpoint = Ledger(Archive.open(root).manifests_dir).latest()
    if checkpoint is None:
        raise NotFound("the ledger has no checkpoint yet")
    click.echo(checkpoint.text, nl=False)


@ledger.command("proof")
@root_option
@click.argument("capture_id")
@handles_errors
def ledger_proof(root: str | None, capture_id: str) -> None:
    """Print the inclusion proof of a capture in the latest checkpoint (JSON).

    \b
    custody ledger proof 20261121T101500Z-1a2b3c4d > inclusion-proof.json
    """
    from .errors import NotFound
    from .ledger import Ledger
    from .manifest import check_capture_id
    from .root import Archive

    try:
        proof = Ledger(Archive.open(root).manifests_dir).inclusion(check_capture_id(capture_id))
    except LookupError as exc:
        raise NotFound(str(exc), where=capture_id) from exc
    click.echo(json.dumps(proof, indent=2))


@main.command("log")
@root_option
@json_option
@handles_errors
def log_command(root: str | None, as_json: bool) -> None:
    """Show the custody log: who captured, timestamped, verified, bundled, rotated keys.

    \b
    custody log
    custody log --json
    """
    from .events import CustodyLog
    from .root import Archive

    entries = CustodyLog(Archive.open(root).manifests_dir).entries()
    if as_json:
        click.echo(json.dumps(entries, ensure_ascii=False, indent=2))
        return
    for entry in entries:
        details = " ".join(f"{k}={v}" for k, v in entry["details"].items())
        click.echo(f"{entry['seq']:4d}  {entry['at']}  {entry['event']:12} {entry['who']}  "
                   f"{details}")


@key.command("rotate")
@root_option
@click.option("--passphrase", is_flag=True, help="Protect the new key with a passphrase.")
@handles_errors
def key_rotate(root: str | None, passphrase: bool) -> None:
    """Make a new key; the old one stays in allowed_signers, valid only before now.

    \b
    custody key rotate
    """
    from . import signing
    from .events import CustodyLog
    from .root import Archive, default_key_path, rotate_key

    arch = Archive.open(root)
    path = default_key_path()
    old_secret = _passphrase(path.exists() and signing.key_is_encrypted(path))
    new_secret = _passphrase(True, confirm=True) if passphrase else None
    with arch.lock(), arch.sealing():
        old, new, principal = rotate_key(arch, path, passphrase=new_secret,
                                         old_passphrase=old_secret)
        CustodyLog(arch.manifests_dir).append(
            "key-rotated", key=old, who=principal,
            details={"old": signing.fingerprint(old.public_key()),
                     "new": signing.fingerprint(new.public_key())})
    click.echo(f"new key {signing.fingerprint(new.public_key())}; "
               f"{signing.fingerprint(old.public_key())} retired")


@key.command("add")
@root_option
@click.argument("public_key")
@click.option("--operator", required=True,
              help="The new archivist's name or e-mail, as manifests will show it.")
@handles_errors
def key_add(root: str | None, public_key: str, operator: str) -> None:
    """Admit another archivist's key: allowed_signers, and a signed `key-added` event.

    PUBLIC_KEY is an ssh-ed25519 line, or a .pub file holding one. Run it with your own
    key, already an archivist of the archive: the event you sign is what proves the new
    key's admission to anyone who verifies.

    \b
    custody key add ~/colleague_ed25519.pub --operator "B. Researcher <br@example.org>"
    """
    from . import signing
    from .events import CustodyLog
    from .root import Archive
    from .trust import check_signing_key

    try:
        signing.check_principal(operator)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    text = public_key
    if not public_key.startswith("ssh-"):
        try:
            text = Path(public_key).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"not an ssh-ed25519 key line, nor a file holding one ({exc})",
                             where=public_key) from exc
    try:
        new = signing.parse_public_key_line(text.strip())
    except ValueError as exc:
        raise UsageError(str(exc), where=public_key) from exc
    arch = Archive.open(root)
    own = _load_key(arch)
    principal = check_signing_key(arch, own.public_key())
    with arch.lock(), arch.sealing():
        if not arch.add_signer(operator, new):
            raise UsageError("that key is in allowed_signers already",
                             where=signing.fingerprint(new))
        CustodyLog(arch.manifests_dir).append(
            "key-added", key=own, who=principal,
            details={"key": signing.fingerprint(new), "principal": operator})
    click.echo(f"added {operator} ({signing.fingerprint(new)}), admitted by {principal}")


@main.command()
@root_option
@click.argument("capture_id")
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False),
              help="The folder to write the bundle into (new or empty).")
@handles_errors
def bundle(root: str | None, capture_id: str, output: str) -> None:
    """Write an evidence bundle for one capture, checkable with standard tools alone.

    \b
    custody bundle 20261121T101500Z-1a2b3c4d -o evidence-for-court/
    """
    from .bundle import write_bundle
    from .root import Archive

    arch = Archive.open(root)
    files = write_bundle(arch, capture_id, Path(output))
    _log_event(arch, "bundled", {"capture_id": capture_id, "files": len(files)})
    click.echo(f"{output}: {len(files)} files; see {Path(output) / 'VERIFY.md'}")
