"""The master key that encrypts every private key the repository stores.

Two sources, chosen when the first key is stored and recorded in the ``meta``
table: a key file (``<home>/master.key``, 32 random bytes in base64, created
0600 with ``O_EXCL``) or a passphrase (``CERTMGR_PASSPHRASE``) stretched with
scrypt. The database holds the scrypt salt and a check value (an HMAC of a
fixed label under the key), never the key, so a wrong key file or passphrase
is detected before anything is decrypted or written.

Keys are sealed with AES-256-GCM: a random 96-bit nonce per encryption, and
the row's identity as associated data, so a ciphertext moved to another row
does not open.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from certmgr import atomicfile
from certmgr.errors import MasterKeyError, RepositoryError

__all__ = [
    "KEY_FILE_NAME",
    "MasterKey",
    "check_value",
    "create_key_file",
    "derive_from_passphrase",
    "ensure_home",
    "new_passphrase_params",
    "read_key_file",
    "write_key_file",
]

KEY_FILE_NAME = "master.key"
_CHECK_LABEL = b"certmgr master key check v1"
_SEAL_VERSION = b"\x01"
_NONCE = 12
# scrypt cost: ~0.1 s and 32 MiB per derivation, once per open.
_SCRYPT = {"n": 2**15, "r": 8, "p": 1}


def check_value(key: bytes) -> str:
    """A value that identifies ``key`` without revealing it (stored in the database)."""
    return hmac.new(key, _CHECK_LABEL, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class MasterKey:
    """A 256-bit key and where it came from (``file`` or ``passphrase``)."""

    key: bytes
    source: str

    def __post_init__(self) -> None:
        if len(self.key) != 32:
            raise MasterKeyError("the master key must be 32 bytes")

    def __repr__(self) -> str:  # never show the key in a traceback or log
        return f"MasterKey(source={self.source!r})"

    def seal(self, plaintext: bytes, identity: str) -> bytes:
        """Encrypt ``plaintext`` bound to ``identity`` (the row it is stored in)."""
        nonce = os.urandom(_NONCE)
        return _SEAL_VERSION + nonce + AESGCM(self.key).encrypt(
            nonce, plaintext, identity.encode())

    def open(self, sealed: bytes, identity: str) -> bytes:
        """Decrypt what :meth:`seal` made for ``identity``.

        Raises:
            MasterKeyError: the data was sealed under another key or another row,
                or was altered.
        """
        if sealed[:1] != _SEAL_VERSION or len(sealed) < 1 + _NONCE + 16:
            raise MasterKeyError(f"stored key {identity} has an unknown format; "
                                 "restore the repository from a backup")
        nonce, body = sealed[1:1 + _NONCE], sealed[1 + _NONCE:]
        try:
            return AESGCM(self.key).decrypt(nonce, body, identity.encode())
        except InvalidTag:
            raise MasterKeyError(
                f"stored key {identity} does not decrypt with this master key; the key or "
                "the database row was altered: restore the repository from a backup") from None


def new_passphrase_params() -> dict[str, Any]:
    """Fresh scrypt parameters (random salt) for a new passphrase-protected repository."""
    return {"salt": base64.b64encode(os.urandom(16)).decode(), **_SCRYPT}


def derive_from_passphrase(passphrase: str, params: dict[str, Any]) -> MasterKey:
    """The master key for ``passphrase`` under the stored scrypt ``params``."""
    if not passphrase:
        raise MasterKeyError("the passphrase is empty; set CERTMGR_PASSPHRASE")
    salt = base64.b64decode(params["salt"])
    n, r, p = int(params["n"]), int(params["r"]), int(params["p"])
    key = hashlib.scrypt(passphrase.encode(), salt=salt, n=n, r=r, p=p,
                         maxmem=256 * 1024 * 1024, dklen=32)
    return MasterKey(key, "passphrase")


def create_key_file(path: Path) -> MasterKey:
    """Create ``path`` with a new random key, mode 0600 from the first instant.

    Raises:
        MasterKeyError: the file exists already or cannot be created.
    """
    master = MasterKey(os.urandom(32), "file")
    write_key_file(path, master.key)
    return master


def write_key_file(path: Path, key: bytes) -> None:
    """Write ``key`` to a new file ``path`` (never replaced; 0600 from the first instant, durable).

    Raises:
        MasterKeyError: the file exists already or cannot be created.
    """
    try:
        atomicfile.write_atomic(path, base64.b64encode(key) + b"\n", mode=0o600, replace=False)
    except FileExistsError:
        raise MasterKeyError(f"{path} exists already; move it away first if it is not this "
                             "repository's master key", path=path) from None
    except OSError as exc:
        raise MasterKeyError(f"cannot create the master key file {path}: {exc.strerror}",
                             path=path) from None


def read_key_file(path: Path) -> MasterKey:
    """Read the key file at ``path``, refusing one that others can read.

    Raises:
        MasterKeyError: missing, unreadable, too open, or not a certmgr key file.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise MasterKeyError(f"the master key file {path} is missing; copy the master.key you "
                             "kept for this repository there (mode 0600)", path=path) from None
    except OSError as exc:
        raise MasterKeyError(f"cannot read the master key file {path}: {exc.strerror}",
                             path=path) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):  # a directory, a FIFO, a device: never read
            raise MasterKeyError(f"{path} is not a certmgr master key file (not a regular "
                                 "file)", path=path)
        data = os.read(fd, 4096)
    except OSError as exc:
        raise MasterKeyError(f"cannot read the master key file {path}: {exc.strerror}",
                             path=path) from None
    finally:
        os.close(fd)
    try:
        key = base64.b64decode(data.strip(), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != 32:
        # Judged before the mode: no advice to chmod a file that is not ours (/etc/shadow).
        raise MasterKeyError(f"{path} is not a certmgr master key file", path=path)
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        raise MasterKeyError(f"the master key file {path} has mode {mode:04o}; others must not "
                             f"read it: chmod 600 {path}", path=path)
    return MasterKey(key, "file")


def ensure_home(home: Path) -> None:
    """Create the home directory 0700 if absent; fail with one line if it cannot be used."""
    try:
        home.mkdir(mode=0o700, parents=True, exist_ok=True)
    except FileExistsError:
        raise RepositoryError(f"home {home} exists and is not a directory; choose another "
                              "--home", path=home) from None
    except NotADirectoryError:
        raise RepositoryError(f"home {home} cannot be created: a parent is not a directory; "
                              "choose another --home", path=home) from None
    except OSError as exc:
        raise RepositoryError(f"home {home} cannot be created: {exc.strerror}; choose another "
                              "--home or fix its permissions", path=home) from None
    if not home.is_dir():
        raise RepositoryError(f"home {home} is not a directory; choose another --home",
                              path=home)
    if not os.access(home, os.W_OK | os.X_OK):
        raise RepositoryError(f"home {home} is not writable by this user; choose another "
                              "--home or fix its permissions", path=home)
