"""PKI commands end to end: the seed's acceptance scenario; bad input exits 2, stores nothing."""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from certmgr.pki import load_bundle, verify_chain
from tests.conftest import run_cli

SEED = [
    ("ldap.example.com", []),
    ("www.example.com", []),
    ("www2.example.com", ["ftp.example.com"]),
    ("smtp.example.com", []),
    ("pop.example.com", ["imap.example.com"]),
]


def ok(cli: CliRunner, *args: str) -> str:
    code, out, err = run_cli(cli, *args)
    assert code == 0, f"{args}: exit {code}: {err}"
    return out


def test_acceptance_seed_scenario(home: Path, cli: CliRunner, tmp_path: Path) -> None:
    ok(cli, "ca", "init")
    root_pem = tmp_path / "root.pem"
    ok(cli, "ca", "export", "--out", str(root_pem))
    assert stat.S_IMODE(root_pem.stat().st_mode) == 0o644
    assert ok(cli, "ca", "export") == root_pem.read_text()
    for name, sans in SEED:
        ok(cli, "define", name, "--cn", name, *[a for s in sans for a in ("--san", s)],
           "--key", "ec256", "--validity", "397d", "--renew-before", "30d",
           "--target", f"{name.split('.')[0]}:main")
    issued = json.loads(ok(cli, "issue", "--all", "--json"))
    assert [r["status"] for r in issued["results"]] == ["issued"] * 5
    root = load_bundle(root_pem.read_bytes()).certificates[0]
    for name, sans in SEED:
        out = tmp_path / name
        ok(cli, "export", name, "--format", "pem", "--out", str(out))
        key = out / f"{name}.key"
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
        leaf = load_bundle((out / f"{name}.crt").read_bytes()).certificates[0]
        chain = load_bundle((out / f"{name}-chain.crt").read_bytes()).certificates
        for host in (name, *sans):
            assert verify_chain(leaf, chain, [root], hostname=host).ok
        if shutil.which("openssl"):
            done = subprocess.run(["openssl", "verify", "-CAfile", str(root_pem), "-untrusted",
                                   str(out / f"{name}-chain.crt"), str(out / f"{name}.crt")],
                                  capture_output=True, text=True, check=False)
            assert done.returncode == 0, done.stderr
    ok(cli, "export", "www2.example.com", "--format", "jks", "--password", "changeit",
       "--alias", "tomcat", "--out", str(tmp_path / "jks"))
    jks = tmp_path / "jks" / "www2.example.com.jks"
    assert stat.S_IMODE(jks.stat().st_mode) == 0o600
    if shutil.which("keytool"):
        done = subprocess.run(["keytool", "-list", "-keystore", str(jks), "-storepass",
                               "changeit"], capture_output=True, text=True, check=False)
        assert done.returncode == 0 and "tomcat" in done.stdout, done.stdout + done.stderr
    listed = json.loads(ok(cli, "list", "--json"))["certificates"]
    assert {r["name"] for r in listed} == {n for n, _ in SEED}
    assert all(r["status"] == "valid" and r["issuer"] == "builtin" for r in listed)
    assert json.loads(ok(cli, "list", "--expiring", "30d", "--json"))["certificates"] == []
    soon = json.loads(ok(cli, "list", "--expiring", "400d", "--json"))["certificates"]
    assert len(soon) == 5 and soon[0]["targets"]
    table = ok(cli, "list")
    assert "www2.example.com" in table and "ftp.example.com" in table and "valid" in table


def test_csr_round_trip_through_request_and_receive(home: Path, cli: CliRunner,
                                                    tmp_path: Path) -> None:
    ok(cli, "ca", "init", "--name", "outside")  # plays the outside CA
    ok(cli, "define", "mail", "--cn", "smtp.example.com", "--issuer", "external")
    pending = json.loads(ok(cli, "issue", "mail", "--json"))["results"][0]
    assert pending["status"] == "pending"
    listed = json.loads(ok(cli, "list", "--json"))["certificates"]
    assert [(r["name"], r["status"]) for r in listed] == [("mail", "pending")]
    csr = tmp_path / "mail.csr"
    ok(cli, "request", "mail", "--csr-out", str(csr))
    # the outside CA signs it (our own CA code, not through the definition)
    import datetime as dt

    from certmgr.issuers import BuiltinIssuer, IssueRequest, load_issuer
    from certmgr.pki import certificates_pem, load_csr
    from certmgr.repository import open_repository

    repo = open_repository(None, home)
    try:
        issuer = load_issuer(repo, "outside")
    finally:
        repo.close()
    assert isinstance(issuer, BuiltinIssuer)
    cert = issuer.issue(IssueRequest("mail", load_csr(csr.read_bytes()), ("smtp.example.com",),
                                     dt.timedelta(days=90)))
    answer = tmp_path / "answer.pem"
    answer.write_bytes(certificates_pem([issuer.intermediate, cert.certificate]))
    out = json.loads(ok(cli, "receive", str(answer), "--json"))
    assert out["name"] == "mail" and out["version"] == 1
    code, _, err = run_cli(cli, "receive", str(answer))
    assert code == 2 and "matches no pending request" in err


def test_apply_is_idempotent(home: Path, cli: CliRunner, tmp_path: Path) -> None:
    toml = tmp_path / "defs.toml"
    toml.write_text('[definitions."www.example.com"]\nsans = ["example.com"]\n'
                    '[definitions.mail]\ncn = "smtp.example.com"\n')
    code, out, err = run_cli(cli, "apply", str(toml), "--json")
    assert code == 0 and "issuer builtin does not exist yet (`certmgr ca init`" in err
    first = json.loads(out)["definitions"]
    assert [d["status"] for d in first] == ["created", "created"]
    again = json.loads(ok(cli, "apply", str(toml), "--json"))["definitions"]
    assert [d["status"] for d in again] == ["unchanged", "unchanged"]
    toml.write_text('[definitions."www.example.com"]\nsans = ["example.com", "w.example.com"]\n'
                    '[definitions.mail]\ncn = "smtp.example.com"\n')
    third = json.loads(ok(cli, "apply", str(toml), "--json"))["definitions"]
    assert [d["status"] for d in third] == ["updated", "unchanged"]
    shown = json.loads(ok(cli, "definitions", "show", "www.example.com", "--json"))
    assert shown["sans"] == ["example.com", "w.example.com"] and shown["certificate"] is None


def test_definitions_edit_list_delete(home: Path, cli: CliRunner) -> None:
    ok(cli, "ca", "init")
    ok(cli, "define", "www", "--cn", "www.example.com")
    code, out, err = run_cli(cli, "definitions", "edit", "www", "--add-san", "example.com",
                             "--validity", "90d", "--target", "web1/nginx:www", "--json")
    assert code == 0 and "target web1/nginx:www is not a discovered slot" in err
    edited = json.loads(out)
    assert edited["targets"] == ["web1/nginx:www"]
    assert edited["sans"] == ["example.com"] and edited["validity"] == "90d"
    table = ok(cli, "definitions", "list")
    assert "www.example.com" in table and " example.com" in table
    ok(cli, "issue", "www")
    code, _, err = run_cli(cli, "definitions", "delete", "www")
    assert code == 2 and "--yes" in err
    ok(cli, "definitions", "delete", "www", "--yes")
    assert json.loads(ok(cli, "definitions", "list", "--json")) == {"definitions": []}


def test_ca_revoke_and_crl(home: Path, cli: CliRunner, tmp_path: Path) -> None:
    ok(cli, "ca", "init")
    ok(cli, "define", "www", "--cn", "www.example.com")
    serial = json.loads(ok(cli, "issue", "www", "--json"))["results"][0]["serial"]
    assert "revoked www version 1" in ok(cli, "ca", "revoke", serial)
    rows = json.loads(ok(cli, "list", "--json"))["certificates"]
    assert [(r["name"], r["status"]) for r in rows] == [("www", "none")]  # no current version
    ok(cli, "ca", "crl", "--out", str(tmp_path / "crl.pem"))
    from cryptography import x509

    crl = x509.load_pem_x509_crl((tmp_path / "crl.pem").read_bytes())
    assert [r.serial_number for r in crl] == [int(serial, 16)]
    shown = json.loads(ok(cli, "ca", "show", "--json"))
    assert shown["root"]["is_ca"] and shown["intermediate"]["issuer"] == shown["root"]["subject"]


@pytest.mark.parametrize(("args", "message"), [
    (["define", "a/b", "--cn", "a.example.com"], "must not contain"),
    (["define", "..", "--cn", "a.example.com"], "must not contain"),
    (["define", "x", "--cn", "bad_name!"], "not a valid DNS name"),
    (["define", "x", "--cn", "x.example.com", "--san", "-x.example.com"], "not a valid DNS"),
    (["define", "x", "--cn", "x.example.com", "--validity", "30d", "--renew-before", "30d"],
     "must be shorter"),
    (["define", "x", "--cn", "x.example.com", "--validity", "12"], "not a duration"),
    (["define", "x", "--cn", "x.example.com", "--key", "dsa"], "unknown key type"),
    (["list", "--expiring", "soon"], "not a duration"),
])
def test_bad_input_exit_2_and_nothing_stored(home: Path, cli: CliRunner, args: list[str],
                                             message: str) -> None:
    code, out, err = run_cli(cli, *args)
    assert code == 2 and out == "" and message in err and err.startswith("certmgr: error:")
    assert len(err.strip().splitlines()) == 1
    assert json.loads(ok(cli, "definitions", "list", "--json")) == {"definitions": []}


def test_import_bad_files_exit_2(home: Path, cli: CliRunner, tmp_path: Path) -> None:
    bad = tmp_path / "bad.crt"
    bad.write_bytes(b"-----BEGIN CERTIFICATE-----\nMIIB\n")
    code, _, err = run_cli(cli, "import", str(bad))
    assert code == 2 and "bad.crt" in err
    code, _, err = run_cli(cli, "import", str(tmp_path / "missing.crt"))
    assert code == 2 and "missing.crt: cannot read" in err
    assert json.loads(ok(cli, "definitions", "list", "--json")) == {"definitions": []}


def test_import_then_export_combined(home: Path, cli: CliRunner, tmp_path: Path) -> None:
    import datetime as dt

    from certmgr.issuers import create_ca
    from certmgr.pki import KeyType, certificates_pem, generate_key, issue_server, key_pem

    ca = create_ca("Other Root CA", None)
    key = generate_key(KeyType.RSA2048)
    cert = issue_server(ca.intermediate, ca.intermediate_key, key.public_key(),
                        ["old.example.com"], dt.timedelta(days=60))
    (tmp_path / "old.crt").write_bytes(certificates_pem([cert, ca.intermediate]))
    (tmp_path / "old.key").write_bytes(key_pem(key))
    ok(cli, "import", str(tmp_path / "old.crt"), "--key", str(tmp_path / "old.key"))
    ok(cli, "export", "old.example.com", "--format", "combined", "--out", str(tmp_path / "o"))
    combined = tmp_path / "o" / "old.example.com.pem"
    assert stat.S_IMODE(combined.stat().st_mode) == 0o600
    bundle = load_bundle(combined.read_bytes())
    assert bundle.key is not None and bundle.certificates == (cert, ca.intermediate)
    rows = json.loads(ok(cli, "list", "--expiring", "61d", "--json"))["certificates"]
    assert rows[0]["name"] == "old.example.com" and rows[0]["issuer"] == "external"


def test_keys_never_plaintext_at_rest(home: Path, cli: CliRunner, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization

    ok(cli, "ca", "init")
    ok(cli, "define", "www", "--cn", "www.example.com", "--key", "rsa2048")
    ok(cli, "issue", "www")
    ok(cli, "export", "www", "--format", "pem", "--out", str(tmp_path / "out"))
    key = load_bundle((tmp_path / "out" / "www.key").read_bytes()).key
    assert key is not None
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    stored = b"".join(p.read_bytes() for p in home.rglob("*") if p.is_file())
    assert der[-64:] not in stored and b"PRIVATE KEY" not in stored


def test_export_password_file_and_bad_out(home: Path, cli: CliRunner, tmp_path: Path) -> None:
    ok(cli, "ca", "init")
    ok(cli, "define", "www", "--cn", "www.example.com")
    ok(cli, "issue", "www")
    pw = tmp_path / "pw.txt"
    pw.write_text("s3cret-pass\nignored\n")
    pw.chmod(0o600)  # a password file others may read is refused
    ok(cli, "export", "www", "--format", "p12", "--password-file", str(pw), "--out",
       str(tmp_path / "p"))
    bundle = load_bundle((tmp_path / "p" / "www.p12").read_bytes(), "s3cret-pass")
    assert bundle.key is not None and bundle.alias == "www"
    code, _, err = run_cli(cli, "export", "www", "--out", str(pw))
    assert code == 2 and "not a directory" in err
    code, _, err = run_cli(cli, "export", "www", "--format", "jks", "--password", "short")
    assert code == 2 and "at least 6 characters" in err
    code, _, err = run_cli(cli, "issue")
    assert code == 2 and "--all" in err


@pytest.mark.postgres
def test_issue_list_export_revoke_on_postgresql(home: Path, cli: CliRunner, tmp_path: Path,
                                                pg_url: str) -> None:
    db = ["--db", pg_url]
    ok(cli, "ca", "init", *db)
    ok(cli, "define", "pop", "--cn", "pop.example.com", "--san", "imap.example.com",
       "--validity", "20d", "--renew-before", "10d", *db)
    ok(cli, "define", "www", "--cn", "www.example.com", *db)
    issued = json.loads(ok(cli, "issue", "--all", "--json", *db))["results"]
    assert [r["status"] for r in issued] == ["issued", "issued"]
    soon = json.loads(ok(cli, "list", "--expiring", "30d", "--json", *db))["certificates"]
    assert [(r["name"], r["days_left"], r["status"]) for r in soon] == [("pop", 19, "valid")]
    ok(cli, "export", "pop", "--format", "fullchain", "--out", str(tmp_path), *db)
    assert len(load_bundle((tmp_path / "pop-fullchain.crt").read_bytes()).certificates) == 2
    ok(cli, "ca", "revoke", issued[1]["serial"], *db)
    crl = ok(cli, "ca", "crl", *db)
    assert crl.startswith("-----BEGIN X509 CRL-----")


def test_password_on_the_command_line_warns_and_open_password_files_are_refused(
        home: Path, cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ok(cli, "ca", "init")
    ok(cli, "define", "www", "--cn", "www.example.com")
    ok(cli, "issue", "www")
    code, _, err = run_cli(cli, "export", "www", "--format", "p12", "--password", "s3cret-pass",
                           "--out", str(tmp_path / "a"))
    assert code == 0 and "--password is visible to every user in ps" in err
    assert "s3cret-pass" not in err
    pw = tmp_path / "pw.txt"
    pw.write_text("s3cret-pass\n")
    pw.chmod(0o644)
    code, _, err = run_cli(cli, "export", "www", "--format", "p12", "--password-file", str(pw),
                           "--out", str(tmp_path / "b"))
    assert code == 2 and "mode 0644 lets group or others" in err and "chmod 600" in err
    assert not (tmp_path / "b").exists()
    monkeypatch.setenv("CERTMGR_PASSWORD", "from-the-env")
    code, _, err = run_cli(cli, "export", "www", "--format", "p12", "--out", str(tmp_path / "c"))
    assert code == 0 and "visible" not in err
    bundle = load_bundle((tmp_path / "c" / "www.p12").read_bytes(), "from-the-env")
    assert bundle.key is not None
