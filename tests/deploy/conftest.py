"""Shared deploy fixtures: a small ``--root`` tree usable by any user, a test CA, an engine."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from certmgr.deploy.engine import Engine, EngineOptions
from certmgr.deploy.journal import FileJournalStore, KeyFileCipher
from certmgr.hosts.local import LocalHost
from tests.deploy.material import TestCA

OLD_CERT = b"-----BEGIN CERTIFICATE-----\nOLD" + b"c" * 2000 + b"\n-----END CERTIFICATE-----\n"
OLD_KEY = b"-----BEGIN PRIVATE KEY-----\nOLD" + b"k" * 1500 + b"\n-----END PRIVATE KEY-----\n"
OLD_CONF = b"# main config, keep this comment\nTLSCertificateFile /etc/ssl/certs/old.pem\n"


def make_tree(root: Path) -> None:
    """/etc/passwd, /etc/group, an old cert (0644), an old key (0600), a config (0644)."""
    uid, gid = os.getuid(), os.getgid()
    (root / "etc/ssl/certs").mkdir(parents=True)
    (root / "etc/ssl/private").mkdir(mode=0o700)
    (root / "etc/prog").mkdir()
    (root / "etc/passwd").write_text(f"svc:x:{uid}:{gid}::/:/bin/false\n")
    (root / "etc/group").write_text(f"svc:x:{gid}:\n")
    for rel, data, mode in (("etc/ssl/certs/old.pem", OLD_CERT, 0o644),
                            ("etc/ssl/private/old.key", OLD_KEY, 0o600),
                            ("etc/prog/prog.conf", OLD_CONF, 0o644)):
        (root / rel).write_bytes(data)
        (root / rel).chmod(mode)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    root.mkdir()
    make_tree(root)
    return root


@pytest.fixture
def host(tree: Path) -> LocalHost:
    return LocalHost(root=tree)


@pytest.fixture
def store(tmp_path: Path) -> FileJournalStore:
    return FileJournalStore(tmp_path / "home" / "journal")


@pytest.fixture
def cipher(tmp_path: Path) -> KeyFileCipher:
    return KeyFileCipher(tmp_path / "home" / "journal.key")


@pytest.fixture(scope="module")
def ca() -> TestCA:
    """A root and an intermediate that issue the certificates deploy tests install."""
    return TestCA()


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    """An engine with its journal and journal key in the test's own directory."""
    return Engine(FileJournalStore(tmp_path / "journal"), KeyFileCipher(tmp_path / "key"),
                  options=EngineOptions(verify_timeout=60))


class SwapAfterLstat(LocalHost):
    """This machine's files, with an attacker who swaps ``victim`` for a link to
    ``/etc/shadow`` right after certmgr lstat's it (the race of issue 14, item 1)."""

    def __init__(self, root: Path, victim: str) -> None:
        super().__init__(root=root)
        self.victim = victim
        self.swapped = False

    def stat(self, path: str, *, follow_symlinks: bool = True):  # type: ignore[no-untyped-def]
        found = super().stat(path, follow_symlinks=follow_symlinks)
        if path == self.victim and not follow_symlinks and not self.swapped:
            self.swapped = True
            real = self.local_path(path)
            real.unlink()
            real.symlink_to("/etc/shadow")
        return found
