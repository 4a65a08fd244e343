"""Requests for an outside CA, as the console shows them: the pending ones with their CSR,
a new one made without a file (``certmgr request`` writes one), and the CA's answer taken
as PEM text for one definition (``certmgr receive``).

The answer is checked at this edge before anything is parsed: bounded size, PEM text
only (printable ASCII and line ends), certificate blocks only: a key or anything else
pasted into the form is refused, never stored.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from certmgr.errors import InputError, NotFound

if TYPE_CHECKING:
    from certmgr.repository import Repository
    from certmgr.repository.records import CertificateRecord

__all__ = ["MAX_ANSWER", "PendingRequest", "new_request", "pending_csr", "pending_requests",
           "receive_answer"]

MAX_ANSWER = 256 * 1024  # a leaf and a long chain in PEM are a few KiB
_BEGIN = re.compile(r"-----BEGIN ([A-Z0-9 ]{1,40})-----")
_TEXT = re.compile(r"[\x20-\x7e\r\n\t]*")


@dataclass(frozen=True)
class PendingRequest:
    """A key and CSR waiting for an outside CA's certificate."""

    id: int
    definition: str
    created: dt.datetime
    csr_pem: str

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "definition": self.definition,
                "created": self.created.isoformat()}


def pending_requests(repo: Repository) -> list[PendingRequest]:
    """Every pending request, oldest first."""
    return [PendingRequest(int(r.id), r.definition, r.created, r.csr_pem)
            for r in repo.list_requests()]


def pending_csr(repo: Repository, name: str) -> bytes:
    """The CSR (PEM) of the newest pending request of ``name``.

    Raises:
        NotFound: no such definition, or no request of it is pending.
    """
    found = repo.list_requests(definition=name)
    if not found:
        repo.get_definition(name)
        raise NotFound(f"definition {name} has no pending request: make one with "
                       f"`certmgr request {name}` or POST /api/v1/requests")
    return found[-1].csr_pem.encode("ascii")


def new_request(repo: Repository, name: str) -> PendingRequest:
    """A new key and CSR for ``name`` (as ``certmgr request``), kept pending; no file."""
    from certmgr.issuers import request_csr

    record, _ = request_csr(repo, repo.get_definition(name))
    return PendingRequest(int(record.id), record.definition, record.created, record.csr_pem)


def receive_answer(repo: Repository, name: str, text: str, *,
                   source: str = "the uploaded certificate") -> CertificateRecord:
    """Store the CA's answer (certificate, then its chain, PEM) under the pending request of
    ``name`` whose key it has.

    Raises:
        InputError: too large, not PEM text, or a block that is not a certificate.
        NotFound: no such definition, or none of its requests is pending.
        PKIError: no pending request of ``name`` has the certificate's key, it is a CA
            certificate, its names differ from the definition's, or its chain does not link.
    """
    _check_answer(text, source)
    if not repo.list_requests(definition=name):
        repo.get_definition(name)
        raise NotFound(f"definition {name} has no pending request to receive a "
                       "certificate for")
    from certmgr.issuers import receive

    return receive(repo, text.encode("ascii"), source=source, definition=name)


def _check_answer(text: str, source: str) -> None:
    if len(text) > MAX_ANSWER:
        raise InputError(f"{source}: {len(text)} characters, over {MAX_ANSWER}: give the "
                         "certificate and its chain only")
    if not _TEXT.fullmatch(text):
        raise InputError(f"{source}: not PEM text (printable ASCII lines only); convert a "
                         "binary (DER) certificate with `openssl x509 -inform der`")
    kinds = set(_BEGIN.findall(text))
    if not kinds:
        raise InputError(f"{source}: no '-----BEGIN CERTIFICATE-----' block in it")
    if kinds != {"CERTIFICATE"}:
        other = sorted(kinds - {"CERTIFICATE"})[0]
        raise InputError(f"{source}: holds a {other} block; give the certificate and its "
                         "chain only (never a key)")
