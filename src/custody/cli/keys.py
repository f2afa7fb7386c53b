"""Setting up: `custody init` makes an archive and its first archivist's key; `custody key`
shows the key, admits other archivists' keys and rotates one's own."""

from __future__ import annotations

from pathlib import Path

import click

from ..core.config import FILENAME
from ..core.errors import UsageError
from .common import ask_passphrase, root_option, signing_key


def _tsa_url(url: str) -> None:
    """A URL custody.toml can hold and httpx can ask: http(s), a host, a port that is
    one, no credentials (they would sit in clear in custody.toml), printable UTF-8."""
    from urllib.parse import urlsplit

    try:
        url.encode("utf-8")
        parts = urlsplit(url)
        _ = parts.port  # a port past 65535 raises here
    except (ValueError, UnicodeError):
        raise UsageError(f"--tsa: not a URL: {url!r}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"--tsa: not an http(s) URL: {url!r}")
    if parts.username is not None or parts.password is not None:
        raise UsageError("--tsa: a URL with credentials would be kept in clear in custody.toml")
    if not url.isprintable() or any(c.isspace() for c in url):
        raise UsageError(f"--tsa: not a URL: {url!r}")


def _roots_given(path: Path) -> bytes:
    """The PEM file --tsa-roots names, read now: at least one certificate, or one line."""
    from cryptography import x509

    try:
        pem = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"--tsa-roots: cannot be read ({exc.strerror or exc})",
                         where=str(path)) from None
    try:
        if x509.load_pem_x509_certificates(pem):
            return pem
    except ValueError:
        pass
    raise UsageError("--tsa-roots: no PEM certificate in it", where=str(path))


def _operator(name: str) -> str:
    from ..core import allowed_signers

    try:
        return allowed_signers.check_principal(name)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc


@click.command()
@root_option
@click.option("--operator", help="Who archives: name or e-mail, as it will appear in manifests.")
@click.option("--passphrase", is_flag=True,
              help="Protect a new key with a passphrase (asked for, or CUSTODY_KEY_PASSPHRASE).")
@click.option("--tsa", "tsas", multiple=True, metavar="URL",
              help="A new archive asks this RFC 3161 authority after each seal (repeatable), "
                   "instead of the three public ones it asks by default.")
@click.option("--tsa-roots", type=click.Path(path_type=Path),
              help="With --tsa: the PEM roots its tokens are checked against (default: "
                   "Mozilla's CA bundle, as certifi ships it).")
@click.option("--no-tsa", is_flag=True,
              help="A new archive asks no time-stamping authority (`custody timestamp` can "
                   "add tokens later).")
def init(root: str | None, operator: str | None, passphrase: bool, tsas: tuple[str, ...],
         tsa_roots: Path | None, no_tsa: bool) -> None:
    """Make an archive folder, and the archivist's key if there is none yet.

    A new archive's custody.toml asks three public time-stamping authorities
    (DigiCert, Sectigo, GlobalSign) to timestamp every seal, their tokens checked
    against Mozilla's roots copied into tsa-roots.pem; --tsa and --no-tsa choose
    otherwise. An archive that has a custody.toml, or captures, keeps its settings.

    \b
    custody init --operator "A. Investigator <ai@example.org>"
    CUSTODY_KEY=~/keys/custody custody init --root ~/evidence
    custody init --tsa https://tsa.example/tsr --tsa-roots example-root.pem
    """
    from ..core import keyfile
    from ..core.agent import agent_fingerprint
    from ..core.archive import Archive, default_key_path, default_operator
    from ..index.db import connect
    from ..seal import archivists, authorities

    if operator is not None:
        _operator(operator)
    if no_tsa and (tsas or tsa_roots):
        raise UsageError("--no-tsa asks no authority: give it without --tsa or --tsa-roots")
    if tsa_roots is not None and not tsas:
        raise UsageError("--tsa-roots is for the authorities --tsa names")
    for url in tsas:
        _tsa_url(url)
    roots_pem = _roots_given(tsa_roots) if tsa_roots is not None else None
    folder = Archive.resolve_root(root)
    # a new archive's settings: no custody.toml yet, and nothing sealed that asked otherwise
    fresh = not (folder / FILENAME).exists() and not any((folder / "manifests").glob("*.json"))
    if not fresh and (tsas or no_tsa):
        raise UsageError("this archive has its time-stamping settings already (custody.toml, "
                         "or captures sealed without one): edit custody.toml to change them",
                         where=str(folder))
    archive = Archive.create(root)
    said = authorities.write_settings(archive.root, [] if no_tsa else list(tsas) or None,
                                      roots_pem) if fresh else None
    key_path = default_key_path()
    in_agent = agent_fingerprint()
    if in_agent is None and key_path.resolve().is_relative_to(archive.root):
        signing_key(archive)  # refuses, saying why
    if in_agent is not None:  # the key stays in ssh-agent
        key = signing_key(archive)
        click.echo(f"using key {in_agent} in ssh-agent", err=True)
    elif key_path.exists():
        key = signing_key(archive)
        click.echo(f"using key {key_path}", err=True)
    else:
        secret = ask_passphrase(passphrase, confirm=True) if passphrase else None
        if passphrase and not secret:
            raise UsageError("--passphrase needs a terminal or CUSTODY_KEY_PASSPHRASE")
        key = keyfile.create_key(key_path, secret)
        click.echo(f"created key {key_path} (mode 600)", err=True)
    principal = operator or archive.principal_for(key.public_key()) or default_operator()
    if archivists.found(archive, key, principal):
        click.echo(f"added {principal} to {archive.allowed_signers}", err=True)
    connect(archive.db_path).conn.close()
    if said:
        click.echo(said, err=True)
    click.echo(str(archive.root))


@click.group()
def key() -> None:
    """The archivists' signing keys."""


@key.command("show")
def key_show() -> None:
    """Print the public key and its SHA256 fingerprint, as ssh does.

    \b
    custody key show
    """
    from ..core import sshsig
    from ..core.agent import agent_fingerprint
    from ..core.archive import default_key_path

    path = default_key_path()
    pub = path.with_name(path.name + ".pub")
    if agent_fingerprint() is not None:
        public = signing_key().public_key()
        where = "ssh-agent"
    else:
        public = (sshsig.parse_public_key_line(pub.read_text()) if pub.exists()
                  else signing_key().public_key())
        where = str(path)
    click.echo(sshsig.public_key_line(public))
    click.echo(f"256 {sshsig.fingerprint(public)} {where} (ED25519)")


@key.command("add")
@root_option
@click.argument("public_key")
@click.option("--operator", required=True,
              help="The new archivist's name or e-mail, as manifests will show it.")
def key_add(root: str | None, public_key: str, operator: str) -> None:
    """Admit another archivist's key: allowed_signers, and a signed `key-added` event.

    PUBLIC_KEY is an ssh-ed25519 line, or a .pub file holding one. Run it with your own
    key, already an archivist of the archive: the event you sign is what proves the new
    key's admission to anyone who verifies.

    \b
    custody key add ~/colleague_ed25519.pub --operator "B. Researcher <br@example.org>"
    """
    from ..core import sshsig
    from ..core.archive import Archive
    from ..seal import archivists

    _operator(operator)
    text = public_key
    if not public_key.startswith("ssh-"):
        try:
            text = Path(public_key).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"not an ssh-ed25519 key line, nor a file holding one ({exc})",
                             where=public_key) from exc
    try:
        new = sshsig.parse_public_key_line(text.strip())
    except ValueError as exc:
        raise UsageError(str(exc), where=public_key) from exc
    archive = Archive.open(root)
    principal = archivists.admit(archive, key=signing_key(archive), new=new, operator=operator)
    click.echo(f"added {operator} ({sshsig.fingerprint(new)}), admitted by {principal}")


@key.command("rotate")
@root_option
@click.option("--passphrase", is_flag=True, help="Protect the new key with a passphrase.")
def key_rotate(root: str | None, passphrase: bool) -> None:
    """Make a new key; the old one stays in allowed_signers, valid only before now.

    \b
    custody key rotate
    """
    from ..core import keyfile, sshsig
    from ..core.agent import agent_fingerprint
    from ..core.archive import Archive, default_key_path
    from ..core.errors import KeyProblem
    from ..seal import rotation

    if agent_fingerprint() is not None:
        raise KeyProblem("the key is held by ssh-agent: make the new one with ssh-keygen, "
                         "`ssh-add` it, admit it with `custody key add`, and point "
                         "CUSTODY_KEY at it")
    archive = Archive.open(root)
    path = default_key_path()
    old_secret = ask_passphrase(path.exists() and keyfile.key_is_encrypted(path))
    new_secret = ask_passphrase(True, confirm=True) if passphrase else None
    done = rotation.rotate(archive, path, passphrase=new_secret, old_passphrase=old_secret)
    click.echo(("completed an interrupted rotation: " if done.completed else "") +
               f"new key {sshsig.fingerprint(done.new)}; {done.old} retired")
