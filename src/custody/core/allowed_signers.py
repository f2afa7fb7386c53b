"""allowed_signers: who may sign what, and when, as ssh-keygen reads the file.

A line holds principals (quoted when they are more than one plain word), options
(``namespaces``, ``valid-after``, ``valid-before``) and a key; custody writes the lines
ssh-keygen reads, and reads them back the way ssh-keygen does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from .sshsig import KEY_TYPES, parse_public_key_line, public_key_line

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


@dataclass(frozen=True)
class AllowedSigner:
    principals: tuple[str, ...]
    options: dict[str, str]
    public_key: Ed25519PublicKey

    def allows_namespace(self, namespace: str) -> bool:
        allowed = self.options.get("namespaces")
        return allowed is None or namespace in allowed.split(",")


def read_allowed_signers(path: Path) -> list[AllowedSigner]:
    """Parse ssh-keygen's allowed_signers format as ssh-keygen does: principals (a quoted
    field may hold spaces), options, then the key; lines it would reject are skipped."""
    signers = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        principals, rest = _token(line)
        if not principals or not rest:
            continue
        options: dict[str, str] = {}
        if not rest.startswith(tuple(f"{kind} " for kind in KEY_TYPES)):
            option_text, rest = _options_field(rest)
            options = dict(_split_option(o) for o in _option_items(option_text))
        try:
            key = parse_public_key_line(rest)
        except ValueError:
            continue
        signers.append(AllowedSigner(tuple(principals.split(",")), options, key))
    return signers


def _token(text: str) -> tuple[str, str]:
    """The principals field of a line and what follows it, split as OpenSSH's strdelim
    does: white space ends the field, and a double-quoted part (quotes removed) ends it
    where its closing quote is. ("", "") when a quote is not closed: ssh-keygen refuses it."""
    for i, ch in enumerate(text):
        if ch in " \t":
            return text[:i], text[i:].strip()
        if ch == '"':
            close = text.find('"', i + 1)
            if close < 0:
                return "", ""
            return text[:i] + text[i + 1 : close], text[close + 1 :].strip()
    return text, ""


def _options_field(text: str) -> tuple[str, str]:
    """The options field (quoted values may hold commas and spaces) and the key after it."""
    quoted = False
    for i, ch in enumerate(text):
        if ch == '"':
            quoted = not quoted
        elif ch in " \t" and not quoted:
            return text[:i], text[i:].strip()
    return text, ""


# What a principal may not hold: ssh-keygen's allowed_signers reads a double quote as the
# end of a quoted field, a comma as the next principal, * ? ! as patterns.
_PRINCIPAL_FORBIDDEN = set('",*?!')


def check_principal(principal: str) -> str:
    """The principal, stripped; ValueError saying why ssh-keygen could not carry it."""
    name = principal.strip()
    if not name:
        raise ValueError("the operator name is empty")
    bad = sorted({ch for ch in name if ch in _PRINCIPAL_FORBIDDEN
                  or ord(ch) < 0x20 or ord(ch) == 0x7F})
    if bad:
        shown = " ".join(repr(ch) for ch in bad)
        raise ValueError(f"the operator name {principal!r} holds {shown}, which ssh-keygen's "
                         "allowed_signers cannot carry in a principal (it reads a double "
                         "quote as the end of the name, a comma as a second name, * ? ! as "
                         "patterns); use a name without them")
    return name


def quote_principals(principals: tuple[str, ...] | list[str]) -> str:
    """The principals field as allowed_signers writes it: comma-separated, the whole field
    quoted unless it is plain words (ssh-keygen ends a field at its closing quote)."""
    names = ",".join(check_principal(p) for p in principals)
    plain = all(ch.isascii() and (ch.isalnum() or ch in "@._+-,") for ch in names)
    return names if plain else f'"{names}"'


def _option_items(text: str) -> list[str]:
    items, current, quoted = [], "", False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        elif ch == "," and not quoted:
            items.append(current)
            current = ""
            continue
        current += ch
    if current:
        items.append(current)
    return items


def _split_option(item: str) -> tuple[str, str]:
    name, _, value = item.partition("=")
    return name.strip().lower(), value.strip().strip('"')


def allowed_signers_line(principal: str, key: Ed25519PublicKey, namespace: str) -> str:
    return f'{quote_principals([principal])} namespaces="{namespace}" {public_key_line(key)}\n'


def parse_ssh_time(text: str) -> datetime:
    """allowed_signers' valid-after/valid-before: YYYYMMDD[HHMM[SS]], Z for UTC (custody's)."""
    value = text.strip().strip('"').removesuffix("Z")
    for fmt in ("%Y%m%d%H%M%S", "%Y%m%d%H%M", "%Y%m%d"):
        try:
            return datetime.strptime(value, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    raise ValueError(f"not a time: {text!r}")


def format_ssh_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%d%H%M%SZ")


def valid_at(signer: AllowedSigner, moment: datetime) -> bool:
    after, before = signer.options.get("valid-after"), signer.options.get("valid-before")
    if after and moment < parse_ssh_time(after):
        return False
    return not (before and moment >= parse_ssh_time(before))


def format_signer(signer: AllowedSigner) -> str:
    options = ",".join(f'{k}="{v}"' for k, v in signer.options.items())
    principals = quote_principals(signer.principals)
    return f"{principals} {options + ' ' if options else ''}{public_key_line(signer.public_key)}\n"
