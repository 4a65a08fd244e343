"""The endpoint list of the monitoring screen over a real repository: what a new
discovery, a host's new address and a new observation change, read again each time
(the list is kept between requests only while none of those changed)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from certmgr.app.endpoints import endpoint_detail, endpoint_id, endpoints_page
from certmgr.repository import ObservationRecord, Repository, open_repository


def _discovery(address: str, port: int) -> list[dict[str, object]]:
    slot = {"id": "nginx-www", "config": "/etc/nginx/sites-enabled/www",
            "names": ["www.example.test"],
            "endpoints": [{"address": address, "port": port, "tls": "direct", "sni": None}],
            "cert": "/etc/ssl/www.crt", "key": "/etc/ssl/www.key", "chain": None,
            "ca": None, "keystore": None, "keystore_type": None}
    return [{"kind": "nginx", "config": "/etc/nginx/nginx.conf", "user": "root",
             "slots": [slot]}]


def _listed(repo: Repository) -> list[tuple[str | None, str, int, tuple[str, ...]]]:
    return [(r.host, r.address, r.port, r.problems) for r in endpoints_page(repo, 0, 50).items]


def test_the_list_follows_discoveries_hosts_and_observations(tmp_path: Path) -> None:
    with open_repository(None, tmp_path / "home") as repo:
        assert _listed(repo) == []
        repo.upsert_host("web1", "ssh", address="root@192.0.2.10:22")
        repo.save_discovery("web1", _discovery("*", 443))
        assert _listed(repo) == [("web1", "192.0.2.10", 443, ("unprobed",))]
        repo.upsert_host("web1", "ssh", address="root@192.0.2.11:22")
        assert _listed(repo) == [("web1", "192.0.2.11", 443, ("unprobed",))]
        repo.save_discovery("web1", _discovery("*", 8443))
        assert _listed(repo) == [("web1", "192.0.2.11", 8443, ("unprobed",))]
        repo.add_observation(ObservationRecord("192.0.2.11", 8443, "direct",
                                               datetime(2026, 5, 1, tzinfo=UTC), ok=True,
                                               host="web1", findings=(
                                                   {"code": "EXPIRED", "message": "x"},
                                                   {"code": "DRIFT", "message": "y"})))
        assert _listed(repo) == [("web1", "192.0.2.11", 8443, ("expired", "drift"))]
        # an endpoint only observed (no longer in a slot) stays listed with its history
        repo.save_discovery("web1", [])
        [row] = endpoints_page(repo, 0, 50, problem="drift").items
        assert not row.monitored and row.slots == ()
        detail = endpoint_detail(repo, endpoint_id("192.0.2.11", 8443, "direct", None))
        assert [h.findings[0]["code"] for h in detail.history] == ["EXPIRED"]
        assert endpoints_page(repo, 0, 50, problem="unprobed").total == 0


def test_after_probes_the_kept_list_is_brought_forward_as_read_again(tmp_path: Path) -> None:
    from certmgr.app.endpoints import _KEPT, _brought_forward, _entries, _read_entries

    def probe(address: str, port: int, minute: int, *, ok: bool = True, keep: int = 100,
              codes: tuple[str, ...] = ()) -> None:
        repo.add_observation(ObservationRecord(
            address, port, "direct", datetime(2026, 5, 1, 0, minute, tzinfo=UTC), ok=ok,
            host="web1", findings=tuple({"code": c, "message": c} for c in codes)),
            keep=keep)

    def forward() -> object:
        """The kept list brought forward to now (None: it must be read again)."""
        return _brought_forward(repo, _KEPT[repo], repo.endpoints_version())

    with open_repository(None, tmp_path / "home") as repo:
        repo.upsert_host("web1", "ssh", address="root@192.0.2.10:22")
        repo.save_discovery("web1", _discovery("*", 443))
        _entries(repo)
        probe("192.0.2.10", 443, 1, codes=("EXPIRED",))  # a monitored one's first probe
        assert forward() == _read_entries(repo)
        _entries(repo)
        probe("192.0.2.10", 443, 2, ok=False)  # again: the same endpoint, now down
        probe("198.51.100.7", 8443, 2)  # and one only observed, new
        assert forward() == _read_entries(repo)
        assert [(r.address, r.problems) for r in endpoints_page(repo, 0, 50).items] == [
            ("192.0.2.10", ("unreachable",)), ("198.51.100.7", ())]
        # a marked observation gone (its endpoint has none marked now) while another
        # endpoint was probed: noticed, read again
        with repo._db.tx(write=True) as tx:
            tx.execute("DELETE FROM observations WHERE address = ?", ("198.51.100.7",))
        probe("192.0.2.10", 443, 3)
        assert forward() is None
        assert _entries(repo) == _read_entries(repo)
        # a discovery or a host changed: read again too
        probe("192.0.2.10", 443, 4)
        repo.upsert_host("web1", "ssh", address="root@192.0.2.11:22")
        assert forward() is None
        assert _entries(repo) == _read_entries(repo)
