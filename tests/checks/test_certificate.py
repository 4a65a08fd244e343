"""check_certificates: each code on a chain built for it."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509

from certmgr.checks import Where, check_certificates
from certmgr.models import Severity
from certmgr.pki import load_file, not_before
from tests.checks.pkihelp import FIXTURES, NOW, DemoPKI, ec_key, make_pki, seed_snakeoil


@pytest.fixture(scope="module")
def pki() -> DemoPKI:
    return make_pki()


def codes(findings: list) -> dict[str, Severity]:  # type: ignore[type-arg]
    return {f.code: f.severity for f in findings}


def test_good_chain_has_no_findings(pki: DemoPKI) -> None:
    leaf, key = pki.leaf(["www.example.com"])
    found = check_certificates([leaf, pki.inter], key=key, names=["www.example.com"],
                               trust=[pki.root], now=NOW)
    assert found == []


def test_key_mismatch_and_name_mismatch(pki: DemoPKI) -> None:
    leaf, _key = pki.leaf(["www.example.com"])
    found = check_certificates([leaf, pki.inter], key=ec_key(), names=["mail.example.com"],
                               trust=[pki.root], now=NOW,
                               where=Where("apache2", "apache2:x", "/etc/a.crt",
                                           key_path="/etc/a.key"))
    assert codes(found) == {"KEY_MISMATCH": Severity.ERROR, "NAME_MISMATCH": Severity.ERROR}
    mismatch = next(f for f in found if f.code == "KEY_MISMATCH")
    assert mismatch.path == "/etc/a.key" and mismatch.slot == "apache2:x"


def test_name_from_host_is_only_a_warning(pki: DemoPKI) -> None:
    leaf, _ = pki.leaf(["www.example.com"])
    found = check_certificates([leaf, pki.inter], names=["vm"], names_authoritative=False,
                               now=NOW)
    assert codes(found) == {"NAME_MISMATCH": Severity.WARNING}


def test_missing_intermediate_is_incomplete(pki: DemoPKI) -> None:
    leaf, _ = pki.leaf(["www.example.com"])
    found = check_certificates([leaf], trust=[pki.root], now=NOW)
    assert codes(found) == {"CHAIN_INCOMPLETE": Severity.ERROR}


def test_other_root_is_untrusted(pki: DemoPKI) -> None:
    leaf, _ = pki.leaf(["www.example.com"])
    other = make_pki()
    served_root = check_certificates([leaf, pki.inter, pki.root], trust=[other.root], now=NOW)
    assert codes(served_root) == {"CHAIN_UNTRUSTED": Severity.ERROR}
    # A trusted root of the same name but another key: the signature does not verify.
    same_name = check_certificates([leaf, pki.inter], trust=[other.root], now=NOW)
    assert codes(same_name) == {"CHAIN_UNTRUSTED": Severity.ERROR}


def test_validity_windows(pki: DemoPKI) -> None:
    leaf, _ = pki.leaf(["www.example.com"], days=20)
    assert codes(check_certificates([leaf], now=NOW, warn_days=30)) == {
        "EXPIRING_SOON": Severity.WARNING}
    assert check_certificates([leaf], now=NOW, warn_days=10) == []
    later = NOW + dt.timedelta(days=25)
    assert codes(check_certificates([leaf], now=later)) == {"EXPIRED": Severity.ERROR}
    early = NOW - dt.timedelta(days=3)
    assert codes(check_certificates([leaf], now=early)) == {"NOT_YET_VALID": Severity.ERROR}


def test_seed_snakeoil_is_self_signed_weak_and_sha1() -> None:
    # The seed's `openssl req -x509 -nodes -newkey rsa:1024` (SHA-1): a static fixture,
    # since cryptography no longer signs with SHA-1.
    bundle = load_file(FIXTURES / "certs" / "seed-snakeoil.pem")
    cert = bundle.certificates[0]
    key = load_file(FIXTURES / "certs" / "seed-snakeoil.key").key
    now = not_before(cert) + dt.timedelta(days=1)
    found = check_certificates([cert], key=key, names=["ldap.example.com"], trust=[cert],
                               now=now)
    assert codes(found) == {"SELF_SIGNED": Severity.WARNING, "WEAK_KEY": Severity.ERROR,
                            "WEAK_SIGNATURE": Severity.ERROR}
    untrusted = check_certificates([cert], trust=[], now=now)
    assert "CHAIN_UNTRUSTED" in codes(untrusted)


def test_network_findings_carry_target_not_path(pki: DemoPKI) -> None:
    leaf, _ = pki.leaf(["www.example.com"])
    found = check_certificates([leaf, pki.inter], names=["other.example.com"], now=NOW,
                               where=Where(target="127.0.0.1:443"))
    data = found[0].to_json()
    assert data["target"] == "127.0.0.1:443" and "path" not in data


def test_rsa1024_sha256_is_only_weak_key() -> None:
    cert, key = seed_snakeoil("www.example.com")
    found = check_certificates([cert], key=key, names=["www.example.com"], trust=[cert],
                               now=NOW)
    assert codes(found) == {"SELF_SIGNED": Severity.WARNING, "WEAK_KEY": Severity.ERROR}


def test_empty_chain_has_nothing_to_check() -> None:
    empty: list[x509.Certificate] = []
    assert check_certificates(empty) == []
