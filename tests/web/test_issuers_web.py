"""Issuers through the console against a real ACME CA (pebble on loopback, External
Account Binding required): add with the EAB key given as a value, list without secrets,
change the local settings, with the CLI's validation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from certmgr.testing import skip_or_fail
from certmgr.testing.acme import Pebble, find_pebble, run_pebble
from tests.web.conftest import Running

EAB_KEY = "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W"


@pytest.fixture(scope="module")
def pebble(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pebble]:
    if find_pebble() is None:
        skip_or_fail("pebble is not installed (run .ci/install-packages)")
    # account registration needs no DNS: pebble's resolver is never asked here
    with run_pebble(tmp_path_factory.mktemp("pebble-web"), "127.0.0.1:9",
                    eab_keys={"kid-1": EAB_KEY}) as server:
        yield server


def test_add_list_and_change_an_acme_issuer(web: Running, pebble: Pebble) -> None:
    body = {"name": "pebble", "directory": pebble.directory, "agree_tos": True,
            "ca_bundle": str(pebble.ca_bundle), "contacts": ["ops@example.test"]}
    with web.client("admin") as admin:
        r = admin.post("/api/v1/issuers", json=body)
        assert r.status_code == 422 and "External Account Binding" in r.text
        r = admin.post("/api/v1/issuers", json={**body, "eab_kid": "kid-1",
                                                "eab_hmac_key": EAB_KEY})
        assert r.status_code == 201, r.text
        assert r.json()["eab_kid"] == "kid-1" and EAB_KEY not in r.text
        r = admin.post("/api/v1/issuers", json={**body, "eab_kid": "kid-1",
                                                "eab_hmac_key": EAB_KEY})
        assert r.status_code == 422 and "exists already" in r.text
        listed = {i["name"]: i for i in admin.get("/api/v1/issuers").json()["items"]}
        assert listed["pebble"]["keys"] == {"account": "stored"}
        assert listed["pebble"]["contacts"] == ["ops@example.test"]
        r = admin.put("/api/v1/issuers/pebble", json={"profile": "shortlived", "ari": False})
        assert r.status_code == 200, r.text
        assert r.json()["profile"] == "shortlived" and r.json()["ari"] is False
        assert r.json()["account_url"] == listed["pebble"]["account_url"]
        r = admin.put("/api/v1/issuers/pebble", json={"profile": "no spaces please"})
        assert r.status_code == 422 and "profile" in r.json()["error"]["message"]
        r = admin.put("/api/v1/issuers/pebble", json={"profile": ""})
        assert r.json()["profile"] is None
        r = admin.put("/api/v1/issuers/builtin", json={"ari": False})
        assert r.status_code == 422 and "only an ACME issuer" in r.text
        assert admin.put("/api/v1/issuers/nosuch", json={}).status_code == 404
    with web.client("fullop") as op:
        assert op.put("/api/v1/issuers/pebble", json={"ari": True}).status_code == 403
    db = web.console.home / "certmgr.db"
    if db.exists():  # SQLite: the whole file (on PostgreSQL the database is elsewhere)
        assert EAB_KEY.encode() not in Path(db).read_bytes()


def test_the_issuers_page_changes_an_acme_issuer(web: Running, pebble: Pebble) -> None:
    s = web.security.new_session("admin")
    with web.client(cookies={"__Host-certmgr-session": s.sid}, follow_redirects=False) as c:
        r = c.get("/settings/issuers")
        assert r.status_code == 200 and "Change the settings of pebble" in r.text
        r = c.post("/settings/issuers/pebble/edit",
                   data={"csrf": s.csrf, "preferred_chain": "Pebble Root CA", "ari": "1"})
        assert r.status_code == 303
        assert "Pebble Root CA" in c.get("/settings/issuers").text
        r = c.post("/settings/issuers/pebble/edit",
                   data={"csrf": s.csrf, "ca_bundle": "/nonexistent/ca.pem"})
        assert r.status_code == 422 and "no such file" in r.text
