"""Monitoring, issuers and notification settings over real HTTPS with httpx: endpoints
served by a real TLS server on 127.0.0.1 (a certificate of the built-in CA), scans as
jobs that record history, host restrictions, admin-only settings without secrets, a test
notice delivered to a real webhook receiver on loopback."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from certmgr.issuers.definitions import make_definition
from certmgr.monitor.renewal import issue_with_issuer
from certmgr.testing.notify_servers import WebhookReceiver
from certmgr.testing.tls_endpoint import TlsEndpoint, server_context
from tests.web.conftest import Running


def _slot(slot_id: str, port: int, names: list[str]) -> dict[str, Any]:
    return {"id": slot_id, "config": f"/etc/nginx/sites-enabled/{slot_id}", "names": names,
            "endpoints": [{"address": "127.0.0.1", "port": port, "tls": "direct",
                           "sni": names[0]}],
            "cert": f"/etc/nginx/ssl/{slot_id}.crt", "key": f"/etc/nginx/ssl/{slot_id}.key",
            "chain": None, "ca": None, "keystore": None, "keystore_type": None}


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def served(web: Running) -> Iterator[TlsEndpoint]:
    """``local`` has two nginx slots: one served by a TLS server with certmgr's certificate
    ``mon-site``, one on a loopback port nobody listens on."""
    repo = web.console.repository()
    definition = repo.save_definition(make_definition("mon-site", "site.example.test"))
    cert = issue_with_issuer(repo)(definition)
    assert cert.key_ref is not None
    key = repo.load_private_key(cert.key_ref, reason="test endpoint")
    with TlsEndpoint(server_context((cert.cert_pem + cert.chain_pem).encode(), key)) as tls:
        repo.save_discovery("local", [{
            "kind": "nginx", "config": "/etc/nginx/nginx.conf", "user": "root",
            "slots": [_slot("nginx-site", tls.port, ["site.example.test"]),
                      _slot("nginx-gone", _closed_port(), ["gone.example.test"])]}])
        yield tls


def _wait(client: httpx.Client, job_id: str) -> dict[str, Any]:
    for _ in range(300):
        job: dict[str, Any] = client.get(f"/api/v1/jobs/{job_id}").json()
        if job["state"] in ("succeeded", "failed"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish")


def _by_sni(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {i["sni"]: i for i in items}


def test_scan_now_records_history_and_the_list_shows_the_last_probe(
        web: Running, served: TlsEndpoint) -> None:
    with web.client("viewer") as viewer, web.client("fullop") as op:
        before = _by_sni(viewer.get("/api/v1/endpoints").json()["items"])
        site = before["site.example.test"]
        assert site["monitored"] and site["last_probe"] is None
        assert site["problems"] == ["unprobed"] and site["slots"] == ["local/nginx-site"]
        r = op.post("/api/v1/scans", json={"endpoints": [site["id"]]})
        assert r.status_code == 202, r.text
        job = _wait(op, r.json()["id"])
        assert job["state"] == "succeeded", job
        [item] = job["items"]
        assert item["status"] == "ok" and item["endpoint"] == site["id"]
        r = op.post("/api/v1/scans", json={})  # every endpoint: the closed port fails
        job = _wait(op, r.json()["id"])
        assert job["state"] == "failed"
        assert sorted(i["status"] for i in job["items"]) == ["ok", "unreachable"]
        after = _by_sni(viewer.get("/api/v1/endpoints").json()["items"])
        site = after["site.example.test"]
        assert site["last_probe"]["ok"] and site["problems"] == []
        assert site["served"] == {"definition": "mon-site", "version": 1}
        assert after["gone.example.test"]["problems"] == ["unreachable"]
        detail = viewer.get(f"/api/v1/endpoints/{site['id']}").json()
        assert len(detail["history"]) == 2 and all(h["ok"] for h in detail["history"])
        assert detail["history"][0]["time"] >= detail["history"][1]["time"]
        assert viewer.get(f"/api/v1/endpoints/{site['id']}", params={"limit": 1}
                          ).json()["history"][0] == detail["history"][0]


def test_the_list_is_paginated_and_filtered_by_problem(web: Running,
                                                       served: TlsEndpoint) -> None:
    with web.client("viewer") as viewer, web.client("fullop") as op:
        _wait(op, op.post("/api/v1/scans", json={}).json()["id"])
        page = viewer.get("/api/v1/endpoints", params={"limit": 1}).json()
        assert page["total"] == 2 and len(page["items"]) == 1 and page["limit"] == 1
        second = viewer.get("/api/v1/endpoints", params={"limit": 1, "offset": 1}).json()
        assert second["items"][0]["id"] != page["items"][0]["id"]
        bad = viewer.get("/api/v1/endpoints", params={"problem": "unreachable"}).json()
        assert [i["sni"] for i in bad["items"]] == ["gone.example.test"]
        assert viewer.get("/api/v1/endpoints", params={"problem": "any"}).json()["total"] == 1
        assert viewer.get("/api/v1/endpoints", params={"problem": "drift"}).json()["total"] == 0
        r = viewer.get("/api/v1/endpoints", params={"problem": "bogus"})
        assert r.status_code == 422 and r.json()["error"]["code"] == "invalid"
        assert viewer.get("/api/v1/endpoints/" + "0" * 16).status_code == 404


def test_a_restricted_operator_may_not_scan_another_hosts_endpoint(
        web: Running, served: TlsEndpoint) -> None:
    with web.client("viewer") as viewer:
        [site] = [i for i in viewer.get("/api/v1/endpoints").json()["items"]
                  if i["sni"] == "site.example.test"]
    with web.client("op") as op:  # restricted to lab:web*
        r = op.post("/api/v1/scans", json={"endpoints": [site["id"]]})
        assert r.status_code == 403 and "local" in r.json()["error"]["message"]
        r = op.post("/api/v1/scans", json={})  # "all" is all of its own hosts: none here
        assert r.status_code == 422
    with web.client("viewer") as viewer:
        assert viewer.post("/api/v1/scans", json={}).status_code == 403
    with web.client("admin") as admin:
        events = admin.get("/api/v1/audit", params={"action": "access.denied"}).json()["items"]
    assert any(e["actor"] == "op" and e["object"] == "route:POST /api/v1/scans"
               for e in events)


def test_scan_pages_start_a_job_and_show_the_history(web: Running,
                                                     served: TlsEndpoint) -> None:
    with web.client("viewer") as viewer:
        [site] = [i for i in viewer.get("/api/v1/endpoints").json()["items"]
                  if i["sni"] == "site.example.test"]
    s = web.security.new_session("fullop")
    with web.client(cookies={"__Host-certmgr-session": s.sid}, follow_redirects=False) as c:
        r = c.get("/monitoring", params={"problem": "unreachable"})
        assert r.status_code == 200 and "gone.example.test" in r.text
        assert "site.example.test" not in r.text
        r = c.post("/monitoring/scan", data={"csrf": s.csrf, "endpoint": site["id"]})
        assert r.status_code == 303 and r.headers["location"].startswith("/jobs/")
        with web.client("fullop") as api:
            _wait(api, r.headers["location"].rsplit("/", 1)[1])
        r = c.get(f"/monitoring/{site['id']}")
        assert r.status_code == 200 and "mon-site" in r.text and "History" in r.text
        r = c.post("/monitoring/scan", data={"csrf": s.csrf, "endpoint": "not-an-id"})
        assert r.status_code == 422
    restricted = web.security.new_session("op")  # lab:web* only: no button on local's
    with web.client(cookies={"__Host-certmgr-session": restricted.sid}) as c:
        text = c.get("/monitoring").text
        assert "site.example.test" in text and "Scan now:" not in text
        assert "Scan this endpoint now" not in c.get(f"/monitoring/{site['id']}").text


def test_issuers_are_admin_only_and_show_no_secret(web: Running) -> None:
    with web.client("viewer") as viewer:
        r = viewer.get("/api/v1/issuers")
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    with web.client("admin") as admin:
        r = admin.get("/api/v1/issuers")
        assert r.status_code == 200
        [builtin] = [i for i in r.json()["items"] if i["name"] == "builtin"]
        assert builtin["kind"] == "builtin" and set(builtin["keys"].values()) == {"stored"}
        assert "root" in builtin["keys"] and builtin["certificates"]
        assert "PRIVATE KEY" not in r.text
        r = admin.post("/api/v1/issuers", json={"name": "builtin",
                                                "directory": "https://ca.example/dir"})
        assert r.status_code == 422 and "reserved" in r.json()["error"]["message"]
        r = admin.post("/api/v1/issuers", json={"name": "le", "directory": "ftp://x/dir"})
        assert r.status_code == 422 and "http(s) URL" in r.json()["error"]["message"]
        r = admin.post("/api/v1/issuers", json={"name": "le", "eab_kid": "kid",
                                                "directory": "https://ca.example/dir"})
        assert r.status_code == 422 and "go together" in r.json()["error"]["message"]
        r = admin.post("/api/v1/issuers", json={"name": "le", "eab_kid": "kid",
                                                "eab_hmac_key": "not base64!",
                                                "directory": "https://ca.example/dir"})
        assert r.status_code == 422 and "not base64!" not in r.text
        r = admin.post("/api/v1/issuers", json={
            "name": "le", "directory": f"https://127.0.0.1:{_closed_port()}/dir"})
        assert r.status_code == 409, r.text  # the CA cannot be reached: nothing stored
        assert [i["name"] for i in admin.get("/api/v1/issuers").json()["items"]] == ["builtin"]


def test_notification_settings_are_redacted_and_a_test_notice_is_sent(
        web: Running, monkeypatch: pytest.MonkeyPatch) -> None:
    with web.client("admin") as admin, web.client("viewer") as viewer:
        assert viewer.get("/api/v1/settings/notifications").status_code == 403
        empty = admin.get("/api/v1/settings/notifications").json()
        assert empty["channels"] == [] and empty["editable"] is False
        assert admin.post("/api/v1/settings/notifications/test").status_code == 422
        with WebhookReceiver() as hook:
            monkeypatch.setenv("CERTMGR_TEST_HOOK_TOKEN", "s3cret-hook-token-value")
            config = web.console.home / "monitor.toml"
            config.write_text(
                f'[[notify.webhook]]\nname = "ops"\nurl = "{hook.url}"\n'
                'token_env = "CERTMGR_TEST_HOOK_TOKEN"\n'
                f'[[notify.email]]\nname = "mail"\nhost = "127.0.0.1"\nport = {_closed_port()}\n'
                'from = "certmgr@example.test"\nto = ["ops@example.test"]\n'
                'security = "none"\n')
            try:
                r = admin.get("/api/v1/settings/notifications")
                assert r.status_code == 200
                shown = {c["name"]: c for c in r.json()["channels"]}
                assert shown["ops"]["url"] == f"http://127.0.0.1:{hook.port}/***"
                assert shown["ops"]["headers"] == {"Authorization": "stored"}
                assert shown["mail"]["to"] == ["ops@example.test"]
                assert "secret-token-path" not in r.text and "s3cret" not in r.text
                assert r.json()["source"] == str(config)
                r = admin.post("/api/v1/settings/notifications/test")
                assert r.status_code == 202
                job = _wait(admin, r.json()["id"])
                items = {i["item"]: i for i in job["items"]}
                assert items["ops"]["status"] == "sent"
                assert items["mail"]["status"] == "failed"  # nobody listens there
                [received] = hook.wait_for(1)
                assert received["event"] == "test"
                sent = {k.lower(): v for k, v in hook.headers[0].items()}
                assert sent["authorization"] == "Bearer s3cret-hook-token-value"
            finally:
                config.unlink()
