"""The service table round-trips through its JSON file and is read through a host."""

from __future__ import annotations

from pathlib import Path

import pytest

from certmgr.errors import HostError
from certmgr.hosts import LocalHost
from certmgr.hosts.servicetable import (
    SERVICE_TABLE_PATH,
    ServiceEntry,
    ServiceTable,
    load_service_table,
    read_pid_file,
    write_service_table,
)
from certmgr.models import Endpoint, TlsMode
from certmgr.programs import ServiceKind


def _table() -> ServiceTable:
    vsftpd = ServiceEntry(
        name="vsftpd", start=("setsid", "-f", "vsftpd"), pid_file="/run/vsftpd/vsftpd.pid",
        endpoints=(Endpoint("198.18.0.2", 21, TlsMode.STARTTLS_FTP),),
        logs=("/var/log/vsftpd/startup.log",),
    )
    postfix = ServiceEntry(
        name="postfix", start=("postfix", "start"), reload=("postfix", "reload"),
        pid_file="/var/spool/postfix/pid/master.pid",
    )
    return ServiceTable(host="lab:lab1", entries=(vsftpd, postfix))


def test_round_trip_and_pid_update(tmp_path: Path) -> None:
    table = _table().with_pid("vsftpd", 4242)
    real = tmp_path / SERVICE_TABLE_PATH.lstrip("/")
    write_service_table(table, real)
    assert real.stat().st_mode & 0o777 == 0o644
    loaded = load_service_table(LocalHost(root=tmp_path))
    assert loaded == table
    assert loaded.get("vsftpd").pid == 4242
    assert loaded.get("vsftpd").restart_only
    assert not loaded.get("postfix").restart_only
    assert ServiceKind(loaded.get("postfix").name) is ServiceKind.POSTFIX
    assert loaded.names() == ["vsftpd", "postfix"]


def test_missing_table_and_unknown_program(tmp_path: Path) -> None:
    assert load_service_table(LocalHost(root=tmp_path)) is None
    with pytest.raises(HostError, match="has no slapd"):
        _table().get("slapd")


def test_garbage_file_names_the_file(tmp_path: Path) -> None:
    real = tmp_path / SERVICE_TABLE_PATH.lstrip("/")
    real.parent.mkdir(parents=True)
    real.write_text('{"format": 99}')
    with pytest.raises(HostError, match=r"services\.json is not a certmgr service table"):
        load_service_table(LocalHost(root=tmp_path))


def test_pid_file_with_blanks(tmp_path: Path) -> None:
    entry = _table().get("postfix")
    real = tmp_path / entry.pid_file.lstrip("/")
    real.parent.mkdir(parents=True)
    real.write_text("       123\n")
    host = LocalHost(root=tmp_path)
    assert read_pid_file(host, entry) == 123
    assert read_pid_file(host, _table().get("vsftpd")) is None


def test_duplicate_names_rejected() -> None:
    entry = _table().get("postfix")
    with pytest.raises(ValueError, match="listed twice"):
        ServiceTable(host="x", entries=(entry, entry))
