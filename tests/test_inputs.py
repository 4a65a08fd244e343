"""certmgr.inputs: the ranges every face shares, control characters, and user files
read without blocking (issue 14: every input bounded and typed at the edge)."""

from __future__ import annotations

import datetime as dt
import os
import socket
from pathlib import Path

import pytest

from certmgr.errors import InputError, PKIError
from certmgr.inputs import (
    MAX_FILE_BYTES,
    PORT,
    SERIAL,
    VALIDITY,
    bounded_duration,
    control_characters,
    printable,
    read_user_file,
    refuse_control,
)
from certmgr.issuers import check_name, make_definition, parse_duration
from certmgr.pki import normalize_san


def test_serial_range_is_rfc_5280() -> None:
    assert 1 in SERIAL and (1 << 159) - 1 in SERIAL
    assert 0 not in SERIAL and 1 << 159 not in SERIAL and -1 not in SERIAL


def test_range_check_refuses_non_numbers_and_booleans() -> None:
    assert PORT.check_int(443) == 443
    for bad in (0, 65536, True, "443", 443.0, None, 10**30):
        with pytest.raises(InputError, match="port"):
            PORT.check_int(bad, "port")


def test_bounded_duration_checks_before_any_overflow() -> None:
    assert bounded_duration(86400, VALIDITY, "v") == dt.timedelta(days=1)
    for bad in (0, -1, 10**30, 1e300, float("inf"), float("nan")):
        with pytest.raises(InputError, match="out of range"):
            bounded_duration(bad, VALIDITY, "v")


def test_control_characters_are_found_refused_and_escaped() -> None:
    assert control_characters("a\x1bb\x00c\nd\x9b") == sorted(["\\x1b", "\\x00", "\\n", "\\x9b"])
    assert printable("a\x1b[31mb\x00") == "a\\x1b[31mb\\x00"
    assert printable("line\nnext", keep="\n") == "line\nnext"
    assert refuse_control("www.example.com", "name") == "www.example.com"
    with pytest.raises(InputError) as err:
        refuse_control("a\x1bb", "--cn")
    assert "\x1b" not in err.value.message and "\\x1b" in err.value.message


# -- item 5: full-string matches ------------------------------------------------------------

@pytest.mark.parametrize("name", ["x\n.example.com", "example.com\n.x", "a\nb.example.com",
                                  "x.example.com\n\n.y", "x\x00.example.com"])
def test_a_newline_is_no_dns_name(name: str) -> None:
    with pytest.raises(PKIError):
        normalize_san(name)


@pytest.mark.parametrize("name", ["abc\n", "abc\ndef", "a\x1b"])
def test_definition_names_and_issuers_match_whole(name: str) -> None:
    with pytest.raises(InputError):
        check_name(name)
    with pytest.raises(InputError):
        make_definition("d", "d.example.com", issuer=name)


@pytest.mark.parametrize("target", ["apache2:/etc/a\n.conf:1", "host/slot\x1b"])
def test_targets_match_whole(target: str) -> None:
    with pytest.raises(InputError):
        make_definition("d", "d.example.com", targets=[target])


# -- item 6: durations bounded ----------------------------------------------------------------

@pytest.mark.parametrize("text", ["99999999d", "9999999999999999999999999999d", "36526d"])
def test_definition_durations_are_bounded(text: str) -> None:
    with pytest.raises(InputError, match="out of range"):
        parse_duration(text, "--validity")
    assert parse_duration("36525d", "--validity") == dt.timedelta(days=36525)


# -- item 10: user files ------------------------------------------------------------------

def test_reads_a_regular_file(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"data")
    assert read_user_file(path) == b"data"


def test_a_fifo_is_refused_not_waited_on(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="FIFO"):
        read_user_file(fifo)
    with pytest.raises(InputError, match="FIFO"):
        read_user_file(fifo, secret=True)


def test_a_directory_a_device_and_a_socket_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="directory"):
        read_user_file(tmp_path)
    with pytest.raises(InputError, match="character device"):
        read_user_file("/dev/zero")
    sock_path = tmp_path / "s"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(sock_path))
        with pytest.raises(InputError, match="not a regular file"):
            read_user_file(sock_path)


def test_secret_files_are_never_read_through_a_symlink(tmp_path: Path) -> None:
    real = tmp_path / "key"
    real.write_bytes(b"PLANTED-KEY-BYTES")
    link = tmp_path / "link"
    link.symlink_to(real)
    assert read_user_file(link) == b"PLANTED-KEY-BYTES"
    with pytest.raises(InputError, match="symbolic link") as err:
        read_user_file(link, secret=True)
    assert "PLANTED" not in err.value.message


def test_size_cap(tmp_path: Path) -> None:
    path = tmp_path / "big"
    path.write_bytes(b"x" * 1001)
    assert len(read_user_file(path, limit=1001)) == 1001
    with pytest.raises(InputError, match="larger than"):
        read_user_file(path, limit=1000)
    assert MAX_FILE_BYTES >= 1 << 20


def test_missing_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"--from .*missing: cannot read"):
        read_user_file(tmp_path / "missing", name=f"--from {tmp_path / 'missing'}")


def test_a_nul_in_a_file_name_is_input_not_a_crash(tmp_path: Path) -> None:
    # Found by the property-based test (monitor.toml token_file = "\u0000": exit 70).
    from certmgr.secretfiles import read_secret_file

    with pytest.raises(InputError, match="NUL"):
        read_user_file(f"{tmp_path}/a\x00b")
    with pytest.raises(InputError, match="NUL"):
        read_secret_file(f"{tmp_path}/a\x00b")
