"""``certmgr init / backup / restore / audit`` and the repository's bad-input contract:
each bad input gives exit 2, one line on stderr, and changes nothing."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from certmgr.errors import MasterKeyError
from certmgr.repository import open_repository
from certmgr.testing import skip_or_fail
from tests.conftest import run_cli
from tests.readable_python import AS_NOBODY, python_for_nobody


def _one_line_exit_2(code: int, out: str, err: str, *words: str) -> None:
    assert code == 2, err
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for word in words:
        assert word in lines[0]


def _digest(path: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(path.iterdir())}


def test_init_creates_home_key_and_repository(cli: CliRunner, home: Path) -> None:
    code, out, err = run_cli(cli, "init")
    assert code == 0, err
    assert str(home / "master.key") in out and "separately" in out
    code, out, _ = run_cli(cli, "init", "--json")
    info = json.loads(out)
    assert info["home"] == str(home) and info["db"].startswith("sqlite:///")
    assert info["master_key"] == {"mode": "file", "path": str(home / "master.key")}


def test_backup_restore_audit_round_trip(cli: CliRunner, home: Path, tmp_path: Path) -> None:
    with open_repository(None, home) as repo:
        repo.upsert_host("web2", "ssh", "admin@198.18.0.2:22")
        ref = repo.store_private_key(b"key bytes", kind="import")
    out_file = tmp_path / "b.backup"
    code, out, err = run_cli(cli, "backup", "--out", str(out_file))
    assert code == 0, err
    assert str(out_file) in out and str(home / "master.key") in out and "NOT" in out
    code, out, err = run_cli(cli, "backup", "--out", str(out_file), "--json")
    _one_line_exit_2(code, out, err, str(out_file))
    new_home = tmp_path / "restored"
    code, out, err = run_cli(cli, "restore", str(out_file), "--home", str(new_home),
                             "--master-key", str(home / "master.key"), "--json")
    assert code == 0, err
    assert json.loads(out)["rows"]["hosts"] == 1
    with open_repository(None, new_home) as repo:
        assert repo.get_host("web2").address == "admin@198.18.0.2:22"
        assert repo.load_private_key(ref, reason="cli test") == b"key bytes"
    code, out, err = run_cli(cli, "audit", "--home", str(new_home), "--json")
    assert code == 0, err
    actions = [e["action"] for e in json.loads(out)]
    assert actions[:2] == ["key.read", "repository.restore"]
    code, out, _ = run_cli(cli, "audit", "--home", str(new_home), "--action", "key.read")
    assert code == 0 and "cli test" in out
    # restoring again into the now non-empty repository is refused
    code, out, err = run_cli(cli, "restore", str(out_file), "--home", str(new_home))
    _one_line_exit_2(code, out, err, "not empty")


def test_restore_refuses_damaged_and_foreign_files(cli: CliRunner, home: Path,
                                                   tmp_path: Path) -> None:
    run_cli(cli, "backup", "--out", str(tmp_path / "b.backup"))
    data = bytearray((tmp_path / "b.backup").read_bytes())
    data[-20] ^= 0x01
    (tmp_path / "damaged").write_bytes(bytes(data))
    (tmp_path / "foreign").write_text("name,value\na,1\n")
    target = tmp_path / "target"
    for name, word in (("damaged", "damaged"), ("foreign", "not a certmgr backup"),
                       ("missing", "cannot read")):
        code, out, err = run_cli(cli, "restore", str(tmp_path / name), "--home", str(target))
        _one_line_exit_2(code, out, err, word)
    assert not target.exists()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("db, word", [
    ("not a url", "not a database URL"),
    ("mysql://u@127.0.0.1/x", "not supported"),
    ("sqlite:///{tmp}/no/such/dir/x.db", "does not exist"),
    ("postgresql://certmgr:secret@127.0.0.1:{port}/certmgr", "cannot use repository"),
])
def test_bad_db_is_one_line_and_creates_nothing(cli: CliRunner, home: Path, tmp_path: Path,
                                                db: str, word: str) -> None:
    db = db.format(tmp=tmp_path, port=_free_port())
    code, out, err = run_cli(cli, "init", "--db", db)
    _one_line_exit_2(code, out, err, word)
    assert "secret" not in err
    assert not home.exists()


def test_home_that_is_a_file_is_refused(cli: CliRunner, home: Path) -> None:
    home.parent.mkdir(parents=True, exist_ok=True)
    home.write_text("not a directory\n")
    code, out, err = run_cli(cli, "init")
    _one_line_exit_2(code, out, err, str(home))
    assert home.read_text() == "not a directory\n"


def test_corrupted_database_is_refused_unchanged(cli: CliRunner, home: Path) -> None:
    run_cli(cli, "init")
    db = home / "certmgr.db"
    db.write_bytes(b"\x00garbage" * 512)
    before = _digest(home)
    code, out, err = run_cli(cli, "audit")
    _one_line_exit_2(code, out, err, "damaged", "restore")
    assert _digest(home) == before


def test_foreign_sqlite_database_is_refused_unchanged(cli: CliRunner, home: Path,
                                                     tmp_path: Path) -> None:
    import sqlite3

    foreign = tmp_path / "app.db"
    conn = sqlite3.connect(foreign)
    conn.execute("CREATE TABLE t (a)")
    conn.commit()
    conn.close()
    before = hashlib.sha256(foreign.read_bytes()).hexdigest()
    code, out, err = run_cli(cli, "init", "--db", f"sqlite:///{foreign}")
    _one_line_exit_2(code, out, err, "did not create")
    assert hashlib.sha256(foreign.read_bytes()).hexdigest() == before


def test_wrong_passphrase_is_refused_unchanged(cli: CliRunner, home: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CERTMGR_PASSPHRASE", "right one")
    code, out, err = run_cli(cli, "init")
    assert code == 0, err
    assert "passphrase" in out and not (home / "master.key").exists()
    before = _digest(home)
    monkeypatch.setenv("CERTMGR_PASSPHRASE", "wrong one")
    code, out, err = run_cli(cli, "audit")
    _one_line_exit_2(code, out, err, "wrong passphrase")
    assert _digest(home) == before


# -- as root and as a normal user --------------------------------------------------


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A temp directory a normal user can reach (pytest's tmp_path is private to root)."""
    path = Path(tempfile.mkdtemp(prefix="certmgr-cli-test-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def as_nobody() -> Iterator[list[str]]:
    """The command prefix that runs certmgr as a normal user (nobody, when we are root)."""
    if os.geteuid() != 0:
        yield [sys.executable]
        return
    if not shutil.which("setpriv"):
        skip_or_fail("setpriv is needed to run certmgr as a normal user")
    with python_for_nobody() as python:
        yield [*AS_NOBODY, python]


def _as_nobody(prefix: list[str], args: list[str],
               env_home: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(env_home),
           "LANG": "C.UTF-8"}
    return subprocess.run([*prefix, "-m", "certmgr", *args], env=env, cwd=env_home,
                          capture_output=True, text=True, check=False, timeout=120)


def test_init_as_a_normal_user_uses_its_default_home(shared_tmp: Path,
                                                     as_nobody: list[str]) -> None:
    user_home = shared_tmp / "user"
    user_home.mkdir()
    if os.geteuid() == 0:
        shutil.chown(user_home, "nobody", "nogroup")
    proc = _as_nobody(as_nobody, ["init", "--json"], user_home)
    assert proc.returncode == 0, proc.stderr
    home = Path(json.loads(proc.stdout)["home"])
    assert home == user_home / ".local" / "share" / "certmgr"
    assert (home / "master.key").stat().st_mode & 0o777 == 0o600
    assert home.stat().st_mode & 0o777 == 0o700
    if os.geteuid() == 0:
        assert (home / "master.key").stat().st_uid != 0


def test_init_as_a_normal_user_in_an_unwritable_place_is_one_line(shared_tmp: Path,
                                                                  as_nobody: list[str]) -> None:
    if os.geteuid() != 0:
        shared_tmp.chmod(0o555)
    proc = _as_nobody(as_nobody, ["init", "--home", str(shared_tmp / "certmgr")], shared_tmp)
    _one_line_exit_2(proc.returncode, proc.stdout, proc.stderr, str(shared_tmp / "certmgr"))
    assert not (shared_tmp / "certmgr").exists()


def test_init_as_root_with_home(cli: CliRunner, shared_tmp: Path) -> None:
    if os.geteuid() != 0:
        skip_or_fail("needs root")
    code, _, err = run_cli(cli, "init", "--home", str(shared_tmp / "root-home"), "--json")
    assert code == 0, err
    assert (shared_tmp / "root-home" / "master.key").stat().st_uid == 0


def test_init_with_passphrase_prompts_and_uses_no_key_file(cli: CliRunner, home: Path) -> None:
    code, out, err = run_cli(cli, "init", "--passphrase", input="long phrase\nlong phrase\n")
    assert code == 0, err
    assert not (home / "master.key").exists()
    assert "passphrase" in out
    with open_repository(None, home, passphrase="long phrase") as repo:
        assert repo.master_key_info() == {"mode": "passphrase"}
        ref = repo.store_private_key(b"k", kind="import")
    with pytest.raises(MasterKeyError, match="wrong passphrase"):
        open_repository(None, home, passphrase="other phrase")
    with open_repository(None, home, passphrase="long phrase") as repo:
        assert repo.load_private_key(ref, reason="test") == b"k"


def test_init_passphrase_on_a_key_file_repository_is_refused(cli: CliRunner, home: Path,
                                                              monkeypatch: pytest.MonkeyPatch
                                                              ) -> None:
    run_cli(cli, "init")
    monkeypatch.setenv("CERTMGR_PASSPHRASE", "late phrase")
    code, out, err = run_cli(cli, "init", "--passphrase")
    _one_line_exit_2(code, out, err, "new repositories only")


def test_help_lists_the_repository_commands(cli: CliRunner) -> None:
    code, out, _ = run_cli(cli, "--help")
    assert code == 0
    for name in ("init", "backup", "restore", "audit"):
        assert name in out
