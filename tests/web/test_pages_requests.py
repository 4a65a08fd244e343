"""The requests, downloads and hosts forms over real HTTPS with a signed-in session:
a request made from the form, the CA's answer uploaded as a file (and a file that is too
large or not PEM refused), a key download form and the host form's refusals."""

from __future__ import annotations

from pathlib import Path

import httpx

from certmgr.app.definitions import define
from certmgr.issuers import DEFAULT_RENEW_BEFORE
from tests.web.conftest import PASSWORD, Running
from tests.web.test_api_requests import OutsideCA


def _signed_in(web: Running, user: str) -> tuple[httpx.Client, str]:
    session = web.security.new_session(user)
    client = web.client(cookies={"__Host-certmgr-session": session.sid},
                        follow_redirects=False)
    return client, session.csrf


def test_a_request_from_the_form_and_the_answer_as_a_file(web: Running) -> None:
    import datetime as dt

    define(web.console, "outside-form", "outside-form.example", [], key="ec256",
           validity=dt.timedelta(days=90), renew_before=DEFAULT_RENEW_BEFORE,
           issuer="external", targets=[])
    client, csrf = _signed_in(web, "fullop")
    viewer, viewer_csrf = _signed_in(web, "viewer")
    with client, viewer:
        assert viewer.post("/requests", data={"csrf": viewer_csrf,
                                              "definition": "outside-form"}).status_code == 403
        r = client.post("/requests", data={"csrf": csrf, "definition": "outside-form"})
        assert r.status_code == 303 and r.headers["location"].startswith("/requests#request-")
        page = viewer.get("/requests").text
        assert "Download the CSR of outside-form (PEM)" in page
        assert "Receive for outside-form" not in page  # a viewer sees, does not act
        assert "Receive for outside-form" in client.get("/requests").text
        csr = viewer.get("/requests/outside-form/csr.pem")
        assert csr.headers["content-type"] == "application/pkcs10"
        answer = OutsideCA().answer(csr.content, ["outside-form.example"])

        url = "/requests/outside-form/receive"
        r = client.post(url, data={"csrf": csrf},
                        files={"file": ("big.pem", b"A" * (256 * 1024 + 1))})
        assert r.status_code == 413 and "big.pem: over 262144 bytes" in r.text
        r = client.post(url, data={"csrf": csrf},
                        files={"file": ("cert.der", b"\x30\x82\x01\x00" + b"\xff" * 100)})
        assert r.status_code == 422 and "not PEM text" in r.text
        r = client.post(url, files={"file": ("answer.pem", answer.encode())})
        assert r.status_code == 403  # no CSRF token
        r = client.post(url, data={"csrf": csrf}, files={"file": ("answer.pem",
                                                                  answer.encode())})
        assert r.status_code == 201, r.text
        assert "Received" in r.text and "outside-form</a> version 1" in r.text
        assert "Download the CSR of outside-form" not in r.text


def test_the_key_download_form_and_the_host_form(web: Running, tmp_path: Path) -> None:
    admin, csrf = _signed_in(web, "admin")
    with admin:
        page = admin.get("/certificates/certmgr-web").text
        assert "Download with the key" in page and "Certificate (DER)" in page
        url = "/certificates/certmgr-web/export"
        r = admin.post(url, data={"csrf": csrf, "format": "p12", "password": "wrong",
                                  "keystore_password": "ks secret"})
        assert r.status_code == 403 and "password is not right" in r.text
        assert "ks secret" not in r.text
        r = admin.post(url, data={"csrf": csrf, "format": "jks", "password": PASSWORD})
        assert r.status_code == 422 and "needs a password" in r.text
        r = admin.post(url, data={"csrf": csrf, "format": "combined", "password": PASSWORD})
        assert r.status_code == 200 and "PRIVATE KEY" in r.text
        assert r.headers["content-disposition"] == 'attachment; filename="certmgr-web.pem"'
        r = admin.get("/certificates/certmgr-web/export/der")
        assert r.headers["content-type"] == "application/pkix-cert"

        form = {"csrf": csrf, "url": "ssh://root@web9.example", "key": "/nonexistent/key",
                "known_hosts": "web1.example ssh-ed25519 "
                               "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"}
        r = admin.post("/hosts", data=form)
        assert r.status_code == 422 and "no line holds a key for web9.example" in r.text
        assert 'value="ssh://root@web9.example"' in r.text  # the form keeps what was typed
    viewer, _ = _signed_in(web, "viewer")
    with viewer:
        assert "Add an SSH host" not in viewer.get("/hosts").text
        assert "Download with the key" not in viewer.get("/certificates/certmgr-web").text
        assert viewer.get("/hosts/local").status_code == 200
        assert viewer.get("/hosts/nosuch").status_code == 404
