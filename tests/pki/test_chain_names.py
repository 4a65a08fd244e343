"""Chain building and verification reports; names, wildcards, fingerprints, matching."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from cryptography.hazmat.primitives import serialization
from hypothesis import given, settings
from hypothesis import strategies as st

from certmgr.errors import PKIError
from certmgr.pki import (
    ChainProblemCode,
    KeyType,
    build_chain,
    certificate_covers,
    describe,
    fingerprint_sha256,
    format_fingerprint,
    generate_key,
    issue_server,
    keys_match,
    name_matches,
    names_of,
    normalize_san,
    order_problems,
    public_key_id,
    sort_chain,
    verify_chain,
)
from tests.pki.conftest import MiniPKI, make_pki


def codes(report: object) -> list[ChainProblemCode]:
    return [p.code for p in report.problems]  # type: ignore[attr-defined]


def test_good_chain_verifies_with_intermediates_in_any_order(pki: MiniPKI) -> None:
    report = verify_chain(pki.leaf, [pki.root, pki.inter], [pki.root], hostname="example.com")
    assert report.ok and report.reason == ""
    assert report.chain == (pki.leaf, pki.inter, pki.root)


def test_missing_intermediate(pki: MiniPKI) -> None:
    report = verify_chain(pki.leaf, [], [pki.root])
    assert codes(report) == [ChainProblemCode.MISSING_ISSUER]
    assert "Test Intermediate CA" in report.reason


def test_untrusted_root(pki: MiniPKI) -> None:
    other = make_pki()
    report = verify_chain(pki.leaf, [pki.inter, pki.root], [other.root])
    assert codes(report) == [ChainProblemCode.UNTRUSTED_ROOT]


def test_no_roots_at_all_says_the_root_is_missing(pki: MiniPKI) -> None:
    report = verify_chain(pki.leaf, [pki.inter], [])
    assert codes(report) == [ChainProblemCode.MISSING_ISSUER]
    assert "Test Root CA" in report.reason


def test_expired_link(pki: MiniPKI) -> None:
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=200)
    report = verify_chain(pki.leaf, [pki.inter], [pki.root], at=later)
    assert codes(report) == [ChainProblemCode.EXPIRED]
    assert "www.example.com expired on" in report.reason
    early = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    assert codes(verify_chain(pki.leaf, [pki.inter], [pki.root], at=early)) \
        == [ChainProblemCode.NOT_YET_VALID] * 3


def test_bad_signature_same_issuer_name_other_key(pki: MiniPKI) -> None:
    impostor = make_pki()  # same CA names, different keys
    report = verify_chain(pki.leaf, [impostor.inter], [impostor.root])
    assert codes(report) == [ChainProblemCode.BAD_SIGNATURE]


def test_name_mismatch(pki: MiniPKI) -> None:
    report = verify_chain(pki.leaf, [pki.inter], [pki.root], hostname="mail.example.org")
    assert codes(report) == [ChainProblemCode.NAME_MISMATCH]


def test_rsa_chain_verifies(rsa_pki: MiniPKI) -> None:
    assert verify_chain(rsa_pki.leaf, [rsa_pki.inter], [rsa_pki.root]).ok


def test_ed25519_leaf_under_ec_ca_verifies(pki: MiniPKI) -> None:
    key = generate_key(KeyType.ED25519)
    cert = issue_server(pki.inter, pki.inter_key, key.public_key(), ["ed.example.com"],
                        dt.timedelta(days=30))
    assert verify_chain(cert, [pki.inter], [pki.root]).ok


def test_ed25519_signed_chain_is_explained() -> None:
    ed = make_pki(KeyType.ED25519)
    report = verify_chain(ed.leaf, [ed.inter], [ed.root])
    assert codes(report) == [ChainProblemCode.POLICY] and "Ed25519" in report.reason


def test_build_and_sort_chain(pki: MiniPKI) -> None:
    assert build_chain(pki.leaf, [pki.root, pki.inter]) == (pki.leaf, pki.inter, pki.root)
    assert sort_chain([pki.root, pki.inter, pki.leaf]) == (pki.leaf, pki.inter, pki.root)


def test_order_problems(pki: MiniPKI) -> None:
    assert order_problems([pki.leaf, pki.inter, pki.root]) == ()
    wrong = order_problems([pki.leaf, pki.root, pki.inter])
    assert [p.code for p in wrong] == [ChainProblemCode.WRONG_ORDER, ChainProblemCode.WRONG_ORDER]
    missing = order_problems([pki.leaf, pki.root])
    assert [p.code for p in missing] == [ChainProblemCode.MISSING_ISSUER]


def test_fingerprint_and_key_identity(pki: MiniPKI) -> None:
    der = pki.leaf.public_bytes(serialization.Encoding.DER)
    assert fingerprint_sha256(pki.leaf) == hashlib.sha256(der).hexdigest()
    assert format_fingerprint("abcd01") == "AB:CD:01"
    assert keys_match(pki.leaf_key, pki.leaf) and not keys_match(pki.inter_key, pki.leaf)
    assert public_key_id(pki.leaf_key) == public_key_id(pki.leaf)
    info = describe(pki.leaf)
    assert info.dns_names == ("www.example.com", "example.com")
    assert info.common_name == "www.example.com" and not info.is_ca
    assert info.key == "EC secp256r1" and 88 <= info.days_left() <= 90
    assert info.to_json()["fingerprint_sha256"] == fingerprint_sha256(pki.leaf)


@pytest.mark.parametrize(("pattern", "host", "expected"), [
    ("www.example.com", "WWW.Example.COM.", True),
    ("*.example.com", "www.example.com", True),
    ("*.example.com", "example.com", False),
    ("*.example.com", "a.b.example.com", False),
    ("*.com", "example.com", False),
    ("192.0.2.1", "192.0.2.1", True),
    ("*.example.com", "192.0.2.1", False),
    ("2001:db8::1", "2001:DB8:0::1", True),
])
def test_name_matches(pattern: str, host: str, expected: bool) -> None:
    assert name_matches(pattern, host) is expected


def test_certificate_covers_uses_sans(pki: MiniPKI) -> None:
    assert certificate_covers(pki.leaf, "example.com")
    assert not certificate_covers(pki.leaf, "ftp.example.com")
    names = names_of(pki.leaf)
    assert names.has_san and names.all == ("www.example.com", "example.com")


@pytest.mark.parametrize("good", ["www.example.com", "*.example.com", "xn--bcher-kva.de",
                                  "10.0.0.1", "::1", "Bücher.de"])
def test_normalize_san_accepts(good: str) -> None:
    assert normalize_san(good)


@pytest.mark.parametrize("bad", ["", "-bad.example.com", "a..b", "exa mple.com", "*", "*.com",
                                 "www.*.com", "a/b", "../etc", "x" * 64 + ".com", "1.2.3"])
def test_normalize_san_refuses(bad: str) -> None:
    with pytest.raises(PKIError, match=r"not a valid DNS name|wildcard"):
        normalize_san(bad)


_labels = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)


@settings(max_examples=200, deadline=None)
@given(st.lists(_labels, min_size=2, max_size=5), st.booleans())
def test_names_properties(labels: list[str], upper: bool) -> None:
    if labels[-1].isdigit():
        labels[-1] += "x"
    name = ".".join(labels)
    assert normalize_san(name.upper() if upper else name) == name
    assert name_matches(name, name.upper() + ".")
    wildcard = "*." + ".".join(labels[1:])
    assert name_matches(wildcard, name) is (len(labels) >= 3)
    assert not name_matches(wildcard, "x." + name)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_normalize_san_never_crashes(text: str) -> None:
    try:
        normalize_san(text)
    except PKIError as exc:
        assert "SAN" in exc.message
