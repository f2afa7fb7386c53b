"""The workbench's accounts, for a team (`custody serve --host`): names, roles and
passwords hashed with bcrypt, kept in a file outside the archive.

Outside, because an archive folder is handed to partners and courts, and a file of
password hashes must not go with it; by default in the user's config folder beside the
archivist's key (``CUSTODY_ACCOUNTS`` or ``--accounts`` names another), written
atomically, mode 0600. What an account may do is its role's:

- ``viewer``: read everything, verify, download reports, bundles and packages;
- ``investigator``: also capture, and annotate (cases, tags, notes);
- ``admin``: also manage the accounts.

Every change an account makes is an event in the custody log that names it.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from ..core.atomic import write_atomic
from ..core.errors import UsageError

ROLES = ("viewer", "investigator", "admin")
# what each role may do beyond reading; checked by the routes, one place
ALLOWED = {
    "viewer": frozenset({"verify", "download"}),
    "investigator": frozenset({"verify", "download", "capture", "annotate"}),
    "admin": frozenset({"verify", "download", "capture", "annotate", "admin"}),
}
MIN_PASSWORD = 12
MAX_PASSWORD = 72  # bcrypt reads no further: a longer one would be cut without a word
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
# a hash of nothing, checked against when the name is unknown, so that a wrong name
# costs the time a wrong password does (no telling names apart by the clock)
_DUMMY = b"$2b$12$/uHKqvz3Y/ihMzF/E/VGceJa.jOf2w5Zi4PtAOGz0rtm.7F/5iQOu"


def allowed(role: str, action: str) -> bool:
    """Whether the role may do the action ("read": every role, signed in)."""
    return role in ALLOWED and (action == "read" or action in ALLOWED[role])


@dataclass
class Account:
    name: str
    role: str
    password_hash: str
    created_at: str
    disabled: bool = False


def default_path() -> Path:
    named = os.environ.get("CUSTODY_ACCOUNTS")
    if named:
        return Path(named).expanduser()
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config) / "custody" / "accounts.json"


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise UsageError(f"account name {name!r}: 1 to 64 letters, digits and . _ @ -, "
                         "starting with a letter or digit")
    return name


def check_role(role: str) -> str:
    if role not in ROLES:
        raise UsageError(f"role {role!r}: one of {', '.join(ROLES)}")
    return role


def check_password(password: str) -> bytes:
    data = password.encode("utf-8")
    if len(password) < MIN_PASSWORD:
        raise UsageError(f"a password needs at least {MIN_PASSWORD} characters")
    if len(data) > MAX_PASSWORD:
        raise UsageError(f"a password may be at most {MAX_PASSWORD} bytes (bcrypt reads no "
                         "further)")
    return data


class Accounts:
    """The accounts file: read when opened, written whole (atomically) on each change."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.accounts: dict[str, Account] = {}
        if path.exists():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
                self.accounts = {a["name"]: Account(**a) for a in data.get("accounts", [])}
            except (OSError, ValueError, TypeError, KeyError) as exc:
                raise UsageError(f"not a custody accounts file ({exc})",
                                 where=str(path)) from exc

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        body = {"format": "custody-accounts/1",
                "accounts": [asdict(a) for a in self.accounts.values()]}
        write_atomic(self.path, (json.dumps(body, indent=2) + "\n").encode())
        os.chmod(self.path, 0o600)

    def add(self, name: str, role: str, password: str) -> Account:
        import bcrypt

        check_name(name)
        check_role(role)
        if name in self.accounts:
            raise UsageError(f"account {name!r} exists (custody account password/role)")
        hashed = bcrypt.hashpw(check_password(password), bcrypt.gensalt()).decode()
        account = Account(name, role, hashed,
                          datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"))
        self.accounts[name] = account
        self.save()
        return account

    def get(self, name: str) -> Account:
        account = self.accounts.get(name)
        if account is None:
            raise UsageError(f"no account named {name!r}")
        return account

    def set_password(self, name: str, password: str) -> None:
        import bcrypt

        self.get(name).password_hash = bcrypt.hashpw(check_password(password),
                                                     bcrypt.gensalt()).decode()
        self.save()

    def set_role(self, name: str, role: str) -> None:
        self.get(name).role = check_role(role)
        self.save()

    def set_disabled(self, name: str, disabled: bool) -> None:
        self.get(name).disabled = disabled
        self.save()

    def authenticate(self, name: str, password: str) -> Account | None:
        """The account, when the password is its own and it is not disabled."""
        import bcrypt

        account = self.accounts.get(name)
        given = password.encode("utf-8")[:MAX_PASSWORD]
        stored = account.password_hash.encode() if account else _DUMMY
        try:
            good = bcrypt.checkpw(given, stored)
        except ValueError:
            good = False
        if account is None or account.disabled or not good:
            return None
        return account
