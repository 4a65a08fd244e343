"""The built-in private CA: a root and an intermediate that signs server certificates.

Two levels so that chain files are exercised exactly as with a public CA: the
root goes into clients' trust stores (``certmgr ca export``), the intermediate
into each server's chain file. This module is pure (keys and certificates in,
certificates out); :mod:`certmgr.issuers.store` keeps the CA in the repository.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from cryptography import x509

from certmgr.errors import PKIError
from certmgr.issuers.base import IssuedCertificate, IssueRequest
from certmgr.pki import (
    KeyType,
    PrivateKey,
    Revoked,
    build_crl,
    generate_key,
    issue_ca,
    issue_server,
    key_type_of,
    self_signed_root,
    subject_name,
)

__all__ = ["BuiltinIssuer", "CAMaterial", "create_ca"]

ROOT_VALIDITY = dt.timedelta(days=3652)
INTERMEDIATE_VALIDITY = dt.timedelta(days=1826)


@dataclass(frozen=True)
class CAMaterial:
    """A freshly made CA: both certificates and both keys."""

    root: x509.Certificate
    root_key: PrivateKey
    intermediate: x509.Certificate
    intermediate_key: PrivateKey


def create_ca(common_name: str = "certmgr Root CA", organization: str | None = "certmgr",
              *, now: dt.datetime | None = None) -> CAMaterial:
    """A new root (EC P-384, ten years) and intermediate (EC P-256, five years).

    ECDSA keys because every program in the seed accepts them and signing is
    fast; P-384 for the long-lived root.
    """
    root_key = generate_key(KeyType.EC384)
    root = self_signed_root(root_key, subject_name(common_name, organization), ROOT_VALIDITY,
                            path_length=1, now=now)
    inter_name = common_name.replace("Root", "Intermediate") if "Root" in common_name \
        else f"{common_name} Intermediate"
    inter_key = generate_key(KeyType.EC256)
    inter = issue_ca(root, root_key, inter_key.public_key(), subject_name(inter_name,
                     organization), INTERMEDIATE_VALIDITY, path_length=0, now=now)
    return CAMaterial(root, root_key, inter, inter_key)


@dataclass(frozen=True)
class BuiltinIssuer:
    """Issues server certificates from the intermediate, at once."""

    name: str
    root: x509.Certificate
    intermediate: x509.Certificate
    intermediate_key: PrivateKey
    crl_url: str | None = None
    kind: ClassVar[str] = "builtin"

    def issue(self, request: IssueRequest) -> IssuedCertificate:
        """Sign a server certificate for the request's names and public key.

        The names come from the definition, not from the CSR: the CSR only
        proves that the requester holds the key.

        Raises:
            PKIError: the CSR's signature is bad, its key type is not one
                certmgr issues for, or a name is invalid.
        """
        csr = request.csr
        if not csr.is_signature_valid:
            raise PKIError(f"{request.definition}: the CSR's signature does not verify")
        public = csr.public_key()
        if key_type_of(public) is None:
            raise PKIError(f"{request.definition}: the CSR's key type is not one certmgr "
                           "issues for (RSA 2048-4096, EC P-256/P-384, Ed25519)")
        cert = issue_server(self.intermediate, self.intermediate_key, public,
                            list(request.names), request.validity,
                            common_name=request.common_name, crl_url=self.crl_url)
        return IssuedCertificate(cert, (self.intermediate,), self.root)

    def crl(self, revoked: Sequence[Revoked], number: int) -> x509.CertificateRevocationList:
        """A CRL of ``revoked`` signed by the intermediate."""
        return build_crl(self.intermediate, self.intermediate_key, revoked, number=number)
