"""Issue 14, items 11 and 12 (repository parts): an edited backup never restores, a
failed restore leaves nothing behind, the repository file is 0600, SQLite URL options
are refused, and --master-key input that is not a key file is one line, exit 2."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from certmgr.repository import masterkey as mk
from certmgr.repository import open_repository
from tests.conftest import run_cli
from tests.repository.conftest import make_cert
from tests.repository.forge import edit_backup as _edit
from tests.repository.forge import set_column


def _one_line_exit_2(code: int, out: str, err: str, *words: str) -> str:
    assert code == 2, err
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def backup(cli: CliRunner, home: Path, tmp_path: Path) -> Path:
    from certmgr.repository import DefinitionRecord

    with open_repository(None, home) as repo:
        repo.save_definition(DefinitionRecord(name="www", cn="www.example.org"))
        pem, key = make_cert("www.example.org")
        repo.add_certificate("www", pem, key=key)  # type: ignore[arg-type]
    out = tmp_path / "b.backup"
    code, _, err = run_cli(cli, "backup", "--out", str(out))
    assert code == 0, err
    return out


def test_edited_backup_with_recomputed_checksum_is_refused(cli: CliRunner, home: Path,
                                                           backup: Path, tmp_path: Path) -> None:
    forged = _edit(backup, tmp_path / "forged.backup", set_column("certificates", "state", "bogus"))
    target = tmp_path / "target"
    code, out, err = run_cli(cli, "restore", str(forged), "--home", str(target),
                             "--master-key", str(home / "master.key"))
    _one_line_exit_2(code, out, err, "does not authenticate", "nothing was restored")
    assert not target.exists()


@pytest.mark.parametrize("change, column", [
    (set_column("certificates", "state", "bogus"), "certificates.state"),
    (set_column("certificates", "state", None), "certificates.state"),  # type: ignore[arg-type]
])
def test_authenticated_backup_with_a_bad_row_is_refused(cli: CliRunner, home: Path,
                                                        backup: Path, tmp_path: Path,
                                                        change: Any, column: str) -> None:
    forged = _edit(backup, tmp_path / "signed.backup", change, sign_with=home / "master.key")
    target = tmp_path / "target"
    code, out, err = run_cli(cli, "restore", str(forged), "--home", str(target),
                             "--master-key", str(home / "master.key"))
    _one_line_exit_2(code, out, err, column, "nothing was restored")
    assert not target.exists()


def test_version_1_backups_are_refused_with_advice(cli: CliRunner, backup: Path,
                                                   tmp_path: Path) -> None:
    head, _, body = backup.read_bytes().partition(b"\n")
    header = json.loads(head)
    header["version"] = 1
    old = tmp_path / "v1.backup"
    old.write_bytes(json.dumps(header).encode() + b"\n" + body)
    code, out, err = run_cli(cli, "restore", str(old), "--home", str(tmp_path / "t"))
    _one_line_exit_2(code, out, err, "version 1", "not authenticated")


def test_a_restore_that_fails_while_loading_leaves_nothing(cli: CliRunner, home: Path,
                                                           backup: Path, tmp_path: Path) -> None:
    # Signed and row-valid, but its certificate names a definition the backup lacks:
    # the database refuses it in the middle of the load.
    forged = _edit(backup, tmp_path / "orphan.backup",
                   set_column("certificates", "definition_id", 999),
                   sign_with=home / "master.key")
    target = tmp_path / "target"
    code, out, err = run_cli(cli, "restore", str(forged), "--home", str(target),
                             "--master-key", str(home / "master.key"))
    _one_line_exit_2(code, out, err, "nothing was restored")
    assert not target.exists()  # no home, no empty database, no master key


def test_a_restore_refused_for_its_key_leaves_nothing(cli: CliRunner, backup: Path,
                                                      tmp_path: Path) -> None:
    other = tmp_path / "other.key"
    mk.create_key_file(other)
    target = tmp_path / "target"
    code, out, err = run_cli(cli, "restore", str(backup), "--home", str(target),
                             "--master-key", str(other))
    _one_line_exit_2(code, out, err, "not this backup's master key")
    assert not target.exists()


def test_master_key_that_is_a_directory_is_one_line(cli: CliRunner, backup: Path,
                                                    tmp_path: Path) -> None:
    keydir = tmp_path / "keys"
    keydir.mkdir()
    code, out, err = run_cli(cli, "restore", str(backup), "--home", str(tmp_path / "t"),
                             "--master-key", str(keydir))
    _one_line_exit_2(code, out, err, str(keydir), "not a certmgr master key")
    assert not (tmp_path / "t").exists()


def test_master_key_that_is_not_ours_gets_no_chmod_advice(cli: CliRunner, backup: Path,
                                                          tmp_path: Path) -> None:
    shadow = tmp_path / "shadow"  # like /etc/shadow: 0640, not a key
    shadow.write_text("root:*:19000:0:99999:7:::\n")
    shadow.chmod(0o640)
    code, out, err = run_cli(cli, "restore", str(backup), "--home", str(tmp_path / "t"),
                             "--master-key", str(shadow))
    line = _one_line_exit_2(code, out, err, "not a certmgr master key")
    assert "chmod" not in line
    assert stat.S_IMODE(shadow.stat().st_mode) == 0o640


def test_an_existing_0644_repository_file_becomes_0600(cli: CliRunner, home: Path,
                                                       tmp_path: Path) -> None:
    db = tmp_path / "shared.db"
    db.touch()
    db.chmod(0o644)
    code, _, err = run_cli(cli, "init", "--db", f"sqlite:///{db}")
    assert code == 0, err
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    for side in (tmp_path / "shared.db-wal", tmp_path / "shared.db-shm"):
        if side.exists():
            assert stat.S_IMODE(side.stat().st_mode) == 0o600


@pytest.mark.parametrize("query", ["mode=ro", "mode=rwc", "timeout=5"])
def test_sqlite_url_options_are_refused_and_create_nothing(cli: CliRunner, home: Path,
                                                           tmp_path: Path, query: str) -> None:
    db = tmp_path / "x.db"
    code, out, err = run_cli(cli, "init", "--db", f"sqlite:///{db}?{query}")
    _one_line_exit_2(code, out, err, query, "not supported")
    assert not db.exists()
    assert not home.exists()


def test_a_read_only_sqlite_url_never_makes_a_writable_file(cli: CliRunner, home: Path,
                                                            tmp_path: Path) -> None:
    db = tmp_path / "ro.db"
    code, _, _ = run_cli(cli, "list", "--db", f"sqlite:///{db}?mode=ro")
    assert code == 2
    assert not db.exists()
    assert os.listdir(tmp_path) == [] or not any(p.startswith("ro.db")
                                                 for p in os.listdir(tmp_path))
