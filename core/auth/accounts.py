"""The built-in accounts (self-hosting and offline use): ``<data_dir>/auth/accounts.json``.

One JSON file, written atomically (temporary file + rename, mode 0600) under a file lock, so concurrent writers
(two admins, the CLI beside the dashboard) lose nothing and a reader never sees half a file. It holds user names,
roles, argon2id hashes and dates; never a password. A corrupt file is one clear error naming it; nothing is
guessed or rewritten.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from core.auth.roles import check_role
from core.errors import FaceDashError
from core.fileio import atomic_write

#: Lower-case letters, digits and . _ @ + - (e-mail addresses fit); 1-64 characters.
USERNAME = re.compile(r"[a-z0-9][a-z0-9._@+-]{0,63}")
FILE_NAME = "accounts.json"


class AccountError(FaceDashError):
    """An unknown account, a user name that exists already or is malformed."""


class AuthStoreError(FaceDashError):
    """An accounts or keys file cannot be read (corrupt, not JSON) or written."""

    exit_code = 4
    http_status = 500


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def check_username(username: str) -> str:
    if not isinstance(username, str) or not USERNAME.fullmatch(username):
        raise AccountError("a user name is 1-64 lower-case letters, digits or . _ @ + - (starting with a letter or "
                           f"digit); got {str(username)[:80]!r}")
    return username


@dataclass(frozen=True)
class Account:
    username: str
    role: str
    password_hash: str
    disabled: bool = False
    created_at: str = ""
    created_by: str = ""
    password_changed_at: str = ""

    def public(self) -> dict[str, Any]:
        """Everything but the hash (listings, JSON output)."""
        out = asdict(self)
        out.pop("password_hash")
        return out


class JsonRecords:
    """A ``{"version": 1, <section>: {id: record}}`` file read and rewritten whole under a lock."""

    def __init__(self, path: Path, section: str) -> None:
        self.path, self.section = Path(path), section

    def read(self) -> dict[str, dict]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except (OSError, UnicodeDecodeError) as exc:
            raise AuthStoreError(f"{self.path.name} cannot be read: {exc}") from None
        try:
            value = json.loads(text) if text.strip() else {}
        except json.JSONDecodeError as exc:
            raise AuthStoreError(f"{self.path.name} is corrupt (not JSON: {exc.msg} at line {exc.lineno}); restore "
                                 "it from a backup - nothing was changed") from None
        records = value.get(self.section, {}) if isinstance(value, dict) else None
        if not isinstance(records, dict) or not all(isinstance(r, dict) for r in records.values()):
            raise AuthStoreError(f"{self.path.name} is corrupt (no '{self.section}' table); restore it from a backup")
        return records

    @contextmanager
    def locked(self) -> Iterator[None]:
        import filelock

        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with filelock.FileLock(str(self.path) + ".lock", timeout=30):
                yield
        except filelock.Timeout:
            raise AuthStoreError(f"{self.path.name} is locked by another process; try again") from None

    def change(self, edit: Callable[[dict[str, dict]], Any]) -> Any:
        """Read, ``edit`` the records in place (its result is returned), write back atomically; all under the lock."""
        with self.locked():
            records = self.read()
            result = edit(records)
            try:
                atomic_write(self.path, json.dumps({"version": 1, self.section: records}, indent=2), mode=0o600)
            except OSError as exc:
                raise AuthStoreError(f"{self.path.name} cannot be written: {exc.strerror or exc}") from None
            return result


class AccountStore:
    """The accounts of one data folder."""

    def __init__(self, folder: Path) -> None:
        self.records = JsonRecords(Path(folder) / FILE_NAME, "accounts")

    @classmethod
    def from_settings(cls, settings) -> AccountStore:
        return cls(settings.auth_dir)

    @staticmethod
    def _account(username: str, record: dict) -> Account:
        try:
            return Account(username=username, role=check_role(record["role"]),
                           password_hash=str(record["password_hash"]), disabled=bool(record.get("disabled", False)),
                           created_at=str(record.get("created_at", "")), created_by=str(record.get("created_by", "")),
                           password_changed_at=str(record.get("password_changed_at", "")))
        except (KeyError, FaceDashError) as exc:
            raise AuthStoreError(f"{FILE_NAME}: account {username!r} is corrupt ({exc}); restore the file from a "
                                 "backup") from None

    def accounts(self) -> list[Account]:
        return [self._account(name, record) for name, record in sorted(self.records.read().items())]

    def is_empty(self) -> bool:
        return not self.records.read()

    def get(self, username: str) -> Account | None:
        record = self.records.read().get(username) if isinstance(username, str) else None
        return None if record is None else self._account(username, record)

    def require(self, username: str) -> Account:
        account = self.get(username)
        if account is None:
            raise AccountError(f"there is no account {str(username)[:80]!r}")
        return account

    def add(self, account: Account, only_if_empty: bool = False) -> Account:
        """Add a new account; AccountError if the name is taken (or, with ``only_if_empty``, if any account exists:
        the first admin is created once, even by two setup pages at the same moment)."""
        check_username(account.username)
        check_role(account.role)

        def edit(records: dict[str, dict]) -> Account:
            if only_if_empty and records:
                raise AccountError("an account exists already: the first-admin setup was done")
            if account.username in records:
                raise AccountError(f"the user name {account.username!r} is taken")
            record = asdict(account)
            record.pop("username")
            records[account.username] = record
            return account

        return self.records.change(edit)

    def update(self, username: str, **changes: Any) -> Account:
        if "role" in changes:
            check_role(changes["role"])

        def edit(records: dict[str, dict]) -> Account:
            if username not in records:
                raise AccountError(f"there is no account {str(username)[:80]!r}")
            updated = replace(self._account(username, records[username]), **changes)
            record = asdict(updated)
            record.pop("username")
            records[username] = record
            return updated

        return self.records.change(edit)
