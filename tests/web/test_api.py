"""The REST API over real HTTPS with httpx: definitions with the CLI's validation,
issue and deploy as jobs, pagination, the error shape."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx

from tests.web.conftest import PASSWORD, Running


def _wait(client: httpx.Client, job: dict[str, Any]) -> dict[str, Any]:
    for _ in range(300):
        got: dict[str, Any] = client.get(f"/api/v1/jobs/{job['id']}").json()
        if got["state"] in ("succeeded", "failed"):
            return got
        time.sleep(0.05)
    raise AssertionError(f"job {job['id']} did not finish")


def test_define_issue_edit_delete(web: Running) -> None:
    with web.client("fullop") as c:
        r = c.post("/api/v1/definitions", json={"name": "api-one", "cn": "one.example",
                                                "sans": ["www.one.example"]})
        assert r.status_code == 201, r.text
        assert r.json()["definition"]["name"] == "api-one"
        r = c.post("/api/v1/definitions", json={"name": "api-one", "cn": "one.example"})
        assert r.status_code == 409 and r.json()["error"]["code"] == "exists"
        r = c.post("/api/v1/definitions/api-one/issue")
        assert r.status_code == 202
        job = _wait(c, r.json())
        assert job["state"] == "succeeded", job
        assert job["items"][0]["item"] == "api-one" and job["items"][0]["ok"]
        detail = c.get("/api/v1/certificates/api-one").json()
        assert detail["current"]["version"] == 1
        assert detail["chain"][0]["dns_names"] == ["one.example", "www.one.example"]
        assert len(detail["chain"]) >= 2 and detail["chain"][1]["is_ca"]  # leaf, then CA
        pem = c.get("/api/v1/certificates/api-one/chain.pem")
        assert pem.headers["content-type"] == "application/pem-certificate-chain"
        assert pem.text.count("BEGIN CERTIFICATE") == len(detail["chain"])
        assert "PRIVATE" not in pem.text
        r = c.put("/api/v1/definitions/api-one", json={"sans": ["two.example"]})
        assert r.status_code == 200 and r.json()["status"] == "updated"
        r = c.delete("/api/v1/definitions/api-one")
        assert r.status_code == 409 and r.json()["error"]["code"] == "has_certificates"
        assert c.delete("/api/v1/definitions/api-one",
                        params={"with_certificates": "true"}).status_code == 204
        assert c.get("/api/v1/definitions/api-one").status_code == 404
    with web.client("admin") as admin:
        issued = admin.get("/api/v1/audit", params={"action": "job.issue"}).json()["items"]
    assert any(e["actor"] == "fullop" for e in issued)


def test_invalid_input_is_422_or_400_with_the_error_shape(web: Running) -> None:
    with web.client("fullop") as c:
        for body in ({"name": "x"}, {"name": "bad name", "cn": "a.example"},
                     {"name": "x2", "cn": "a.example", "key": "rsa1024"},
                     {"name": "x3", "cn": "a.example", "validity": "forever"},
                     {"name": "x4", "cn": "a.example", "extra": 1}):
            r = c.post("/api/v1/definitions", json=body)
            assert r.status_code == 422, (body, r.text)
            assert set(r.json()["error"]) == {"code", "message"}
        r = c.post("/api/v1/definitions", json={"name": "x5", "cn": "bad..name"})
        assert r.status_code == 422 and "bad..name" in r.json()["error"]["message"]
        r = c.post("/api/v1/definitions", content=b"{not json",
                   headers={"content-type": "application/json"})
        assert r.status_code == 400 and r.json()["error"]["code"] == "bad_request"
        r = c.get("/api/v1/certificates", params={"limit": 501})
        assert r.status_code == 422
        r = c.get("/api/v1/jobs/" + "0" * 32)
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


def test_certificates_are_paginated(web: Running) -> None:
    with web.client("fullop") as c:
        for i in range(3):
            c.post("/api/v1/definitions", json={"name": f"page-{i}", "cn": f"p{i}.example"})
        first = c.get("/api/v1/certificates", params={"limit": 2}).json()
        second = c.get("/api/v1/certificates", params={"limit": 2, "offset": 2}).json()
    assert first["total"] == second["total"] >= 4
    assert len(first["items"]) == 2
    assert {i["name"] for i in first["items"]}.isdisjoint(i["name"] for i in second["items"])


def test_a_deployment_is_a_job_and_foreign_targets_are_refused(web: Running) -> None:
    with web.client("fullop") as c:
        c.post("/api/v1/definitions", json={"name": "dep-one", "cn": "dep.example",
                                            "targets": ["lab:mail1/postfix"]})
        r = c.post("/api/v1/deployments", json={"definition": "dep-one",
                                                "targets": ["lab:web1/apache2"]})
        assert r.status_code == 422 and "not a target" in r.json()["error"]["message"]
        r = c.post("/api/v1/deployments", json={"definition": "dep-one", "dry_run": True})
        assert r.status_code == 202
        job = _wait(c, r.json())
        assert job["kind"] == "deploy" and job["items"], job
        assert job["items"][0]["item"] == "lab:mail1/postfix"
    with web.client("op") as op:  # restricted to lab:web*: the definition's target is not
        r = op.post("/api/v1/deployments", json={"definition": "dep-one"})
        assert r.status_code == 403 and "lab:mail1" in r.json()["error"]["message"]


def test_key_download_needs_the_admins_password_and_is_audited(web: Running) -> None:
    with web.client("admin") as c:
        r = c.post("/api/v1/certificates/certmgr-web/key", json={"password": "wrong one"})
        assert r.status_code == 403
        r = c.post("/api/v1/certificates/certmgr-web/key", json={"password": PASSWORD})
        assert r.status_code == 200 and "PRIVATE KEY" in r.json()["key_pem"]
        reads = c.get("/api/v1/audit", params={"action": "key.read"}).json()["items"]
    assert reads[0]["actor"] == "admin"
    assert reads[0]["detail"]["reason"] == "web console key download"


def test_users_and_tokens_for_admins(web: Running) -> None:
    with web.client("admin") as c:
        r = c.post("/api/v1/users", json={"name": "api-user", "role": "operator",
                                          "hosts": ["lab:*"]})
        assert r.status_code == 201 and r.json()["one_time_password"]
        assert c.post("/api/v1/users", json={"name": "api-user", "role": "viewer"}
                      ).status_code == 409
        names = {u["name"] for u in c.get("/api/v1/users").json()["items"]}
        assert "api-user" in names and "password_hash" not in str(c.get("/api/v1/users").json())
        tokens = c.get("/api/v1/tokens").json()["items"]
        assert tokens and all("sha256" not in t for t in tokens)
        assert c.delete("/api/v1/users/api-user").status_code == 204
        assert c.delete("/api/v1/users/api-user").status_code == 404


def test_discover_then_plan_a_deployment_on_the_local_tree(web: Running) -> None:
    with web.client("fullop") as c:
        r = c.post("/api/v1/hosts/local/discover")
        assert r.status_code == 202
        job = _wait(c, r.json())
        assert job["state"] == "succeeded", job
        slots = {i["item"] for i in job["items"]}
        assert "local/nginx:_default_" in slots, slots
        hosts = {h["name"]: h for h in c.get("/api/v1/hosts").json()["items"]}
        assert any(s["id"] == "nginx:_default_" for s in hosts["local"]["slots"])
        c.post("/api/v1/definitions", json={"name": "plan-one", "cn": "plan.example",
                                            "targets": ["local/nginx:_default_"]})
        assert _wait(c, c.post("/api/v1/definitions/plan-one/issue").json())["state"] \
            == "succeeded"
        r = c.post("/api/v1/deployments", json={"definition": "plan-one", "dry_run": True})
        job = _wait(c, r.json())
    assert job["state"] == "succeeded", job
    [item] = job["items"]
    assert item["item"] == "local/nginx:_default_" and item["status"] == "planned", item


def test_a_rollback_needs_an_earlier_deployment_and_the_slots_host(web: Running) -> None:
    with web.client("fullop") as c:
        r = c.post("/api/v1/rollbacks", json={"target": "local/nginx:_default_"})
        assert r.status_code == 422
        assert "no earlier verified deployment" in r.json()["error"]["message"]
        r = c.post("/api/v1/rollbacks", json={"target": "local/nginx:_default_", "to": 99})
        assert r.status_code == 422 and "is not a deployment" in r.json()["error"]["message"]
    with web.client("op") as op:  # restricted to lab:web*
        r = op.post("/api/v1/rollbacks", json={"target": "local/nginx:_default_"})
        assert r.status_code == 403 and "host local" in r.json()["error"]["message"]


def test_a_body_over_the_limit_is_refused_unread(web: Running) -> None:
    with web.client("fullop") as c:
        r = c.post("/api/v1/definitions", content=b"{" + b" " * (3 * 1024 * 1024) + b"}",
                   headers={"content-type": "application/json"})
        assert r.status_code == 413 and r.json()["error"]["code"] == "too_large"

        def chunks() -> Iterator[bytes]:
            yield b'{"name": "chunked", "cn": "c.example"}'

        r = c.post("/api/v1/definitions", content=chunks(),
                   headers={"content-type": "application/json"})
        assert r.status_code == 411


def test_definitions_are_shown_as_the_cli_shows_them(web: Running) -> None:
    with web.client("fullop") as c:
        r = c.post("/api/v1/definitions", json={"name": "api-view", "cn": "view.example",
                                                "validity": "90d", "renew_before": "20d"})
        assert r.status_code == 201, r.text
        shown = r.json()["definition"]
        one = c.get("/api/v1/definitions/api-view").json()
        page = c.get("/api/v1/definitions", params={"q": "api-view"}).json()
        assert (page["total"], page["offset"], page["limit"]) == (1, 0, 50)
        listed = page["items"]
    assert shown == one == listed[0] == {
        "name": "api-view", "cn": "view.example", "sans": [], "key": "ec256",
        "validity": "90d", "renew_before": "20d", "issuer": "builtin", "targets": []}
