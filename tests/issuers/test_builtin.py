"""The built-in CA: issued certificates pass strict verification and OpenSSL; CRL and revocation."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from certmgr.errors import InputError, NotFound, PKIError
from certmgr.issuers import (
    BuiltinIssuer,
    CAMaterial,
    IssueRequest,
    init_builtin_ca,
    issue_definition,
    load_issuer,
    make_crl,
    make_definition,
    revoke_serial,
)
from certmgr.pki import (
    KeyType,
    build_csr,
    certificate_pem,
    certificates_pem,
    generate_key,
    load_bundle,
    verify_chain,
)
from certmgr.repository import CertificateState, Repository

SEED = [
    ("ldap.example.com", []),
    ("www.example.com", []),
    ("www2.example.com", ["ftp.example.com"]),
    ("smtp.example.com", []),
    ("pop.example.com", ["imap.example.com"]),
]


def _openssl_verify(tmp: Path, root: x509.Certificate, inter: x509.Certificate,
                    leaf: x509.Certificate) -> subprocess.CompletedProcess[str]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed (used only as an outside check)")
    for name, cert in (("root", root), ("intermediate", inter), ("leaf", leaf)):
        (tmp / f"{name}.pem").write_bytes(certificate_pem(cert))
    return subprocess.run(
        ["openssl", "verify", "-x509_strict", "-purpose", "sslserver",
         "-CAfile", str(tmp / "root.pem"), "-untrusted", str(tmp / "intermediate.pem"),
         str(tmp / "leaf.pem")], capture_output=True, text=True, check=False)


def _ext(cert: x509.Certificate, cls: type[x509.ExtensionType]) -> x509.Extension[
        x509.ExtensionType]:
    return cert.extensions.get_extension_for_class(cls)


@pytest.mark.parametrize("key_type", list(KeyType))
def test_issued_certificates_are_strict_and_openssl_verifies(
        ca_material: CAMaterial, key_type: KeyType, tmp_path: Path) -> None:
    issuer = BuiltinIssuer("builtin", ca_material.root, ca_material.intermediate,
                           ca_material.intermediate_key)
    key = generate_key(key_type)
    names = ("www2.example.com", "ftp.example.com", "192.0.2.7")
    result = issuer.issue(IssueRequest("www2", build_csr(key, names), names,
                                       dt.timedelta(days=397)))
    cert = result.certificate
    assert result.chain == (ca_material.intermediate,) and result.root == ca_material.root
    report = verify_chain(cert, result.chain, [ca_material.root], hostname="ftp.example.com")
    assert report.ok, report.reason
    assert verify_chain(cert, result.chain, [ca_material.root], hostname="192.0.2.7").ok
    san = _ext(cert, x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["www2.example.com", "ftp.example.com"]
    bc = _ext(cert, x509.BasicConstraints)
    assert bc.critical and not bc.value.ca
    assert list(_ext(cert, x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.SERVER_AUTH]
    ku = _ext(cert, x509.KeyUsage)
    assert ku.critical and ku.value.digital_signature and not ku.value.key_cert_sign
    assert ku.value.key_encipherment is isinstance(key, rsa.RSAPrivateKey)
    aki = _ext(cert, x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == _ext(ca_material.intermediate,
                                      x509.SubjectKeyIdentifier).value.digest
    assert _ext(cert, x509.SubjectKeyIdentifier)
    done = _openssl_verify(tmp_path, ca_material.root, ca_material.intermediate, cert)
    assert done.returncode == 0 and "leaf.pem: OK" in done.stdout, done.stderr


def test_ca_shape(ca_material: CAMaterial) -> None:
    root, inter = ca_material.root, ca_material.intermediate
    assert isinstance(root.public_key(), ec.EllipticCurvePublicKey)
    assert _ext(root, x509.BasicConstraints).value.path_length == 1
    assert _ext(inter, x509.BasicConstraints).value.path_length == 0
    ku = _ext(inter, x509.KeyUsage).value
    assert ku.key_cert_sign and ku.crl_sign
    assert root.not_valid_after_utc - root.not_valid_before_utc > dt.timedelta(days=3600)


def test_bad_csr_signature_refused(ca_material: CAMaterial) -> None:
    issuer = BuiltinIssuer("builtin", ca_material.root, ca_material.intermediate,
                           ca_material.intermediate_key)
    key = generate_key(KeyType.EC256)
    good = build_csr(key, ["a.example.com"])
    der = bytearray(good.public_bytes(serialization.Encoding.DER))
    der[-5] ^= 0x55  # inside the signature
    bad = x509.load_der_x509_csr(bytes(der))
    with pytest.raises(PKIError, match="signature does not verify"):
        issuer.issue(IssueRequest("a", bad, ("a.example.com",), dt.timedelta(days=1)))



def test_init_stores_ca_encrypted_and_refuses_to_replace(repo: Repository) -> None:
    record = init_builtin_ca(repo)
    assert set(record.keys) == {"root", "intermediate"}
    assert "PRIVATE KEY" not in record.certificates_pem
    assert len(load_bundle(record.certificates_pem.encode()).certificates) == 2
    with pytest.raises(InputError, match="exists already"):
        init_builtin_ca(repo)
    assert init_builtin_ca(repo, force=True).certificates_pem != record.certificates_pem


def test_issue_without_ca_says_run_ca_init(repo: Repository) -> None:
    with pytest.raises(NotFound, match="ca init"):
        load_issuer(repo, None)


def test_seed_definitions_issued_and_verified(ca_repo: Repository, ca_material: CAMaterial,
                                              tmp_path: Path) -> None:
    issuer = load_issuer(ca_repo, "builtin")
    for cn, sans in SEED:
        definition = ca_repo.save_definition(make_definition(cn, cn, sans))
        outcome = issue_definition(ca_repo, definition, issuer)
        record = outcome.certificate
        assert record is not None and record.version == 1 and record.issuer == "builtin"
        leaf = load_bundle(record.cert_pem.encode()).certificates[0]
        chain = load_bundle(record.chain_pem.encode()).certificates
        assert chain == (ca_material.intermediate,)
        for name in (cn, *sans):
            assert verify_chain(leaf, chain, [ca_material.root], hostname=name).ok
        assert _openssl_verify(tmp_path, ca_material.root, chain[0], leaf).returncode == 0
    again = issue_definition(ca_repo, ca_repo.get_definition("www.example.com"), issuer)
    assert again.certificate is not None and again.certificate.version == 2


def test_revoke_and_crl(ca_repo: Repository, ca_material: CAMaterial, tmp_path: Path) -> None:
    definition = ca_repo.save_definition(make_definition("www", "www.example.com"))
    record = issue_definition(ca_repo, definition).certificate
    assert record is not None
    revoked = revoke_serial(ca_repo, record.serial.upper(), reason="key compromise")
    assert revoked is not None and revoked.definition == "www"
    assert ca_repo.get_certificate("www", 1).state is CertificateState.REVOKED
    assert revoke_serial(ca_repo, "0x1234") is None  # unknown serial: listed in the CRL anyway
    crl = make_crl(ca_repo)
    assert crl.is_signature_valid(ca_material.intermediate.public_key())  # type: ignore[arg-type]
    assert crl.issuer == ca_material.intermediate.subject
    serials = {r.serial_number for r in crl}
    assert serials == {int(record.serial, 16), 0x1234}
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 1
    assert make_crl(ca_repo).extensions.get_extension_for_class(
        x509.CRLNumber).value.crl_number == 2
    # OpenSSL agrees the leaf is revoked
    leaf = load_bundle(record.cert_pem.encode()).certificates[0]
    (tmp_path / "bundle.pem").write_bytes(certificates_pem([ca_material.root,
                                                            ca_material.intermediate]))
    (tmp_path / "crl.pem").write_bytes(crl.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "leaf.pem").write_bytes(certificate_pem(leaf))
    if shutil.which("openssl"):
        done = subprocess.run(["openssl", "verify", "-crl_check", "-CAfile",
                               str(tmp_path / "bundle.pem"), "-CRLfile", str(tmp_path / "crl.pem"),
                               str(tmp_path / "leaf.pem")], capture_output=True, text=True,
                              check=False)
        assert done.returncode != 0 and "revoked" in (done.stdout + done.stderr)



@pytest.mark.parametrize("serial", ["xyz", "", "-5", "0"])
def test_revoke_bad_serial(ca_repo: Repository, serial: str) -> None:
    with pytest.raises(InputError, match="serial"):
        revoke_serial(ca_repo, serial)
