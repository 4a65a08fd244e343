"""ACME in the monitor: ARI answers refreshed when their next check time has come, and
renewals of ACME definitions issued through :mod:`certmgr.app.acme_issue`.

The renewal check over many certificates stays cheap: only definitions whose stored
``next_check`` has passed cause a request, one connection per issuer.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from certmgr.errors import CertmgrError, IssuanceError
from certmgr.repository.records import CertificateRecord, DefinitionRecord, IssuerKind

if TYPE_CHECKING:
    from certmgr.issuers.acme_client import AcmeConnection
    from certmgr.monitor.renewal import Issue
    from certmgr.repository import Repository

__all__ = ["acme_aware_issue", "refresh_renewal_info"]


def _due_for_check(definition: DefinitionRecord, cert: CertificateRecord,
                   now: dt.datetime) -> bool:
    state = definition.data.get("acme_state")
    if not isinstance(state, dict) or state.get("sha256") != cert.sha256:
        return True  # never asked for this certificate
    check = state.get("next_check")
    if not isinstance(check, str):
        return True
    return dt.datetime.fromisoformat(check) <= now


def refresh_renewal_info(repo: Repository, now: dt.datetime | None = None) -> list[str]:
    """Ask the CA's renewalInfo again for every ACME certificate whose next check time has
    passed; store the window and, when it moved, a new time picked inside it.

    Returns:
        one line per definition whose check failed (the stored state is kept).
    """
    from certmgr.issuers import acme
    from certmgr.issuers.acme_ari import ari_cert_id, pick_in_window

    now = now or dt.datetime.now(dt.UTC)
    connections: dict[str, AcmeConnection | None] = {}
    problems: list[str] = []
    acme_defs = [d for d in repo.list_definitions() if acme.acme_settings(d) is not None]
    # One query for every current certificate, not one per definition (10,000 of them
    # with nothing due are checked in well under a second).
    current = ({c.definition: c for c in repo.list_certificates()} if acme_defs else {})
    for definition in acme_defs:
        cert = current.get(definition.name)
        if cert is None or cert.not_after <= now or not _due_for_check(definition, cert, now):
            continue
        issuer = cert.issuer or definition.issuer or ""
        try:
            if issuer not in connections:
                record = repo.get_issuer(issuer)
                ok = record.kind is IssuerKind.ACME and record.config.get("ari", True)
                connections[issuer] = (acme.connect(repo, record, reason="ACME renewal info")
                                       if ok else None)
            conn = connections[issuer]
            if conn is None:
                continue
            from cryptography import x509

            leaf = x509.load_pem_x509_certificate(cert.cert_pem.encode())
            window = conn.renewal_info(ari_cert_id(leaf))
        except CertmgrError as exc:
            problems.append(f"{definition.name}: renewal info: {exc.message}")
            continue
        if window is None:
            continue
        state: dict[str, Any] = dict(definition.data.get("acme_state") or {})
        moved = (state.get("sha256") != cert.sha256
                 or state.get("window_start") != window.start.isoformat()
                 or state.get("window_end") != window.end.isoformat())
        state.update(sha256=cert.sha256, window_start=window.start.isoformat(),
                     window_end=window.end.isoformat(), next_check=window.retry_after.isoformat(),
                     explanation_url=window.explanation)
        if moved or not state.get("renew_at"):
            state["renew_at"] = pick_in_window(window.start, window.end, now).isoformat()
        repo.save_definition(replace(definition, data={**definition.data, "acme_state": state}))
    return problems


def acme_aware_issue(repo: Repository, fallback: Issue,
                     failovers: dict[str, tuple[str, ...]] | None = None) -> Issue:
    """The monitor's :data:`~certmgr.monitor.renewal.Issue`: ACME definitions through the
    ACME orders (``replaces`` sent), the others through ``fallback``. ``failovers`` gets,
    per definition renewed by a later issuer, why the earlier ones failed."""
    from certmgr.app.acme_issue import is_acme_definition, issue_acme

    def issue(definition: DefinitionRecord) -> CertificateRecord:
        if not is_acme_definition(repo, definition):
            return fallback(definition)
        result = issue_acme(repo, [definition])[definition.name]
        if not result.ok:
            raise IssuanceError(result.reason)
        failed = result.detail.get("failover")
        if failovers is not None and failed:
            failovers[definition.name] = tuple(str(f) for f in failed)
        cert = repo.current_certificate(definition.name)
        assert cert is not None
        return cert

    return issue
