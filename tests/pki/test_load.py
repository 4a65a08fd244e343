"""Loading every format a server program or CA hands over, and failing clearly."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12

from certmgr.errors import PKIError, WrongPassword
from certmgr.pki import (
    certificate_pem,
    certificates_pem,
    encrypted_key_pem,
    jks_keystore,
    key_pem,
    keys_match,
    load_bundle,
    load_csr,
    load_file,
    pkcs12_keystore,
    sort_chain,
)
from certmgr.pki.build import build_csr
from certmgr.pki.write import csr_pem
from tests.pki.conftest import MiniPKI

DER = serialization.Encoding.DER
PEM = serialization.Encoding.PEM


def test_pem_bundle_any_order_with_text_around(pki: MiniPKI) -> None:
    data = (b"Bag Attributes\n subject=whatever\n" + certificate_pem(pki.root) + b"\nnoise\n"
            + key_pem(pki.leaf_key) + certificate_pem(pki.inter) + b"# comment\n"
            + certificate_pem(pki.leaf) + b"-----BEGIN DH PARAMETERS-----\nAAAA\n"
            b"-----END DH PARAMETERS-----\n")
    bundle = load_bundle(data, source="mixed.pem")
    assert bundle.format == "pem"
    assert bundle.certificates == (pki.root, pki.inter, pki.leaf)
    assert bundle.key is not None and keys_match(bundle.key, pki.leaf)
    assert bundle.leaf == pki.leaf
    assert sort_chain(bundle.certificates) == (pki.leaf, pki.inter, pki.root)
    assert bundle.ignored == ("DH PARAMETERS",)


def test_leaf_without_key_is_the_cert_that_issued_nothing(pki: MiniPKI) -> None:
    bundle = load_bundle(certificates_pem([pki.inter, pki.root, pki.leaf]))
    assert bundle.leaf == pki.leaf and bundle.key is None and not bundle.has_key


@pytest.mark.parametrize("fmt", [serialization.PrivateFormat.PKCS8,
                                 serialization.PrivateFormat.TraditionalOpenSSL])
@pytest.mark.parametrize("encoding", [PEM, DER])
def test_unencrypted_keys_pkcs1_sec1_pkcs8(pki: MiniPKI, fmt: serialization.PrivateFormat,
                                           encoding: serialization.Encoding) -> None:
    data = pki.leaf_key.private_bytes(encoding, fmt, serialization.NoEncryption())
    bundle = load_bundle(data, source="k")
    assert bundle.key is not None and keys_match(bundle.key, pki.leaf)
    assert not bundle.key_encrypted


def test_rsa_pkcs1_key(rsa_pki: MiniPKI) -> None:
    data = rsa_pki.leaf_key.private_bytes(PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                          serialization.NoEncryption())
    assert data.startswith(b"-----BEGIN RSA PRIVATE KEY-----")
    bundle = load_bundle(data)
    assert bundle.key is not None and keys_match(bundle.key, rsa_pki.leaf)


def test_der_certificate(pki: MiniPKI) -> None:
    bundle = load_bundle(pki.leaf.public_bytes(DER), source="leaf.der")
    assert bundle.format == "der" and bundle.certificates == (pki.leaf,)


def test_pkcs7_bundles(pki: MiniPKI) -> None:
    pem = pkcs7.serialize_certificates([pki.leaf, pki.inter], PEM)
    der = pkcs7.serialize_certificates([pki.leaf, pki.inter], DER)
    assert set(load_bundle(pem).certificates) == {pki.leaf, pki.inter}
    assert set(load_bundle(der).certificates) == {pki.leaf, pki.inter}


def test_encrypted_pem_pkcs8_detected_without_password(pki: MiniPKI) -> None:
    data = encrypted_key_pem(pki.leaf_key, "s3cret") + certificate_pem(pki.leaf)
    bundle = load_bundle(data, source="enc.pem")
    assert bundle.key_encrypted and bundle.key is None and bundle.has_key
    opened = load_bundle(data, "s3cret")
    assert opened.key is not None and keys_match(opened.key, pki.leaf)
    with pytest.raises(WrongPassword, match=r"enc\.pem.*password"):
        load_bundle(data, "wrong", source="enc.pem")


def test_legacy_proc_type_encrypted_pem(rsa_pki: MiniPKI) -> None:
    data = rsa_pki.leaf_key.private_bytes(
        PEM, serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.BestAvailableEncryption(b"pw"))
    assert b"Proc-Type: 4,ENCRYPTED" in data
    assert load_bundle(data).key_encrypted
    key = load_bundle(data, "pw").key
    assert key is not None and keys_match(key, rsa_pki.leaf)
    with pytest.raises(WrongPassword):
        load_bundle(data, "nope")


def test_encrypted_der_pkcs8(pki: MiniPKI) -> None:
    data = pki.leaf_key.private_bytes(DER, serialization.PrivateFormat.PKCS8,
                                      serialization.BestAvailableEncryption(b"pw"))
    assert load_bundle(data).key_encrypted
    assert load_bundle(data, b"pw").key is not None
    # some wrong passwords pass the padding check and decrypt to garbage: still WrongPassword
    for attempt in range(64):
        with pytest.raises(WrongPassword):
            load_bundle(data, f"bad{attempt}")


def test_pkcs12(pki: MiniPKI) -> None:
    data = pkcs12_keystore(pki.leaf, [pki.inter], pki.leaf_key, alias="www", password="pw12")
    bundle = load_bundle(data, "pw12", source="www.p12")
    assert bundle.format == "pkcs12" and bundle.alias == "www"
    assert bundle.certificates == (pki.leaf, pki.inter)
    assert bundle.key is not None and keys_match(bundle.key, pki.leaf)
    with pytest.raises(WrongPassword, match=r"www\.p12: .*password-protected"):
        load_bundle(data, source="www.p12")
    with pytest.raises(WrongPassword, match="does not open"):
        load_bundle(data, "nope", source="www.p12")


def test_jks(pki: MiniPKI) -> None:
    data = jks_keystore(pki.leaf, [pki.inter], pki.leaf_key, alias="tomcat", password="changeit")
    locked = load_bundle(data, source="k.jks")
    assert locked.format == "jks" and locked.key_encrypted and locked.alias == "tomcat"
    assert locked.certificates == (pki.leaf, pki.inter)
    bundle = load_bundle(data, "changeit")
    assert bundle.key is not None and keys_match(bundle.key, pki.leaf)
    with pytest.raises(WrongPassword):
        load_bundle(data, "wrongpass")
    with pytest.raises(PKIError, match="no entry with alias 'other'"):
        load_bundle(data, "changeit", alias="other")


def test_csr_round_trip(pki: MiniPKI) -> None:
    csr = build_csr(pki.leaf_key, ["a.example.com"])
    loaded = load_csr(csr_pem(csr), source="a.csr")
    assert loaded == csr
    assert load_csr(csr.public_bytes(DER)) == csr
    with pytest.raises(PKIError, match=r"x\.pem: no certificate request"):
        load_csr(certificate_pem(pki.leaf), source="x.pem")


def test_load_file_names_the_file(tmp_path: object, pki: MiniPKI) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "leaf.crt"
    path.write_bytes(certificate_pem(pki.leaf)[:300])
    with pytest.raises(PKIError, match=r"leaf\.crt: a PEM block is started but never ended"):
        load_file(path)
    with pytest.raises(PKIError, match=r"missing\.crt: cannot read"):
        load_file(path.with_name("missing.crt"))


@pytest.mark.parametrize(("data", "message"), [
    (b"", "empty"),
    (b"   \n", "empty"),
    (b"hello world, not a certificate", "not a certificate, key or keystore"),
    (b"\x30\x03\x02\x01\x05", "neither a certificate"),
    (b"-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n", "corrupt"),
    (b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "no certificate or"),
    (b"\xfe\xed\xfe\xed\x00\x00", "keystore is corrupt"),
])
def test_bad_input_is_a_pki_error_naming_the_source(data: bytes, message: str) -> None:
    with pytest.raises(PKIError, match=rf"^bad\.pem.*{message}"):
        load_bundle(data, source="bad.pem")


def test_two_keys_in_one_file_refused(pki: MiniPKI) -> None:
    with pytest.raises(PKIError, match="2 private keys"):
        load_bundle(key_pem(pki.leaf_key) + key_pem(pki.inter_key), source="two.pem")


def test_pkcs12_without_password_opens_with_or_without_one(pki: MiniPKI) -> None:
    data = pkcs12.serialize_key_and_certificates(b"x", pki.leaf_key, pki.leaf, None,
                                                 serialization.NoEncryption())
    assert load_bundle(data).key is not None
    assert load_bundle(data, "anything").key is not None
