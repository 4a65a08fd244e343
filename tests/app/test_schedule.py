"""The one renewal-state function, as list, status and the monitor see a certificate."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from certmgr.app.certificates import list_certificates
from certmgr.app.status import build_status
from certmgr.issuers import RenewalState, make_definition, renew_at, renewal_state
from certmgr.monitor.renewal import due_renewals
from certmgr.repository import CertificateState, Repository
from tests.app.conftest import issue

DAY = dt.timedelta(days=1)


def test_states_around_the_window_and_expiry(repo: Repository) -> None:
    cert = issue(repo, "www.example.com").record
    definition = repo.get_definition("www.example.com")
    opens = cert.not_after - definition.renew_before
    assert renew_at(cert, definition) == opens
    assert renewal_state(cert, definition, opens - DAY) is RenewalState.VALID
    assert renewal_state(cert, definition, opens) is RenewalState.RENEW
    assert renewal_state(cert, definition, cert.not_after) is RenewalState.EXPIRED
    assert RenewalState.RENEW.due and RenewalState.EXPIRED.due
    assert not RenewalState.VALID.due
    # Without its definition, the default window (30 days) applies.
    assert renew_at(cert, None) == cert.not_after - 30 * DAY


def test_revoked_and_not_issued(repo: Repository) -> None:
    cert = issue(repo, "www.example.com").record
    definition = repo.get_definition("www.example.com")
    revoked = replace(cert, state=CertificateState.REVOKED)
    now = cert.not_after - 100 * DAY
    assert renewal_state(revoked, definition, now) is RenewalState.REVOKED
    assert renewal_state(revoked, definition, now, revocation=False) is RenewalState.VALID
    assert renewal_state(None, definition, now) is RenewalState.NONE
    assert renewal_state(None, definition, now, requested=True) is RenewalState.PENDING


def test_list_status_and_monitor_agree_at_the_edge_of_the_window(repo: Repository) -> None:
    cert = issue(repo, "www.example.com").record
    repo.save_definition(make_definition("mail.example.com", "mail.example.com"))
    definition = repo.get_definition("www.example.com")
    for now, state in ((renew_at(cert, definition) - dt.timedelta(seconds=1),
                        RenewalState.VALID),
                       (renew_at(cert, definition), RenewalState.RENEW),
                       (cert.not_after, RenewalState.EXPIRED)):
        rows = {r.name: r for r in list_certificates(repo, now=now)}
        assert rows["www.example.com"].state is state
        assert rows["mail.example.com"].state is RenewalState.NONE
        report = build_status(repo, now=now)
        (www,) = [c for c in report.certificates if c.definition.name == "www.example.com"]
        assert www.state is state
        codes = {p.code for p in report.problems if p.subject == "definition:www.example.com"}
        assert codes == {RenewalState.VALID: set(), RenewalState.RENEW: {"EXPIRING_SOON"},
                         RenewalState.EXPIRED: {"EXPIRED"}}[state]
        due = [d.definition.name for d in due_renewals(repo, now)]
        assert due == ([] if state is RenewalState.VALID else ["www.example.com"])
