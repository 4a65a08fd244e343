"""A small PKI (root -> intermediate -> leaves) built once per session for the pki tests."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest
from cryptography import x509

from certmgr.pki import (
    KeyType,
    PrivateKey,
    generate_key,
    issue_ca,
    issue_server,
    self_signed_root,
    subject_name,
)


@dataclass(frozen=True)
class MiniPKI:
    root: x509.Certificate
    root_key: PrivateKey
    inter: x509.Certificate
    inter_key: PrivateKey
    leaf: x509.Certificate
    leaf_key: PrivateKey

    def issue(self, names: list[str], key_type: KeyType = KeyType.EC256,
              validity: dt.timedelta = dt.timedelta(days=90),
              now: dt.datetime | None = None) -> tuple[x509.Certificate, PrivateKey]:
        key = generate_key(key_type)
        cert = issue_server(self.inter, self.inter_key, key.public_key(), names, validity,
                            now=now)
        return cert, key


def make_pki(key_type: KeyType = KeyType.EC256) -> MiniPKI:
    root_key = generate_key(key_type)
    root = self_signed_root(root_key, subject_name("Test Root CA", "certmgr tests"),
                            dt.timedelta(days=3650))
    inter_key = generate_key(key_type)
    inter = issue_ca(root, root_key, inter_key.public_key(),
                     subject_name("Test Intermediate CA", "certmgr tests"),
                     dt.timedelta(days=1825))
    leaf_key = generate_key(key_type)
    leaf = issue_server(inter, inter_key, leaf_key.public_key(),
                        ["www.example.com", "example.com"], dt.timedelta(days=90))
    return MiniPKI(root, root_key, inter, inter_key, leaf, leaf_key)


@pytest.fixture(scope="session")
def pki() -> MiniPKI:
    return make_pki()


@pytest.fixture(scope="session")
def rsa_pki() -> MiniPKI:
    return make_pki(KeyType.RSA2048)
