"""Definitions: names, SANs, durations, TOML files."""

from __future__ import annotations

import datetime as dt

import pytest

from certmgr.errors import InputError, PKIError
from certmgr.issuers import (
    check_name,
    definition_names,
    definitions_from_toml,
    format_duration,
    make_definition,
    parse_duration,
    same_definition,
)


@pytest.mark.parametrize(("text", "seconds"), [
    ("397d", 397 * 86400), ("12h", 43200), ("90m", 5400), ("30s", 30), ("1d12h", 129600),
    (" 2D ", 172800),
])
def test_parse_duration(text: str, seconds: int) -> None:
    assert parse_duration(text) == dt.timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "12", "3w", "d", "-1d", "0d", "1.5d", "12 h x"])
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(InputError, match=r"duration|zero"):
        parse_duration(text)


def test_format_duration() -> None:
    assert [format_duration(dt.timedelta(seconds=s)) for s in (86400 * 397, 7200, 120, 61)] \
        == ["397d", "2h", "2m", "61s"]


@pytest.mark.parametrize("name", ["a/b", "..", "x..y", "", " sp", "-x", ".hidden", "a\\b",
                                  "x" * 129])
def test_bad_names(name: str) -> None:
    with pytest.raises(InputError, match="definition name"):
        check_name(name)


def test_make_definition_normalises_and_checks() -> None:
    d = make_definition("www2", "WWW2.example.com.", ["ftp.example.com", "www2.example.com"],
                        key="EC-256", targets=["web1/apache2:site", "vsftpd:main"])
    assert d.cn == "www2.example.com" and d.sans == ("ftp.example.com",)
    assert d.key_type == "ec256" and definition_names(d) == ("www2.example.com",
                                                              "ftp.example.com")
    with pytest.raises(PKIError, match="not a valid DNS name"):
        make_definition("x", "bad_name!", [])
    with pytest.raises(PKIError, match="unknown key type"):
        make_definition("x", "x.example.com", key="dsa1024")
    with pytest.raises(InputError, match=r"renew-before \(30d\) must be shorter"):
        make_definition("x", "x.example.com", validity=dt.timedelta(days=30),
                        renew_before=dt.timedelta(days=30))
    ssh = make_definition("x", "x.example.com", targets=[
        "ssh://root@198.18.0.2/apache2:www", "lab:web1/vsftpd:main"])
    assert ssh.targets == ("ssh://root@198.18.0.2/apache2:www", "lab:web1/vsftpd:main")
    for bad in ("a/", "/slot", "a b", "../x", ""):
        with pytest.raises(InputError, match="target"):
            make_definition("x", "x.example.com", targets=[bad])


TOML = '''
[defaults]
key = "rsa2048"
validity = "90d"
renew_before = "20d"

[definitions."www.example.com"]
targets = ["apache2:default-ssl"]

[definitions.mail]
cn = "pop.example.com"
sans = ["imap.example.com"]
key = "ec384"
'''


def test_definitions_from_toml() -> None:
    www, mail = definitions_from_toml(TOML, "defs.toml")
    assert www.name == "www.example.com" and www.cn == "www.example.com"
    assert www.key_type == "rsa2048" and www.validity == dt.timedelta(days=90)
    assert mail.sans == ("imap.example.com",) and mail.key_type == "ec384"
    assert same_definition(www, definitions_from_toml(TOML, "again")[0])


@pytest.mark.parametrize(("text", "message"), [
    ("[definitions.x\n", "not valid TOML"),
    ("[defaults]\nkey='ec256'\n", "no \\[definitions.NAME\\]"),
    ("[definitions.x]\ncolor = 'red'\n", "unknown key"),
    ("[definitions.x]\ncn = 'x.example.com'\nsans = 'y'\n", "list of strings"),
    ("[definitions.'a/b']\ncn = 'x.example.com'\n", "must not contain"),
    ("[definitions.x]\ncn = 'x.example.com'\nvalidity = '10d'\n", "renew-before"),
    ("[other]\n", "unknown table"),
])
def test_bad_toml_names_the_file(text: str, message: str) -> None:
    with pytest.raises(InputError, match=rf"^defs\.toml.*{message}"):
        definitions_from_toml(text, "defs.toml")
