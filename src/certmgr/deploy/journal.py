"""The deploy journal: what each change replaces, recorded before it replaces it.

A :class:`JournalRecord` is one file transaction on one host. Before
``fsops`` touches a path it appends a :class:`JournalEntry` holding the old
bytes, owner, group and mode (old keys and every secret encrypted with a
:class:`Cipher`), and saves the record durably. Rollback and crash recovery
read only the journal, so a killed process leaves enough behind to undo itself.

Where records live is a :class:`JournalStore`: :class:`FileJournalStore` keeps
one JSON file per transaction under certmgr's home (0600, written atomically).
Secrets go through a :class:`Cipher`: :class:`RepositoryCipher` keeps them in
the repository under its master key (what ``certmgr deploy`` uses);
:class:`KeyFileCipher` is the stand-alone fallback with its own key file.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import threading
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from certmgr import atomicfile
from certmgr.errors import MasterKeyError, RepositoryError

__all__ = [
    "Cipher",
    "FileJournalStore",
    "JournalEntry",
    "JournalRecord",
    "JournalState",
    "JournalStore",
    "KeyFileCipher",
    "RepositoryCipher",
    "new_txn_id",
]


class JournalState(str, Enum):
    OPEN = "open"                    # changes may be on the host; not committed
    COMMITTED = "committed"          # the new state is final
    ROLLED_BACK = "rolled-back"      # every change was undone
    ROLLBACK_FAILED = "rollback-failed"  # undo failed: the record says what is left


@runtime_checkable
class Cipher(Protocol):
    """Encrypts secrets kept at rest (the repository's master-key cipher has this shape)."""

    def encrypt(self, plaintext: bytes) -> bytes:
        """Return ciphertext that :meth:`decrypt` turns back into ``plaintext``."""
        ...

    def decrypt(self, ciphertext: bytes) -> bytes:
        """Raises MasterKeyError when the data was not encrypted with this key."""
        ...


@dataclass(frozen=True)
class JournalEntry:
    """One change: ``op`` is ``write`` (a file replaced or created) or ``mkdir``.

    ``old_*`` describe what was there (``existed`` False: nothing); ``old_data`` is
    base64, encrypted when ``secret``. ``temp_name`` is the temp file the write
    uses, so recovery can remove one a killed process left behind.
    """

    seq: int
    op: str
    path: str
    existed: bool
    secret: bool = False
    old_data: str | None = None
    old_uid: int | None = None
    old_gid: int | None = None
    old_mode: int | None = None
    temp_name: str | None = None
    new_sha256: str | None = None
    label: str = ""


@dataclass(frozen=True)
class JournalRecord:
    """A file transaction on one host, with the changes it made in order."""

    txn_id: str
    host: str
    state: JournalState = JournalState.OPEN
    label: str = ""
    created: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    entries: tuple[JournalEntry, ...] = ()
    detail: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        # Field by field rather than dataclasses.asdict, which deep-copies every value
        # (old file contents included) on each of a transaction's saves.
        return {"txn_id": self.txn_id, "host": self.host, "state": self.state.value,
                "label": self.label, "created": self.created,
                "entries": [{f.name: getattr(e, f.name) for f in _ENTRY_FIELDS}
                            for e in self.entries],
                "detail": dict(self.detail)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> JournalRecord:
        entries = tuple(JournalEntry(**e) for e in data.get("entries", []))
        return cls(txn_id=data["txn_id"], host=data["host"], state=JournalState(data["state"]),
                   label=data.get("label", ""), created=data["created"], entries=entries,
                   detail=dict(data.get("detail", {})))

    def with_entry(self, entry: JournalEntry) -> JournalRecord:
        return replace(self, entries=(*self.entries, entry))


_ENTRY_FIELDS = fields(JournalEntry)


def new_txn_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(4)


def encode_old(data: bytes, secret: bool, cipher: Cipher) -> str:
    return base64.b64encode(cipher.encrypt(data) if secret else data).decode("ascii")


def decode_old(text: str, secret: bool, cipher: Cipher) -> bytes:
    raw = base64.b64decode(text)
    return cipher.decrypt(raw) if secret else raw


@runtime_checkable
class JournalStore(Protocol):
    """Durable storage of journal records."""

    def save(self, record: JournalRecord) -> None:
        """Store ``record`` (replacing one with its id) durably before returning."""
        ...

    def load(self, txn_id: str) -> JournalRecord:
        """Raises RepositoryError if there is no such record."""
        ...

    def pending(self) -> list[JournalRecord]:
        """Records still OPEN or ROLLBACK_FAILED, oldest first: work left by a killed run."""
        ...


class FileJournalStore:
    """One JSON file per transaction in ``directory`` (created 0700), each file 0600."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)

    def _ensure_dir(self) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)

    def save(self, record: JournalRecord) -> None:
        self._ensure_dir()
        # Compact: json's C encoder serves only unindented output, and a record is saved
        # before every step of a deployment.
        payload = json.dumps(record.to_json(), separators=(",", ":")).encode()
        _write_private(self.directory, f"{record.txn_id}.json", payload)

    def load(self, txn_id: str) -> JournalRecord:
        path = self.directory / f"{txn_id}.json"
        try:
            return JournalRecord.from_json(json.loads(path.read_bytes()))
        except FileNotFoundError:
            raise RepositoryError(f"no deploy journal {txn_id} in {self.directory}",
                                  path=path) from None
        except (ValueError, KeyError, TypeError) as exc:
            raise RepositoryError(f"deploy journal {path} is damaged ({exc}); move it aside "
                                  "and check the files it names by hand", path=path) from None

    def pending(self) -> list[JournalRecord]:
        if not self.directory.is_dir():
            return []
        out = []
        for path in sorted(self.directory.glob("*.json")):
            record = self.load(path.stem)
            if record.state in (JournalState.OPEN, JournalState.ROLLBACK_FAILED):
                out.append(record)
        return sorted(out, key=lambda r: r.created)


def _write_private(directory: Path, name: str, payload: bytes) -> None:
    """Atomically and durably write ``directory/name`` with mode 0600 (certmgr's own state)."""
    atomicfile.write_atomic(directory / name, payload, mode=0o600)


class KeyFileCipher:
    """AES-256-GCM with a key file (created 0600 on first use) under certmgr's home.

    Used for the journal when no repository cipher is given; the repository's
    master-key cipher replaces it once the repository is available.
    """

    def __init__(self, key_file: str | os.PathLike[str]) -> None:
        self.key_file = Path(key_file)
        self._key: bytes | None = None
        self._lock = threading.Lock()  # parallel deploys share one cipher

    def _load(self) -> bytes:
        with self._lock:
            if self._key is None:
                self._key = self._read_or_create()
            return self._key

    def _read_or_create(self) -> bytes:
        try:
            key = self.key_file.read_bytes()
        except FileNotFoundError:
            key = self._create()
        if len(key) != 32:
            raise MasterKeyError(f"{self.key_file} is not a 32-byte key; restore it from a "
                                 "backup", path=self.key_file)
        return key

    def _create(self) -> bytes:
        """Write a new key beside the file, then link it into place: never seen half-written.

        Another process may create it at the same moment: link() refuses to replace,
        and the loser reads the winner's key.
        """
        self.key_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        key = AESGCM.generate_key(bit_length=256)
        try:  # link(), not rename: another process's key is never replaced
            atomicfile.write_atomic(self.key_file, key, mode=0o600, replace=False)
        except FileExistsError:
            return self.key_file.read_bytes()
        return key

    def encrypt(self, plaintext: bytes) -> bytes:
        nonce = secrets.token_bytes(12)
        return nonce + AESGCM(self._load()).encrypt(nonce, plaintext, b"certmgr-journal")

    def decrypt(self, ciphertext: bytes) -> bytes:
        try:
            return AESGCM(self._load()).decrypt(ciphertext[:12], ciphertext[12:],
                                                b"certmgr-journal")
        except InvalidTag:
            raise MasterKeyError(f"journal data does not decrypt with {self.key_file}; it was "
                                 "written with another key", path=self.key_file) from None


class RepositoryCipher:
    """Keeps journal secrets in the repository, under its master key.

    :meth:`encrypt` stores the bytes with ``store_private_key`` (kind
    ``deploy-backup``) and returns a reference; :meth:`decrypt` reads them back
    with ``load_private_key``, which records who read them and why. Nothing
    secret is then in the journal file itself.
    """

    _PREFIX = b"repository-key:"

    def __init__(self, repository: Any) -> None:
        self.repository = repository

    def encrypt(self, plaintext: bytes) -> bytes:
        ref = self.repository.store_private_key(plaintext, kind="deploy-backup")
        return self._PREFIX + str(ref).encode()

    def decrypt(self, ciphertext: bytes) -> bytes:
        if not ciphertext.startswith(self._PREFIX):
            raise MasterKeyError("journal data was not stored in the repository; restore it "
                                 "with the key file it was written with")
        ref = ciphertext[len(self._PREFIX):].decode()
        data: bytes = self.repository.load_private_key(ref, reason="deploy rollback")
        return data
