"""Acquisition: issue a definition, leave a request for an outside CA, receive its answer.

Each function validates everything before it writes, so bad input stores
nothing; each stored certificate is one repository transaction (key encrypted
by the repository).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509

from certmgr.errors import InputError, PKIError
from certmgr.inputs import VALIDITY, bounded_duration
from certmgr.issuers.base import Issuer, IssueRequest, Pending
from certmgr.issuers.definitions import definition_names
from certmgr.issuers.store import EXTERNAL, CARepository, load_issuer
from certmgr.pki import (
    KeyType,
    build_chain,
    build_csr,
    certificate_covers,
    certificate_pem,
    certificates_pem,
    csr_pem,
    describe,
    generate_key,
    is_ca,
    load_bundle,
    public_key_id,
)
from certmgr.pki.trust import intermediates
from certmgr.repository.records import CertificateRecord, DefinitionRecord, RequestRecord

__all__ = ["IssueOutcome", "chain_for_storage", "issue_definition", "receive", "request_csr"]


@dataclass(frozen=True)
class IssueOutcome:
    """What happened to one definition: a certificate stored, or a request left pending."""

    definition: str
    certificate: CertificateRecord | None = None
    request: RequestRecord | None = None
    message: str = ""

    def to_json(self) -> dict[str, Any]:
        cert = self.certificate
        return {
            "definition": self.definition,
            "status": "issued" if cert else "pending",
            "version": cert.version if cert else None,
            "serial": cert.serial if cert else None,
            "not_after": cert.not_after.isoformat() if cert else None,
            "request": self.request.id if self.request else None,
            "message": self.message,
        }


def _request_for(definition: DefinitionRecord) -> tuple[Any, IssueRequest]:
    # Stored before validities were bounded at the edge: refuse it as input, not as a crash.
    bounded_duration(definition.validity.total_seconds(), VALIDITY,
                     f"definition {definition.name}: validity (change it with "
                     f"`certmgr definitions edit {definition.name} --validity`)")
    key = generate_key(KeyType.parse(definition.key_type))
    names = definition_names(definition)
    csr = build_csr(key, names, definition.cn)
    return key, IssueRequest(definition.name, csr, names, definition.validity, definition.cn)


def issue_definition(repo: CARepository, definition: DefinitionRecord,
                     issuer: Issuer | None = None) -> IssueOutcome:
    """Make a key and CSR, submit it to the definition's issuer, store the result.

    Returns:
        The stored certificate version, or the pending request (outside CA).

    Raises:
        NotFound: the issuer does not exist.
        IssuanceError, PKIError: the issuer refused.
    """
    issuer = issuer or load_issuer(repo, definition.issuer)
    key, request = _request_for(definition)
    result = issuer.issue(request)
    if isinstance(result, Pending):
        pending = repo.create_request(definition.name, key, csr_pem(request.csr).decode())
        return IssueOutcome(definition.name, request=pending, message=result.message)
    record = repo.add_certificate(
        definition.name, certificate_pem(result.certificate).decode("ascii"),
        chain_pem=certificates_pem(result.chain).decode("ascii"), key=key, issuer=issuer.name)
    return IssueOutcome(definition.name, certificate=record)


def request_csr(repo: CARepository, definition: DefinitionRecord) -> tuple[RequestRecord, bytes]:
    """A new key and CSR for ``definition``, stored as a pending request; returns the CSR PEM."""
    key, request = _request_for(definition)
    pem = csr_pem(request.csr)
    return repo.create_request(definition.name, key, pem.decode("ascii")), pem


def chain_for_storage(leaf: x509.Certificate,
                      others: Sequence[x509.Certificate]) -> tuple[x509.Certificate, ...]:
    """The intermediates of ``leaf`` among ``others``, nearest first; roots are left out.

    Raises:
        PKIError: a certificate in ``others`` does not link into the leaf's chain.
    """
    chain = build_chain(leaf, others)
    for cert in others:
        if cert not in chain and cert != leaf:
            raise PKIError(f"certificate {cert.subject.rfc4514_string()} does not belong to the "
                           f"chain of {leaf.subject.rfc4514_string()} (missing link or "
                           "unrelated certificate)")
    return intermediates(chain[1:])  # the one trust rule: roots are anchors, not chain


def receive(repo: CARepository, data: bytes, *, source: str,
            password: str | None = None, definition: str | None = None) -> CertificateRecord:
    """Store a certificate returned by an outside CA under the pending request whose key it has
    (among the requests of ``definition`` only, when given).

    Raises:
        PKIError: no certificate in the file, no pending request for its key,
            it is a CA certificate, or its chain does not link.
    """
    bundle = load_bundle(data, password, source=source)
    pending = {r.public_key_sha256: r for r in repo.list_requests(definition=definition)}
    leaf = next((c for c in bundle.certificates if public_key_id(c) in pending), None)
    if leaf is None:
        if not bundle.certificates:
            raise PKIError(f"{source}: no certificate in it", path=source)
        whose = f" of {definition}" if definition is not None else ""
        raise PKIError(f"{source}: the certificate {_who(bundle.certificates[0])} matches no "
                       f"pending request's key{whose} ({len(pending)} pending; see "
                       "`certmgr request`)", path=source)
    if is_ca(leaf):
        raise PKIError(f"{source}: {_who(leaf)} is a CA certificate, not a server certificate",
                       path=source)
    try:
        chain = chain_for_storage(leaf, [c for c in bundle.certificates if c != leaf])
    except PKIError as exc:
        raise PKIError(f"{source}: {exc.message}", path=source) from None
    request = pending[public_key_id(leaf)]
    wanted = repo.get_definition(request.definition)
    _check_names(leaf, wanted, source)
    return repo.add_certificate(request.definition, certificate_pem(leaf).decode("ascii"),
                                chain_pem=certificates_pem(chain).decode("ascii"),
                                key_ref=request.key_ref, issuer=wanted.issuer or EXTERNAL,
                                request_id=request.id)


def _who(cert: x509.Certificate) -> str:
    info = describe(cert)
    return f"{info.subject or '(no subject)'} (serial {info.serial})"


def _check_names(leaf: x509.Certificate, definition: DefinitionRecord, source: str) -> None:
    missing = [n for n in definition_names(definition) if not certificate_covers(leaf, n)]
    if missing:
        raise InputError(f"{source}: the certificate lacks {', '.join(missing)}, which "
                         f"definition {definition.name} requires", path=source)
