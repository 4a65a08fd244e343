"""The dashboard's aggregates judge certificates by the one renewal rule: on the same
rows (windows of several lengths, expiries on and around their boundaries, an ACME
definition on its own schedule, a definition never issued), the counts and problem
lists of :func:`certmgr.app.dashboard.build_dashboard` are what
:func:`certmgr.issuers.schedule.renewal_state` says of each row, on both backends."""

from __future__ import annotations

import datetime as dt

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from certmgr.app.dashboard import build_dashboard
from certmgr.issuers import make_definition
from certmgr.issuers.schedule import RenewalState, renewal_state
from certmgr.repository import DeploymentState, ObservationRecord, Repository

NOW = dt.datetime(2026, 6, 1, 12, 0, 0, tzinfo=dt.UTC)
DAY = 86400
_KEY = ec.generate_private_key(ec.SECP256R1())


def _cert(cn: str, not_after: dt.datetime, lifetime: dt.timedelta) -> str:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(_KEY.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(not_after - lifetime).not_valid_after(not_after)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(cn)]), critical=False)
            .sign(_KEY, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _fill(repo: Repository) -> None:
    windows = (0, DAY, 30 * DAY, 45 * DAY)
    # seconds from NOW to expiry: expired, on the window's edge, a second either side...
    offsets = (-DAY, -1, 0, 1, DAY - 1, DAY, DAY + 1, 30 * DAY - 1, 30 * DAY, 30 * DAY + 1,
               45 * DAY, 45 * DAY + 1, 200 * DAY)
    for w in windows:
        for i, off in enumerate(offsets):
            name = f"w{w}-o{i}"
            repo.save_definition(make_definition(name, f"{name}.example.org",
                                                 renew_before=dt.timedelta(seconds=w),
                                                 targets=[f"lab:web1/nginx:{name}"]))
            repo.add_certificate(name, _cert(f"{name}.example.org",
                                             NOW + dt.timedelta(seconds=off),
                                             dt.timedelta(days=90)))
    # ACME without --renew-before: one third of the lifetime left (here 30 of 90 days)
    for i, days in enumerate((20, 29, 31, 50)):
        name = f"acme{i}"
        d = make_definition(name, f"{name}.example.org", data={"acme": {"issuers": ["le"]}})
        repo.save_definition(d)
        repo.add_certificate(name, _cert(f"{name}.example.org", NOW + dt.timedelta(days=days),
                                         dt.timedelta(days=90)))
    repo.save_definition(make_definition("never", "never.example.org"))


def test_the_dashboard_counts_by_the_renewal_rule(repo: Repository) -> None:
    _fill(repo)
    expected: dict[RenewalState, set[str]] = {}
    for d in repo.list_definitions():
        state = renewal_state(repo.current_certificate(d.name), d, NOW, revocation=False)
        expected.setdefault(state, set()).add(d.name)
    board = build_dashboard(repo, now=NOW, first=1000)
    groups = {g.code: g for g in board.problems}
    assert {p.subject for p in groups["EXPIRED"].first} == {
        f"definition:{n}" for n in expected[RenewalState.EXPIRED]}
    assert {p.subject for p in groups["EXPIRING_SOON"].first} == {
        f"definition:{n}" for n in expected[RenewalState.RENEW]}
    assert [p.subject for p in groups["NOT_ISSUED"].first] == ["definition:never"]
    for state in (RenewalState.EXPIRED, RenewalState.RENEW, RenewalState.VALID,
                  RenewalState.NONE):
        assert board.counts[state.value] == len(expected.get(state, ())), state
    assert {"acme0", "acme1"} <= expected[RenewalState.RENEW]  # ACME judged by its rule
    assert "acme2" in expected[RenewalState.VALID]
    assert "w0-o2" in expected[RenewalState.EXPIRED]  # not_after == now: expired
    assert "w86400-o5" in expected[RenewalState.RENEW]  # on the window's edge: due
    assert "w86400-o6" in expected[RenewalState.VALID]
    # the timeline: every current certificate once, the expired ones first
    assert sum(b.count for b in board.timeline) == board.counts["certificates"] == 56
    assert board.timeline[0].count == len(expected[RenewalState.EXPIRED])
    assert board.timeline[-1].count == 0  # 200 days is within the year: none later
    assert board.timeline[1 + 200 // 7].count == 4  # one per window, in its week


def test_failed_deployments_drift_and_endpoints_are_problems(repo: Repository) -> None:
    _fill(repo)
    first = repo.current_certificate("w0-o12")
    assert first is not None
    dep = repo.create_deployment("w0-o12", first.version, "lab:web1/nginx:w0-o12")
    repo.update_deployment(dep.id, DeploymentState.VERIFIED)
    repo.add_certificate("w0-o12", _cert("w0-o12.example.org", NOW + dt.timedelta(days=300),
                                         dt.timedelta(days=90)))  # v2: the slot has v1
    other = repo.current_certificate("w0-o11")
    assert other is not None
    failed = repo.create_deployment("w0-o11", other.version, "lab:web1/nginx:w0-o11")
    repo.update_deployment(failed.id, DeploymentState.FAILED, reason="nginx -t failed")
    for i in range(3):
        repo.add_observation(ObservationRecord(
            address=f"192.0.2.{i + 1}", port=443, tls="direct", time=NOW, ok=i != 1,
            error=None if i != 1 else "connection refused",
            findings=({"severity": "warning", "code": "CHAIN_INCOMPLETE",
                       "message": "no intermediate"},) if i == 2 else ()))
    board = build_dashboard(repo, now=NOW)
    groups = {g.code: g for g in board.problems}
    assert groups["DEPLOY_FAILED"].total == 1
    assert "nginx -t failed" in groups["DEPLOY_FAILED"].first[0].message
    assert groups["OUTDATED"].first[0].message.endswith("v1, current is v2")
    assert groups["PROBE_FAILED"].first[0].subject == "192.0.2.2:443"
    assert groups["CHAIN_INCOMPLETE"].total == 1
    assert board.counts["endpoints"] == 3 and board.counts["endpoints_failed"] == 1
    assert board.problems[0].severity.value == "error"  # errors first
