"""`certmgr define ... --issuer ACME --challenge ...` and `certmgr issue` against real pebble
2.10: http-01 by certmgr's standalone responder and by a webroot a real HTTP server serves,
dns-01 by RFC 2136 + TSIG to a real BIND 9. Certificates verify with `openssl verify`
against pebble's root from its management API."""

from __future__ import annotations

import functools
import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from certmgr.repository import open_repository
from certmgr.testing.acme import Named, Pebble
from tests.conftest import run_cli
from tests.issuers.acme.helpers import add_issuer, export_and_verify, issue

pytestmark = pytest.mark.acme


def test_http01_standalone_issues_a_certificate_openssl_verifies(
        cli: CliRunner, home: Path, pebble: Pebble, pebble_root: Path, tmp_path: Path) -> None:
    add_issuer(cli, pebble)
    code, out, err = run_cli(cli, "--json", "define", "www", "--cn", "www.example.test",
                             "--san", "example.test", "--issuer", "pebble",
                             "--challenge", "http-01", "--standalone-port",
                             f"127.0.0.1:{pebble.http_port}", "--profile", "default")
    assert code == 0, err
    shown = json.loads(out)
    assert shown["validity"] is None and shown["renew_before"] is None  # the CA decides
    assert shown["acme"]["challenge"] == "http-01"
    code, results, err = issue(cli, "www")
    assert code == 0, err
    assert results[0]["status"] == "issued" and results[0]["profile"] == "default"
    assert results[0]["replaces"] is None
    export_and_verify(cli, "www", pebble_root, tmp_path / "out")
    with open_repository(None, home) as repo:
        cert = repo.current_certificate("www")
        assert cert is not None and cert.issuer == "pebble"
        assert set(cert.sans) == {"www.example.test", "example.test"}
        assert (cert.not_after - cert.not_before).days in (89, 90)
        reads = [e for e in repo.list_audit(action="key.read")]
        assert any(e.detail.get("kind") == "issuer" for e in reads)  # account key, audited


@pytest.fixture
def web_server(pebble: Pebble, tmp_path: Path) -> Iterator[Path]:
    """A real HTTP server on pebble's validation port serving a document root."""
    docroot = tmp_path / "docroot"
    docroot.mkdir()
    handler = functools.partial(_Quiet, directory=str(docroot))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", pebble.http_port), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield docroot
    server.shutdown()
    server.server_close()
    thread.join()


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def test_http01_webroot_through_the_hosts_layer_and_tokens_removed(
        cli: CliRunner, home: Path, pebble: Pebble, pebble_root: Path, web_server: Path,
        tmp_path: Path) -> None:
    add_issuer(cli, pebble)
    code, _, err = run_cli(cli, "define", "web", "--cn", "web.example.test", "--issuer",
                           "pebble", "--challenge", "http-01", "--webroot", str(web_server))
    assert code == 0, err
    code, results, err = issue(cli, "web")
    assert code == 0, err
    assert results[0]["status"] == "issued"
    export_and_verify(cli, "web", pebble_root, tmp_path / "out")
    assert list(web_server.iterdir()) == []  # token files and directories taken back


def test_dns01_rfc2136_tsig_to_bind_wildcard(cli: CliRunner, home: Path, pebble: Pebble,
                                            named: Named, pebble_root: Path,
                                            tmp_path: Path) -> None:
    add_issuer(cli, pebble)
    code, _, err = run_cli(cli, "define", "wild", "--cn", "*.dns.example.test", "--san",
                           "dns.example.test", "--issuer", "pebble", "--challenge", "dns-01",
                           "--dns-server", named.server, "--tsig-key", str(named.tsig_key_file))
    assert code == 0, err
    code, results, err = issue(cli, "wild")
    assert code == 0, err
    assert results[0]["status"] == "issued", results
    export_and_verify(cli, "wild", pebble_root, tmp_path / "out")
    with open_repository(None, home) as repo:
        d = repo.get_definition("wild")
        ref = d.data["acme"]["tsig_key_ref"]
        assert repo.private_key_info(ref).kind == "tsig"  # stored encrypted, not the path
    assert named.tsig_key_file.read_bytes() not in (home / "certmgr.db").read_bytes()


def test_wildcard_with_http01_is_refused_exit_2(cli: CliRunner, home: Path,
                                                pebble: Pebble) -> None:
    add_issuer(cli, pebble)
    code, _, err = run_cli(cli, "define", "w", "--cn", "*.example.test", "--issuer", "pebble",
                           "--challenge", "http-01")
    assert code == 2
    assert "wildcard" in err and "dns-01" in err
    code, out, _ = run_cli(cli, "--json", "definitions", "list")
    assert json.loads(out)["definitions"] == []


def test_failures_are_data_and_others_still_issue(cli: CliRunner, home: Path, pebble: Pebble,
                                                  named: Named) -> None:
    add_issuer(cli, pebble)
    port = f"127.0.0.1:{pebble.http_port}"
    for name in ("a", "b", "c"):
        code, _, err = run_cli(cli, "define", name, "--cn", f"{name}.example.test", "--issuer",
                               "pebble", "--standalone-port", port)
        assert code == 0, err
    # a name no DNS server knows: pebble cannot resolve it, its order fails
    code, _, err = run_cli(cli, "define", "bad", "--cn", "nowhere.invalid", "--issuer",
                           "pebble", "--standalone-port", port)
    assert code == 0, err
    code, results, err = issue(cli, "--all")
    assert code == 1
    by = {r["item"]: r for r in results}
    assert [by[n]["status"] for n in ("a", "b", "c")] == ["issued"] * 3
    assert by["bad"]["status"] == "failed"
    reason = str(by["bad"]["reason"])
    assert reason.startswith("issuer pebble ") and len(reason.splitlines()) == 1
    # names the CA's problem document: its type (connection) and detail
    assert reason.startswith("issuer pebble authorization of nowhere.invalid: connection: ")


def test_dry_run_without_staging_directory_is_exit_2(cli: CliRunner, home: Path,
                                                     pebble: Pebble) -> None:
    add_issuer(cli, pebble)
    code, _, err = run_cli(cli, "define", "d", "--cn", "d.example.test", "--issuer", "pebble",
                           "--standalone-port", f"127.0.0.1:{pebble.http_port}")
    assert code == 0, err
    code, _, err = run_cli(cli, "issue", "d", "--dry-run")
    assert code == 2 and "no staging directory" in err


def test_dry_run_against_staging_stores_nothing(cli: CliRunner, home: Path,
                                                pebble: Pebble) -> None:
    add_issuer(cli, pebble, "pebble", "--staging-directory", pebble.directory)
    code, _, err = run_cli(cli, "define", "d", "--cn", "d.example.test", "--issuer", "pebble",
                           "--standalone-port", f"127.0.0.1:{pebble.http_port}")
    assert code == 0, err
    code, results, err = issue(cli, "d", "--dry-run")
    assert code == 0, err
    assert results[0]["status"] == "dry-run"
    with open_repository(None, home) as repo:
        assert repo.current_certificate("d") is None


def test_dns01_by_hook_command(cli: CliRunner, home: Path, pebble: Pebble, named: Named,
                               pebble_root: Path, tmp_path: Path) -> None:
    """The hook is an admin's script: here it calls nsupdate against the test's BIND."""
    calls = tmp_path / "calls.log"
    hook = tmp_path / "hook.sh"
    hook.write_text(f"""#!/bin/sh
set -e
echo "$1 $2" >> {calls}
if [ "$1" = set ]; then op=add; else op=delete; fi
printf 'server 127.0.0.1 {named.port}\\nupdate %s %s. 1 TXT "%s"\\nsend\\n' "$op" "$2" "$3" \\
  | nsupdate -k {named.tsig_key_file}
""")
    hook.chmod(0o700)
    add_issuer(cli, pebble)
    code, _, err = run_cli(cli, "define", "hooked", "--cn", "hook.example.test", "--issuer",
                           "pebble", "--challenge", "dns-01", "--dns-hook", str(hook))
    assert code == 0, err
    code, results, err = issue(cli, "hooked")
    assert code == 0, err
    assert results[0]["status"] == "issued"
    export_and_verify(cli, "hooked", pebble_root, tmp_path / "out")
    assert calls.read_text().splitlines() == ["set _acme-challenge.hook.example.test",
                                              "clear _acme-challenge.hook.example.test"]


def test_dns_hook_failing_is_one_line(cli: CliRunner, home: Path, pebble: Pebble,
                                      tmp_path: Path) -> None:
    hook = tmp_path / "fail.sh"
    hook.write_text("#!/bin/sh\necho 'provider said no' >&2\nexit 3\n")
    hook.chmod(0o700)
    add_issuer(cli, pebble)
    code, _, err = run_cli(cli, "define", "hf", "--cn", "hf.example.test", "--issuer",
                           "pebble", "--challenge", "dns-01", "--dns-hook", str(hook))
    assert code == 0, err
    code, _, err = run_cli(cli, "issue", "hf")
    assert code == 1
    assert "exit 3 provider said no" in err and len(err.strip().splitlines()) == 1
