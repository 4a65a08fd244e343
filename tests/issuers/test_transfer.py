"""Request/receive round trip, import of every format, export checked by keytool and OpenSSL."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from certmgr.errors import InputError, NotFound, PKIError, WrongPassword
from certmgr.issuers import (
    BuiltinIssuer,
    CAMaterial,
    ExternalIssuer,
    IssueRequest,
    export_files,
    import_certificate,
    issue_definition,
    make_definition,
    receive,
    request_csr,
)
from certmgr.pki import (
    KeyType,
    PrivateKey,
    certificate_pem,
    certificates_pem,
    encrypted_key_pem,
    generate_key,
    issue_server,
    key_pem,
    keys_match,
    load_bundle,
    load_csr,
    pkcs12_keystore,
)
from certmgr.repository import Repository, RequestState


def _sign_csr(ca: CAMaterial, csr_pem: bytes, names: tuple[str, ...]) -> bytes:
    """What an outside CA does with our CSR (here: our test CA)."""
    csr = load_csr(csr_pem)
    issuer = BuiltinIssuer("outside", ca.root, ca.intermediate, ca.intermediate_key)
    issued = issuer.issue(IssueRequest("x", csr, names, dt.timedelta(days=90)))
    # returned in the "wrong" order, with the root, and text around: receive must cope
    return (b"Your certificate:\n" + certificates_pem([ca.root, ca.intermediate])
            + certificate_pem(issued.certificate))


def test_request_receive_round_trip(repo: Repository, ca_material: CAMaterial) -> None:
    definition = repo.save_definition(make_definition(
        "pop", "pop.example.com", ["imap.example.com"], issuer="external"))
    outcome = issue_definition(repo, definition, ExternalIssuer())
    assert outcome.certificate is None and outcome.request is not None
    request, csr = request_csr(repo, definition)
    assert len(repo.list_requests()) == 2
    answer = _sign_csr(ca_material, csr, ("pop.example.com", "imap.example.com"))
    record = receive(repo, answer, source="answer.pem")
    assert record.definition == "pop" and record.key_ref == request.key_ref
    assert load_bundle(record.chain_pem.encode()).certificates == (ca_material.intermediate,)
    assert [r.id for r in repo.list_requests()] == [outcome.request.id]
    assert repo.list_requests(state=RequestState.RECEIVED)[0].id == request.id
    with pytest.raises(PKIError, match=r"answer\.pem: the certificate .* matches no pending"):
        receive(repo, answer, source="answer.pem")


def test_receive_refuses_missing_names_and_unknown_keys(repo: Repository,
                                                        ca_material: CAMaterial) -> None:
    definition = repo.save_definition(make_definition(
        "pop", "pop.example.com", ["imap.example.com"], issuer="external"))
    _, csr = request_csr(repo, definition)
    short = _sign_csr(ca_material, csr, ("pop.example.com",))
    with pytest.raises(InputError, match=r"lacks imap\.example\.com"):
        receive(repo, short, source="short.pem")
    with pytest.raises(PKIError, match="matches no pending"):
        receive(repo, certificate_pem(ca_material.intermediate), source="ca.pem")
    assert repo.current_certificate("pop") is None


def _leaf(ca: CAMaterial, names: list[str]) -> tuple[x509.Certificate, PrivateKey]:
    key = generate_key(KeyType.RSA2048)
    cert = issue_server(ca.intermediate, ca.intermediate_key, key.public_key(), names,
                        dt.timedelta(days=200))
    return cert, key


def test_import_pem_pair_and_chain(repo: Repository, ca_material: CAMaterial) -> None:
    cert, key = _leaf(ca_material, ["mail.example.com", "smtp.example.com"])
    files = [(certificates_pem([cert, ca_material.intermediate]), "mail.crt")]
    definition, record = import_certificate(repo, files, key_file=(
        encrypted_key_pem(key, "pw"), "mail.key"), password="pw")
    assert definition.name == "mail.example.com" and definition.sans == ("smtp.example.com",)
    assert definition.key_type == "rsa2048" and definition.issuer == "external"
    assert load_bundle(record.chain_pem.encode()).certificates == (ca_material.intermediate,)
    stored = serialization.load_der_private_key(
        repo.load_private_key(record.key_ref or "", reason="test"), None)
    assert keys_match(stored, cert)  # type: ignore[arg-type]


def test_import_pkcs12_with_name(repo: Repository, ca_material: CAMaterial) -> None:
    cert, key = _leaf(ca_material, ["www2.example.com", "ftp.example.com"])
    p12 = pkcs12_keystore(cert, [ca_material.intermediate], key,
                          alias="tomcat", password="secret")
    definition, _ = import_certificate(repo, [(p12, "www2.p12")], password="secret",
                                       name="tomcat-www2")
    assert definition.name == "tomcat-www2" and definition.cn == "www2.example.com"


@pytest.mark.parametrize(("case", "message", "error"), [
    ("wrong-order", "comes later in the file", PKIError),
    ("missing-link", r"issuer \(CN=Test Intermediate CA.*\) is missing", PKIError),
    ("key-mismatch", r"other\.key: the private key matches no certificate", PKIError),
    ("encrypted-no-password", "encrypted: give its password", WrongPassword),
    ("bad-name", "must not contain", InputError),
    ("truncated", "never ended", PKIError),
])
def test_import_bad_input_stores_nothing(repo: Repository, ca_material: CAMaterial, case: str,
                                         message: str, error: type[Exception]) -> None:
    cert, key = _leaf(ca_material, ["a.example.com"])
    pem = certificate_pem(cert)
    files = [(pem, "a.crt")]
    key_file = (key_pem(key), "a.key")
    name = None
    if case == "wrong-order":
        files = [(certificates_pem([cert, ca_material.root, ca_material.intermediate]), "a.crt")]
    elif case == "missing-link":
        files = [(pem + certificate_pem(ca_material.root), "a.crt")]
    elif case == "key-mismatch":
        key_file = (key_pem(generate_key(KeyType.EC256)), "other.key")
    elif case == "encrypted-no-password":
        key_file = (encrypted_key_pem(key, "pw"), "a.key")
    elif case == "bad-name":
        name = "../etc/passwd"
    else:
        files = [(pem[:200], "a.crt")]
    with pytest.raises(error, match=message):
        import_certificate(repo, files, key_file=key_file, name=name)
    assert repo.list_definitions() == []


def test_import_refuses_existing_definition(repo: Repository, ca_material: CAMaterial) -> None:
    cert, _ = _leaf(ca_material, ["a.example.com"])
    files = [(certificate_pem(cert), "a.crt")]
    import_certificate(repo, files)
    with pytest.raises(InputError, match="exists already"):
        import_certificate(repo, files)


def test_export_formats(ca_repo: Repository, ca_material: CAMaterial, tmp_path: Path) -> None:
    definition = ca_repo.save_definition(make_definition("www2", "www2.example.com",
                                                         ["ftp.example.com"]))
    issue_definition(ca_repo, definition)
    pem = {f.name: f for f in export_files(ca_repo, "www2", "pem")}
    assert sorted(pem) == ["www2-ca.crt", "www2-chain.crt", "www2.crt", "www2.key"]
    assert [f.secret for f in pem.values()].count(True) == 1 and pem["www2.key"].secret
    assert load_bundle(pem["www2-ca.crt"].data).certificates == (ca_material.root,)
    full = export_files(ca_repo, "www2", "fullchain")
    assert len(load_bundle(full[0].data).certificates) == 2
    combined = export_files(ca_repo, "www2", "combined")[0]
    bundle = load_bundle(combined.data)
    assert combined.secret and bundle.key is not None and len(bundle.certificates) == 2
    p12 = export_files(ca_repo, "www2", "p12", password="p12pass")[0]
    assert load_bundle(p12.data, "p12pass").alias == "www2"
    jks = export_files(ca_repo, "www2", "jks", password="changeit", alias="tomcat")[0]
    assert load_bundle(jks.data, "changeit").alias == "tomcat"
    if shutil.which("keytool") is None:
        pytest.skip("keytool (JRE) is not installed: JKS checked with pyjks only")
    for name, data, kind, pw, alias in (("k.jks", jks.data, "JKS", "changeit", "tomcat"),
                                         ("k.p12", p12.data, "PKCS12", "p12pass", "www2")):
        (tmp_path / name).write_bytes(data)
        done = subprocess.run(["keytool", "-list", "-v", "-keystore", str(tmp_path / name),
                               "-storetype", kind, "-storepass", pw],
                              capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"Alias name: {alias}" in done.stdout and "PrivateKeyEntry" in done.stdout
        assert "Certificate chain length: 2" in done.stdout


def test_export_errors(ca_repo: Repository) -> None:
    with pytest.raises(NotFound):
        export_files(ca_repo, "nope", "pem")
    ca_repo.save_definition(make_definition("www", "www.example.com"))
    with pytest.raises(NotFound, match="no certificate yet"):
        export_files(ca_repo, "www", "pem")
    with pytest.raises(InputError, match="not one of"):
        export_files(ca_repo, "www", "der")
    with pytest.raises(InputError, match="needs a password"):
        export_files(ca_repo, "www", "jks")
