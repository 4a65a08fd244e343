"""Fuzzing the loaders: random and mutated inputs raise only certmgr's own errors."""

from __future__ import annotations

import contextlib
from functools import cache

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from certmgr.errors import CertmgrError
from certmgr.pki import (
    certificates_pem,
    encrypted_key_pem,
    jks_keystore,
    key_pem,
    load_bundle,
    load_csr,
    pkcs12_keystore,
)
from certmgr.pki.build import build_csr
from certmgr.pki.write import csr_pem
from tests.pki.conftest import make_pki

FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@cache
def samples() -> tuple[bytes, ...]:
    pki = make_pki()
    der = serialization.Encoding.DER
    return (
        certificates_pem([pki.leaf, pki.inter]) + key_pem(pki.leaf_key),
        encrypted_key_pem(pki.leaf_key, "pw"),
        pki.leaf.public_bytes(der),
        pki.leaf_key.private_bytes(der, serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption()),
        pkcs12_keystore(pki.leaf, [pki.inter], pki.leaf_key, alias="a", password="pw"),
        jks_keystore(pki.leaf, [pki.inter], pki.leaf_key, alias="a", password="changeit"),
        pkcs7.serialize_certificates([pki.leaf], der),
        csr_pem(build_csr(pki.leaf_key, ["a.example.com"])),
        pki.leaf_key.private_bytes(der, serialization.PrivateFormat.PKCS8,
                                   serialization.BestAvailableEncryption(b"pw")),
        pki.leaf_key.private_bytes(serialization.Encoding.PEM,
                                   serialization.PrivateFormat.TraditionalOpenSSL,
                                   serialization.BestAvailableEncryption(b"pw")),
    )


def _load(data: bytes, password: str | None) -> None:
    try:
        load_bundle(data, password, source="fuzz")
    except CertmgrError as exc:
        assert exc.message.startswith("fuzz")
    with contextlib.suppress(CertmgrError):
        load_csr(data, source="fuzz")


@FUZZ
@given(data=st.binary(max_size=2048), password=st.none() | st.sampled_from(["pw", "changeit"]))
def test_random_bytes(data: bytes, password: str | None) -> None:
    _load(data, password)


@FUZZ
@given(
    index=st.integers(0, 9),
    cut=st.integers(0, 4096),
    flips=st.lists(st.tuples(st.integers(0, 4095), st.integers(1, 255)), max_size=6),
    password=st.none() | st.sampled_from(["pw", "changeit", "wrong"]) | st.text(max_size=8),
)
def test_mutated_valid_inputs(index: int, cut: int, flips: list[tuple[int, int]],
                              password: str | None) -> None:
    data = bytearray(samples()[index])
    for pos, mask in flips:
        if data:
            data[pos % len(data)] ^= mask
    _load(bytes(data[: max(1, cut % (len(data) + 1))]), password)


@FUZZ
@given(st.lists(st.sampled_from(["CERTIFICATE", "PRIVATE KEY", "ENCRYPTED PRIVATE KEY",
                                 "RSA PRIVATE KEY", "PKCS7", "TRUSTED CERTIFICATE",
                                 "CERTIFICATE REQUEST", "X509 CRL"]), min_size=1, max_size=3),
       st.binary(max_size=300))
def test_pem_armour_around_garbage(labels: list[str], body: bytes) -> None:
    import base64

    text = b"".join(b"-----BEGIN " + lab.encode() + b"-----\n" + base64.encodebytes(body)
                    + b"-----END " + lab.encode() + b"-----\n" for lab in labels)
    _load(text, None)
