"""The certificate list's state filter reads its pages from SQL with the dashboard's
renewal rule: on the dashboard's rows (windows of several lengths, expiries on and
around their edges, ACME definitions on their own schedule, a definition never issued)
plus revoked versions, every filtered page holds exactly the rows of ``certmgr list``
that :func:`certmgr.issuers.schedule.renewal_state` puts in that state, in the list's
order, page after page, with the right total, on both backends."""

from __future__ import annotations

import datetime as dt

from certmgr.app.certificates import list_certificates
from certmgr.app.views import STATE_FILTERS, certificates_page
from certmgr.issuers import make_definition
from certmgr.issuers.schedule import renewal_state
from certmgr.repository import Repository
from tests.repository.test_aggregates import NOW, _cert, _fill


def _expected(repo: Repository) -> dict[str, list[tuple[str, int | None, str]]]:
    """Each filter's rows, judged one by one in Python as the filter first did."""
    rows = list_certificates(repo, now=NOW)
    out: dict[str, list[tuple[str, int | None, str]]] = {s: [] for s in STATE_FILTERS}
    for r in rows:
        for key, wanted in STATE_FILTERS.items():
            if r.state.value in wanted and key != "revoked":
                out[key].append((r.name, r.version, r.state.value))
        if r.version is None:
            versions = repo.list_certificates(current_only=False, definition=r.name)
            newest = max(versions, key=lambda c: c.version, default=None)
            if newest is not None:
                state = renewal_state(newest, repo.get_definition(r.name), NOW)
                if state.value == "revoked":
                    out["revoked"].append((r.name, newest.version, state.value))
    return out


def test_filtered_pages_are_the_renewal_rules_rows(repo: Repository) -> None:
    _fill(repo)
    life = dt.timedelta(days=90)
    for name, revoke in (("rev-newest", 2), ("rev-old", 1), ("rev-only", 1)):
        repo.save_definition(make_definition(name, f"{name}.example.org"))
        for v in (1, 2)[:1 if name == "rev-only" else 2]:
            repo.add_certificate(name, _cert(f"{name}.example.org",
                                             NOW + dt.timedelta(days=40 + v), life))
            if v == revoke and name == "rev-old":
                repo.revoke_certificate(name, v, reason="test")
        if name != "rev-old":
            repo.revoke_certificate(name, revoke, reason="test")
    expected = _expected(repo)
    assert [n for n, *_ in expected["revoked"]] == ["rev-newest", "rev-only"]
    assert {"acme0", "acme1"} <= {n for n, *_ in expected["renew"]}  # ACME by its rule
    assert "acme2" in {n for n, *_ in expected["valid"]}
    assert all(expected.values())
    for state in STATE_FILTERS:
        for size in (500, 7):
            got: list[tuple[str, int | None, str]] = []
            offset = 0
            while True:
                page = certificates_page(repo, offset, size, state=state, now=NOW)
                assert page.total == len(expected[state]), (state, size)
                got += [(r.name, r.version, r.state.value) for r in page.items]
                offset += size
                if offset >= page.total:
                    break
            assert got == expected[state], (state, size)
