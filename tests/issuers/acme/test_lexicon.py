"""dns-01 through dns-lexicon (`--dns-provider NAME --dns-credentials FILE`): lexicon's
zone-file provider (localzone) edits a zone that a real BIND 9 serves, pebble 2.10 asks
that BIND for the TXT records, and the certificate (a wildcard too) passes `openssl
verify`; the records are gone afterwards; the credentials are stored encrypted."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from certmgr.repository import open_repository
from certmgr.testing.acme import Named, Pebble, run_named, run_pebble
from tests.conftest import run_cli
from tests.issuers.acme.helpers import add_issuer, export_and_verify, issue

pytestmark = pytest.mark.acme

ZONE = "lex.test"


@pytest.fixture
def named_lex(tmp_path_factory: pytest.TempPathFactory, named: Named) -> Iterator[Named]:
    """A BIND 9 with a plain zone file for lex.test, read again whenever it changes (as an
    admin's zone-file setup does after an edit; ``named``: the session's skip-or-fail)."""
    with run_named(tmp_path_factory.mktemp("named-lex"), static_zones=(ZONE,)) as server:
        stop = threading.Event()
        zone_file = server.zone_file(ZONE)

        def reload_on_change() -> None:
            seen = zone_file.stat().st_mtime_ns
            while not stop.wait(0.01):
                now = zone_file.stat().st_mtime_ns
                if now != seen:
                    seen = now
                    server.reload()
        watcher = threading.Thread(target=reload_on_change, daemon=True)
        watcher.start()
        try:
            yield server
        finally:
            stop.set()
            watcher.join()


@pytest.fixture
def pebble_lex(tmp_path_factory: pytest.TempPathFactory, named_lex: Named) -> Iterator[Pebble]:
    with run_pebble(tmp_path_factory.mktemp("pebble-lex"), named_lex.server) as server:
        yield server


def test_dns01_through_lexicon_zone_file_provider(
        cli: CliRunner, home: Path, named_lex: Named, pebble_lex: Pebble,
        tmp_path: Path) -> None:
    zone_file = named_lex.zone_file(ZONE)
    credentials = tmp_path / "lexicon.conf"
    credentials.write_text(f"# lexicon's localzone provider\nfilename = {zone_file}\n")
    credentials.chmod(0o600)
    add_issuer(cli, pebble_lex)
    code, _, err = run_cli(cli, "define", "lx", "--cn", f"www.{ZONE}", "--san", f"*.{ZONE}",
                           "--issuer", "pebble", "--challenge", "dns-01",
                           "--dns-provider", "localzone", "--dns-credentials",
                           str(credentials), "--dns-server", named_lex.server)
    assert code == 0, err
    code, results, err = issue(cli, "lx")
    assert code == 0 and results[0]["status"] == "issued", (results, err)
    root = tmp_path / "root.pem"
    root.write_bytes(pebble_lex.root_pem())
    export_and_verify(cli, "lx", root, tmp_path)
    assert "_acme-challenge" not in zone_file.read_text()  # cleaned up
    with open_repository(None, home) as repo:
        acme = repo.get_definition("lx").data["acme"]
        assert acme["dns_provider"] == "localzone" and acme["dns_credentials_ref"]
        assert str(zone_file) not in str(repo.get_definition("lx").data)


def test_lexicon_bad_input_is_exit_2_and_nothing_stored(cli: CliRunner, home: Path,
                                                         tmp_path: Path) -> None:
    bad = tmp_path / "bad.conf"
    bad.write_text("auth_token secret-value-not-shown\n")
    for args, wanted in (
            (["--dns-provider", "nosuchprovider"], "no such provider"),
            (["--dns-provider", "localzone", "--dns-credentials", str(bad)], "line 1"),
            (["--dns-provider", "localzone", "--dns-hook", "/bin/true"], "excludes"),
            (["--dns-credentials", str(bad)], "--dns-provider")):
        code, _, err = run_cli(cli, "define", "bad", "--cn", "bad.example.test", "--issuer",
                               "builtin", "--challenge", "dns-01", *args)
        assert code == 2 and wanted in err, (args, err)
        assert "secret-value-not-shown" not in err
        code, _, err = run_cli(cli, "definitions", "show", "bad")
        assert code == 2 and "no definition 'bad'" in err


def test_apply_takes_the_lexicon_keys(cli: CliRunner, home: Path, tmp_path: Path) -> None:
    credentials = tmp_path / "lexicon.conf"
    credentials.write_text("filename = /var/lib/bind/lex.test.zone\n")
    credentials.chmod(0o600)
    toml = tmp_path / "defs.toml"
    toml.write_text(f'[definitions."ap.{ZONE}"]\nchallenge = "dns-01"\n'
                    f'dns_provider = "localzone"\ndns_credentials = "{credentials}"\n')
    code, _, err = run_cli(cli, "apply", str(toml))
    assert code == 0, err
    with open_repository(None, home) as repo:
        acme = repo.get_definition(f"ap.{ZONE}").data["acme"]
        assert acme["dns_provider"] == "localzone" and acme["dns_credentials_ref"]
    toml.write_text(f'[definitions."ap2.{ZONE}"]\nchallenge = "dns-01"\n'
                    'dns_provider = "nosuchprovider"\n')
    code, _, err = run_cli(cli, "apply", str(toml))
    assert code == 2 and "no such provider" in err, err
