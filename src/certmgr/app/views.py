"""What the web console shows that the CLI prints differently: a certificate with its
chain described, the hosts with their slots, pages of a long list."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from cryptography import x509

from certmgr.errors import NotFound

if TYPE_CHECKING:
    from certmgr.repository import Repository

__all__ = ["STATE_FILTERS", "CertificateDetail", "Page", "certificate_chain_pem",
           "certificate_detail", "certificates_page",
           "page"]

T = TypeVar("T")
MAX_PAGE = 500
#: The certificate list's state filter: each a set of the one renewal rule's states
#: (:func:`certmgr.issuers.schedule.renewal_state`); ``none``: no certificate (a request
#: may wait); ``revoked``: the newest certificate was revoked and none replaced it.
STATE_FILTERS = {"expired": ("expired",), "renew": ("renew",), "valid": ("valid",),
                 "none": ("none", "pending"), "revoked": ("revoked",)}


@dataclass(frozen=True)
class Page:
    """``items[offset:offset+limit]`` and how many there are in all."""

    items: tuple[Any, ...]
    total: int
    offset: int
    limit: int


def certificates_page(repo: Repository, offset: int = 0, limit: int = 50, *,
                      now: dt.datetime | None = None, state: str | None = None) -> Page:
    """One page of ``certmgr list`` (current certificates by expiry, then definitions
    without one), read page by page from the repository: the first page of 100,000
    certificates costs what the first page of 100 does. With ``state`` (a key of
    :data:`STATE_FILTERS`) only the rows in that state.

    Raises:
        InputError: ``state`` is not one of :data:`STATE_FILTERS`.
    """
    from certmgr.app.certificates import CertificateRow, certificate_row
    from certmgr.issuers.schedule import renewal_state

    limit = max(1, min(limit, MAX_PAGE))
    offset = max(0, offset)
    now = now or dt.datetime.now(dt.UTC)
    if state:
        certs, bare, total = _in_state(repo, state, now, offset, limit)
    else:
        certs, bare, total = repo.certificate_page(offset, limit)
    defs = repo.get_definitions({c.definition for c in certs})
    rows = [certificate_row(c, defs.get(c.definition), now) for c in certs]
    if bare:
        waiting = {r.definition for r in repo.list_requests()}
        rows += [CertificateRow(d.name, (d.cn, *d.sans), d.issuer, None, None, None, None,
                                None, renewal_state(None, d, now, requested=d.name in waiting),
                                tuple(d.targets)) for d in bare]
    return Page(tuple(rows), total, offset, limit)


def _in_state(repo: Repository, state: str, now: dt.datetime, offset: int, limit: int
              ) -> tuple[list[Any], list[Any], int]:
    """A page of the rows of ``certmgr list`` in ``state`` and how many there are, read
    from the repository by the renewal rule in SQL (as the dashboard counts), each
    definition on an ACME schedule judged by :func:`renewal_state` itself."""
    from certmgr.errors import InputError
    from certmgr.issuers.schedule import renewal_state

    if state not in STATE_FILTERS:
        raise InputError(f"state {state[:40]!r} is not one of {', '.join(STATE_FILTERS)}")
    return repo.certificates_in_state(
        now, state, lambda c, d: renewal_state(c, d, now).value, offset, limit)


def page(items: Sequence[T], offset: int, limit: int) -> Page:
    limit = max(1, min(limit, MAX_PAGE))
    offset = max(0, offset)
    return Page(tuple(items[offset:offset + limit]), len(items), offset, limit)


@dataclass(frozen=True)
class CertificateDetail:
    """A definition's current certificate: its fields, its chain (leaf first) described,
    its versions and targets. ``current`` None: none issued yet."""

    name: str
    definition: dict[str, Any]
    current: dict[str, Any] | None
    chain: tuple[dict[str, Any], ...]
    versions: tuple[dict[str, Any], ...]

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "definition": self.definition, "current": self.current,
                "chain": list(self.chain), "versions": list(self.versions)}


def certificate_detail(repo: Repository, name: str) -> CertificateDetail:
    """Raises NotFound: no such definition."""
    from certmgr.pki.certinfo import describe

    definition = repo.get_definition(name)
    current = repo.current_certificate(name)
    chain: list[dict[str, Any]] = []
    if current is not None:
        pem = (current.cert_pem.strip() + "\n" + current.chain_pem.strip() + "\n").encode()
        chain = [describe(c).to_json() for c in x509.load_pem_x509_certificates(pem)]
    versions = [{"version": c.version, "serial": c.serial, "state": c.state.value,
                 "not_after": c.not_after.isoformat(), "sha256": c.sha256}
                for c in repo.list_certificates(current_only=False, definition=name)]
    cur = None
    if current is not None:
        cur = {"version": current.version, "serial": current.serial, "sha256": current.sha256,
               "subject": current.subject, "issuer": current.issuer,
               "sans": list(current.sans), "not_before": current.not_before.isoformat(),
               "not_after": current.not_after.isoformat(), "state": current.state.value}
    return CertificateDetail(name, definition.to_json(), cur, tuple(chain), tuple(versions))


def certificate_chain_pem(repo: Repository, name: str) -> bytes:
    """The current certificate and its chain (leaf first) in PEM: public material only.

    Raises:
        NotFound: no such definition, or no certificate yet.
    """
    current = repo.current_certificate(name)
    if current is None:
        repo.get_definition(name)
        raise NotFound(f"definition {name} has no certificate yet")
    return (current.cert_pem.strip() + "\n" + current.chain_pem.strip() + "\n").lstrip().encode()

