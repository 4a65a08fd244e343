"""Every local writer of certmgr's own files is durable: the data, then the directory, fsynced.

Before certmgr.atomicfile, ``cli/pki_output.py``, ``repository/backup.py``,
``monitor/state.py`` and ``hosts/servicetable.py`` renamed their temp file
into place without fsyncing the directory, so a crash could lose the new entry.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from certmgr.cli.pki_output import write_file
from certmgr.deploy.journal import FileJournalStore, JournalRecord, KeyFileCipher
from certmgr.errors import InputError, MasterKeyError
from certmgr.hosts.servicetable import ServiceEntry, ServiceTable, write_service_table
from certmgr.monitor.state import StateFile
from certmgr.repository import open_repository
from certmgr.repository.backup import read_header, write_backup
from certmgr.repository.masterkey import write_key_file
from tests.fsync_spy import FsyncSpy


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> FsyncSpy:
    return FsyncSpy.install(monkeypatch)


@pytest.fixture
def strict_umask() -> Iterator[None]:
    old = os.umask(0o077)
    yield
    os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.usefixtures("strict_umask")
def test_pki_output_is_durable_with_its_exact_mode(tmp_path: Path, spy: FsyncSpy) -> None:
    key, cert = tmp_path / "site.key", tmp_path / "site.crt"
    write_file(key, b"-----BEGIN PRIVATE KEY-----\n", secret=True)
    write_file(cert, b"-----BEGIN CERTIFICATE-----\n", secret=False)
    assert spy.synced_file_then_dir(key) and spy.synced_file_then_dir(cert)
    assert (_mode(key), _mode(cert)) == (0o600, 0o644)
    with pytest.raises(InputError, match="cannot write there"):
        write_file(tmp_path / "missing" / "x.crt", b"x", secret=False)


def test_backup_is_durable(tmp_path: Path, spy: FsyncSpy,
                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CERTMGR_PASSPHRASE", raising=False)
    out = tmp_path / "repo.backup"
    with open_repository(None, tmp_path / "home") as repo:
        write_backup(repo, out)
    assert spy.synced_file_then_dir(out)
    assert _mode(out) == 0o600
    assert read_header(out)["rows"]


def test_monitor_state_is_durable(tmp_path: Path, spy: FsyncSpy) -> None:
    state = StateFile.in_home(tmp_path)
    with state.transaction() as doc:
        doc["notices"] = {"slot": "sent"}
    assert spy.synced_file_then_dir(state.path)
    assert _mode(state.path) == 0o600
    assert state.read() == {"notices": {"slot": "sent"}}


def test_service_table_is_durable(tmp_path: Path, spy: FsyncSpy) -> None:
    real = tmp_path / "etc" / "certmgr-lab" / "services.json"
    entry = ServiceEntry(name="vsftpd", start=("/usr/sbin/vsftpd",), pid_file="/run/vsftpd.pid",
                         user="root")
    write_service_table(ServiceTable(host="lab:lab1", entries=(entry,)), real)
    assert spy.synced_file_then_dir(real)
    assert _mode(real) == 0o644


def test_deploy_journal_and_its_key_are_durable(tmp_path: Path, spy: FsyncSpy) -> None:
    store = FileJournalStore(tmp_path / "journal")
    store.save(JournalRecord(txn_id="20260101T000000-abcd1234", host="local"))
    record = tmp_path / "journal" / "20260101T000000-abcd1234.json"
    assert spy.synced_file_then_dir(record) and _mode(record) == 0o600
    cipher = KeyFileCipher(tmp_path / "journal.key")
    assert cipher.decrypt(cipher.encrypt(b"old key")) == b"old key"
    assert spy.synced_file_then_dir(tmp_path / "journal.key")
    assert _mode(tmp_path / "journal.key") == 0o600


def test_master_key_file_is_durable_and_never_replaced(tmp_path: Path, spy: FsyncSpy) -> None:
    path = tmp_path / "master.key"
    write_key_file(path, b"k" * 32)
    assert spy.synced_file_then_dir(path) and _mode(path) == 0o600
    before = path.read_bytes()
    with pytest.raises(MasterKeyError, match="exists already"):
        write_key_file(path, b"x" * 32)
    assert path.read_bytes() == before
