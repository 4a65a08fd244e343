"""Requests for an outside CA and certificate downloads through the API, over real HTTPS
with httpx: the CSR out, a real CA's answer (a CA built here with ``cryptography``) in,
every download format read back with the library that reads it."""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from typing import Any

import httpx
import jks
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12
from cryptography.x509.oid import NameOID

from tests.web.conftest import PASSWORD, Running
from tests.web.test_api import _wait


class OutsideCA:
    """A root and an intermediate, as an outside CA answering CSRs."""

    def __init__(self) -> None:
        now = dt.datetime.now(dt.UTC)
        self.root_key = ec.generate_private_key(ec.SECP256R1())
        self.root = self._cert("Outside Root", self.root_key.public_key(), self.root_key,
                               "Outside Root", now, ca=True)
        self.inter_key = ec.generate_private_key(ec.SECP256R1())
        self.inter = self._cert("Outside Issuing CA", self.inter_key.public_key(),
                                self.root_key, "Outside Root", now, ca=True)

    @staticmethod
    def _cert(subject: str, public: Any, signer: Any, issuer: str, now: dt.datetime, *,
              ca: bool = False, sans: list[str] | None = None) -> x509.Certificate:
        b = (x509.CertificateBuilder()
             .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
             .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
             .public_key(public).serial_number(x509.random_serial_number())
             .not_valid_before(now - dt.timedelta(minutes=5))
             .not_valid_after(now + dt.timedelta(days=90))
             .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if sans:
            b = b.add_extension(x509.SubjectAlternativeName(
                [x509.DNSName(n) for n in sans]), critical=False)
        return b.sign(signer, hashes.SHA256())

    def answer(self, csr_pem: bytes, sans: list[str]) -> str:
        csr = x509.load_pem_x509_csr(csr_pem)
        leaf = self._cert(sans[0], csr.public_key(), self.inter_key, "Outside Issuing CA",
                          dt.datetime.now(dt.UTC), sans=sans)
        return b"".join(c.public_bytes(serialization.Encoding.PEM)
                        for c in (leaf, self.inter)).decode()


def test_request_download_the_csr_and_receive_the_answer(web: Running) -> None:
    ca = OutsideCA()
    with web.client("fullop") as op, web.client("viewer") as viewer:
        assert op.post("/api/v1/definitions", json={
            "name": "outside-one", "cn": "outside.example", "sans": ["www.outside.example"],
            "issuer": "external"}).status_code == 201
        assert viewer.post("/api/v1/requests",
                           json={"definition": "outside-one"}).status_code == 403
        r = op.post("/api/v1/requests", json={"definition": "outside-one"})
        assert r.status_code == 201, r.text
        made = r.json()
        assert made["definition"] == "outside-one" and "CERTIFICATE REQUEST" in made["csr_pem"]
        listed = viewer.get("/api/v1/requests").json()["items"]
        assert {"id": made["id"], "definition": "outside-one"}.items() <= next(
            i for i in listed if i["id"] == made["id"]).items()
        csr = viewer.get("/api/v1/requests/outside-one/csr.pem")
        assert csr.status_code == 200 and csr.headers["content-type"] == "application/pkcs10"
        assert csr.text == made["csr_pem"]
        assert "PRIVATE" not in csr.text
        answer = ca.answer(csr.content, ["outside.example", "www.outside.example"])

        assert viewer.post("/api/v1/requests/outside-one/receive",
                           json={"certificate": answer}).status_code == 403
        key = ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()).decode()
        for bad, says in ((answer + key, "PRIVATE KEY block"), ("\x00\x01binary", "not PEM"),
                          ("just text", "no '-----BEGIN CERTIFICATE-----'")):
            r = op.post("/api/v1/requests/outside-one/receive", json={"certificate": bad})
            assert r.status_code == 422 and says in r.json()["error"]["message"], r.text
        r = op.post("/api/v1/requests/certmgr-web/receive", json={"certificate": answer})
        assert r.status_code in (404, 422), r.text  # not certmgr-web's request: not stored
        r = op.post("/api/v1/requests/outside-one/receive",
                    json={"certificate": "x" * 300_000})
        assert r.status_code == 422
        assert viewer.get("/api/v1/certificates/outside-one").json()["current"] is None

        r = op.post("/api/v1/requests/outside-one/receive", json={"certificate": answer})
        assert r.status_code == 201, r.text
        assert r.json()["definition"] == "outside-one" and r.json()["version"] == 1
        assert made["id"] not in [i["id"] for i in viewer.get("/api/v1/requests").json()["items"]]
        assert viewer.get("/api/v1/requests/outside-one/csr.pem").status_code == 404
        chain = viewer.get("/api/v1/certificates/outside-one").json()["chain"]
        assert [c["subject"] for c in chain][:2] == ["CN=outside.example",
                                                     "CN=Outside Issuing CA"]
        # the same answer again: no request is pending any more
        r = op.post("/api/v1/requests/outside-one/receive", json={"certificate": answer})
        assert r.status_code == 404, r.text
        assert op.post("/api/v1/requests",
                       json={"definition": "nosuch-def"}).status_code == 404


def _issued(web: Running, name: str) -> None:
    with web.client("fullop") as op:
        assert op.post("/api/v1/definitions", json={"name": name, "cn": f"{name}.example"}
                       ).status_code == 201
        assert _wait(op, op.post(f"/api/v1/definitions/{name}/issue").json())["state"] == \
            "succeeded"


def test_public_downloads_in_every_format_for_readers(web: Running) -> None:
    _issued(web, "dl-public")
    with web.client("viewer") as viewer:
        def get(fmt: str) -> httpx.Response:
            r = viewer.get(f"/api/v1/certificates/dl-public/export/{fmt}")
            assert r.status_code == 200, (fmt, r.text)
            assert b"PRIVATE" not in r.content
            return r

        leaf = x509.load_pem_x509_certificate(get("pem").content)
        assert leaf.subject.rfc4514_string() == "CN=dl-public.example"
        der = get("der")
        assert der.headers["content-type"] == "application/pkix-cert"
        assert x509.load_der_x509_certificate(der.content) == leaf
        chain = x509.load_pem_x509_certificates(get("chain").content)
        assert chain and all(c != leaf for c in chain)
        assert x509.load_pem_x509_certificates(get("fullchain").content) == [leaf, *chain]
        p7 = get("p7b")
        assert p7.headers["content-type"] == "application/pkcs7-mime"
        # a PKCS#7 SET OF is sorted by its DER encoding: the same certificates, any order
        assert set(pkcs7.load_der_pkcs7_certificates(p7.content)) == {leaf, *chain}
        assert 'filename="dl-public.der"' in der.headers["content-disposition"]
        assert viewer.get("/api/v1/certificates/dl-public/export/p12").status_code == 422
        assert viewer.get("/api/v1/certificates/nosuch/export/pem").status_code == 404
        assert viewer.post("/api/v1/certificates/dl-public/export",
                           json={"format": "combined", "password": PASSWORD}
                           ).status_code == 403


def test_key_downloads_need_the_admins_password_and_are_audited(web: Running) -> None:
    _issued(web, "dl-key")
    url = "/api/v1/certificates/dl-key/export"
    with web.client("admin") as admin, web.client("fullop") as op:
        assert op.post(url, json={"format": "p12", "password": PASSWORD,
                                  "keystore_password": "k" * 12}).status_code == 403
        r = admin.post(url, json={"format": "p12", "password": "wrong",
                                  "keystore_password": "keystore secret"})
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
        r = admin.post(url, json={"format": "jks", "password": PASSWORD})
        assert r.status_code == 422, r.text  # a keystore needs its own password
        r = admin.post(url, json={"format": "p12", "password": PASSWORD,
                                  "keystore_password": "k" * 129})
        assert r.status_code == 422
        r = admin.post(url, json={"format": "p12", "password": PASSWORD,
                                  "keystore_password": "keystore secret", "alias": "web"})
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "application/x-pkcs12"
        key, cert, more = pkcs12.load_key_and_certificates(r.content, b"keystore secret")
        assert key is not None and cert is not None
        assert cert.subject.rfc4514_string() == "CN=dl-key.example" and more
        r = admin.post(url, json={"format": "jks", "password": PASSWORD,
                                  "keystore_password": "jks secret"})
        store = jks.KeyStore.loads(r.content, "jks secret")
        assert list(store.private_keys) == ["dl-key"]
        r = admin.post(url, json={"format": "combined", "password": PASSWORD})
        assert r.text.count("BEGIN CERTIFICATE") >= 2 and "PRIVATE KEY" in r.text
        r = admin.post(url, json={"format": "pem", "password": PASSWORD})
        assert r.headers["content-type"] == "application/zip"
        with zipfile.ZipFile(io.BytesIO(r.content)) as archive:
            modes = {i.filename: (i.external_attr >> 16) & 0o777 for i in archive.infolist()}
            assert b"PRIVATE KEY" in archive.read("dl-key.key")
        assert modes["dl-key.key"] == 0o600 and modes["dl-key.crt"] == 0o644
        events = admin.get("/api/v1/audit", params={"limit": 500}).json()["items"]
    downloads = [e for e in events if e["action"] == "key.download"
                 and e["object"] == "certificate:dl-key"]
    assert sorted(e["detail"]["format"] for e in downloads) == ["combined", "jks", "p12", "pem"]
    assert all(e["actor"] == "admin" for e in downloads)
    refused = [e for e in events if e["action"] == "key.download_refused"
               and e["object"] == "certificate:dl-key"]
    assert refused and refused[0]["detail"]["format"] == "p12"
    reads = [e for e in events if e["action"] == "key.read"
             and e["detail"]["reason"] == "export dl-key as p12"]
    assert reads and all(e["actor"] == "admin" for e in reads)  # every key read names them
    assert not any("secret" in str(e["detail"]) for e in events)  # keystore passwords
