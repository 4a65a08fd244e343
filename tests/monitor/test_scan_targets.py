"""TARGET syntax: host:port[/proto], CIDR blocks and port ranges, target files."""

from __future__ import annotations

from pathlib import Path

import pytest

from certmgr.errors import UsageError
from certmgr.models import Endpoint, TlsMode
from certmgr.probe.targets import (
    MAX_TARGETS,
    Target,
    expand_all,
    parse_target,
    read_target_file,
)


def targets(text: str, **kw: str) -> list[str]:
    return [str(t) for t in parse_target(text, **kw).expand()]


def test_host_port_and_protocols() -> None:
    assert targets("127.0.0.1:443") == ["127.0.0.1:443"]
    assert targets("127.0.0.1:12525/smtp") == ["127.0.0.1:12525/smtp"]
    assert targets("127.0.0.1:13389/LDAP") == ["127.0.0.1:13389/ldap"]
    (t,) = parse_target("127.0.0.1:12993/tls").expand()
    assert t.tls is TlsMode.DIRECT


def test_well_known_ports_get_their_starttls_protocol_unless_told() -> None:
    assert targets("127.0.0.1:25,587,110,143,21,389,443") == [
        "127.0.0.1:25/smtp", "127.0.0.1:587/smtp", "127.0.0.1:110/pop3",
        "127.0.0.1:143/imap", "127.0.0.1:21/ftp", "127.0.0.1:389/ldap", "127.0.0.1:443"]
    assert targets("127.0.0.1:25/tls") == ["127.0.0.1:25"]


def test_cidr_and_port_ranges_expand_host_by_host() -> None:
    assert targets("198.18.0.0/30:443,8443-8444") == [
        "198.18.0.1:443", "198.18.0.1:8443", "198.18.0.1:8444",
        "198.18.0.2:443", "198.18.0.2:8443", "198.18.0.2:8444"]
    spec = parse_target("198.18.0.0/24:443,8443/smtp")
    assert spec.count() == 254 * 2 == len(list(spec.expand()))
    assert targets("198.18.0.7/32:443") == ["198.18.0.7:443"]


def test_ipv6_in_brackets() -> None:
    assert targets("[::1]:443") == ["[::1]:443"]
    assert targets("[2001:db8::/127]:443/imap") == ["[2001:db8::]:443/imap",
                                                     "[2001:db8::1]:443/imap"]


def test_names_are_sent_as_sni_addresses_are_not() -> None:
    (named,) = parse_target("WWW.Example.com:443").expand()
    assert named.sni == "www.example.com"
    (addr,) = parse_target("127.0.0.1:443").expand()
    assert addr.sni is None
    (forced,) = parse_target("127.0.0.1:443", sni="mail.example.com").expand()
    assert forced.sni == "mail.example.com"


@pytest.mark.parametrize(("text", "words"), [
    ("127.0.0.1", "give a port"),
    ("127.0.0.1:0", "outside 1-65535"),
    ("127.0.0.1:70000", "outside 1-65535"),
    ("127.0.0.1:9-3", "reversed"),
    ("127.0.0.1:https", "not a port"),
    ("127.0.0.1:25/gopher", "unknown protocol 'gopher'"),
    ("::1:443", "brackets"),
    ("[::1:443", "[ADDRESS]:PORT"),
    ("300.1.1.0/24:443", "not a network block"),
    ("10.0.0.0/8:1-100", "more than"),
])
def test_bad_targets_are_usage_errors_naming_the_target(text: str, words: str) -> None:
    with pytest.raises(UsageError) as err:
        parse_target(text)
    assert words in str(err.value)
    assert repr(text) in str(err.value) or text in str(err.value)


def test_expansion_is_lazy_and_capped() -> None:
    spec = parse_target("10.0.0.0/12:443")
    assert spec.count() <= MAX_TARGETS
    first = next(spec.expand())
    assert str(first) == "10.0.0.1:443"


def test_target_file_with_comments(tmp_path: Path) -> None:
    path = tmp_path / "targets.txt"
    path.write_text("# the mail host\n127.0.0.1:12525/smtp  127.0.0.1:12587/smtp\n\n"
                    "127.0.0.1:14443 # apache\n")
    words = read_target_file(path)
    assert words == ["127.0.0.1:12525/smtp", "127.0.0.1:12587/smtp", "127.0.0.1:14443"]
    assert len(list(expand_all(parse_target(w) for w in words))) == 3
    with pytest.raises(UsageError, match="cannot read"):
        read_target_file(tmp_path / "missing.txt")


def test_target_from_repository_endpoint_replaces_wildcards() -> None:
    endpoint = Endpoint("*", 12143, TlsMode.STARTTLS_IMAP, "imap.example.com")
    assert Target.from_endpoint(endpoint, "198.18.0.2") == Target(
        "198.18.0.2", 12143, TlsMode.STARTTLS_IMAP, "imap.example.com")
    assert Target.from_endpoint(Endpoint("127.0.0.1", 443, TlsMode.DIRECT)).host == "127.0.0.1"
