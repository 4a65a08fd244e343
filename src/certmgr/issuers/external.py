"""The external issuer: any CA certmgr cannot talk to. The CSR goes out, the certificate comes back.

``certmgr request NAME --csr-out FILE`` stores the key and leaves the request
pending; ``certmgr receive FILE`` matches the returned certificate to its
pending key by public key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from certmgr.issuers.base import IssuedCertificate, IssueRequest, Pending

__all__ = ["ExternalIssuer"]


@dataclass(frozen=True)
class ExternalIssuer:
    """An outside CA reached by hand: every request is :class:`Pending`."""

    name: str = "external"
    kind: ClassVar[str] = "external"

    def issue(self, request: IssueRequest) -> IssuedCertificate | Pending:
        return Pending(f"submit the CSR for {request.definition} to your CA, then run "
                       "`certmgr receive FILE` with the certificate it returns")
