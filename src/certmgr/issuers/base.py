"""The issuer extension point: what certmgr asks of a CA, and what it gets back.

An issuer takes a CSR plus the names and validity a definition wants and
either returns the certificate at once (the built-in CA, ACME) or says the
request is pending (an outside CA: the CSR goes out, ``certmgr receive``
brings the certificate back in). Implementations are registered by kind in
:data:`certmgr.issuers.registry.ISSUER_KINDS`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import ClassVar, Protocol, runtime_checkable

from cryptography import x509

__all__ = ["EXPORT_FORMATS", "IssueRequest", "IssuedCertificate", "Issuer", "Pending"]

# The formats `certmgr export` writes (kept here, light to import, for the CLI's help).
EXPORT_FORMATS = ("pem", "fullchain", "p12", "jks", "combined")


@dataclass(frozen=True)
class IssueRequest:
    """What a definition asks an issuer for.

    ``names`` are the validated SANs (the CN first); the CSR carries the
    public key and proves possession of the private key.
    """

    definition: str
    csr: x509.CertificateSigningRequest
    names: tuple[str, ...]
    validity: dt.timedelta
    common_name: str | None = None


@dataclass(frozen=True)
class IssuedCertificate:
    """A certificate and the CA certificates that go with it.

    ``chain`` holds the intermediates, nearest first (what a chain file holds);
    ``root`` is the trust anchor clients need in their trust store, if known.
    """

    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...] = ()
    root: x509.Certificate | None = None


@dataclass(frozen=True)
class Pending:
    """The issuer accepted the request but answers later (outside CA)."""

    message: str


@runtime_checkable
class Issuer(Protocol):
    """A CA certmgr can obtain certificates from.

    Attributes:
        kind: ``builtin``, ``acme`` or ``external``: the value definitions and
            issuer records carry.
        name: the issuer's name in the repository.
    """

    kind: ClassVar[str]

    @property
    def name(self) -> str: ...

    def issue(self, request: IssueRequest) -> IssuedCertificate | Pending:
        """Obtain a certificate for ``request``.

        Returns:
            The certificate with its chain, or :class:`Pending` when the CA
            answers out of band.

        Raises:
            IssuanceError: the CA refused or failed.
            PKIError: the request itself is unusable (bad CSR, bad name).
        """
        ...
