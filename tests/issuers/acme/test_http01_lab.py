"""http-01 through the web server that already answers for the name: pebble 2.10 validates
against the lab's real Apache (its port-80 vhost) and a real nginx (its port-80 server) on
a lab host; certmgr finds the document root by discovery, writes the token there through
the hosts layer (lab:), removes it afterwards, and the certificates pass `openssl verify`
against pebble's root."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from certmgr.hosts.lab import open_lab_host
from certmgr.lab import load_state
from certmgr.testing import skip_or_fail
from certmgr.testing.acme import Named, Pebble, run_pebble
from certmgr.testing.lab import lab_missing
from tests.conftest import run_cli
from tests.issuers.acme.helpers import add_issuer, export_and_verify, issue

pytestmark = [pytest.mark.lab, pytest.mark.acme]

CHALLENGE_DIR = "/var/lib/certmgr-lab/www/.well-known"


@pytest.fixture
def pebble80(tmp_path_factory: pytest.TempPathFactory, named: Named) -> Iterator[Pebble]:
    """A pebble whose validator fetches http-01 tokens from port 80, as real CAs do."""
    with run_pebble(tmp_path_factory.mktemp("pebble80"), named.server, http_port=80) as p:
        yield p


def lab_with(cli: CliRunner, home: Path, program: str) -> Iterator[Path]:
    reason = lab_missing()
    if reason is not None:
        skip_or_fail(reason)
    path = home / "lab"
    code, _out, err = run_cli(cli, "lab", "up", "--programs", program, "--dir", str(path))
    try:
        assert code == 0, err
        yield path
    finally:
        run_cli(cli, "lab", "down", "--dir", str(path))


@pytest.fixture
def apache_lab(cli: CliRunner, home: Path) -> Iterator[Path]:
    yield from lab_with(cli, home, "apache2")


@pytest.fixture
def nginx_lab(cli: CliRunner, home: Path) -> Iterator[Path]:
    yield from lab_with(cli, home, "nginx")


def _issue_through(cli: CliRunner, lab_dir: Path, named: Named, pebble: Pebble,
                   program: str, root: Path, out: Path) -> dict[str, object]:
    state = load_state(lab_dir)
    assert state is not None
    address = state.hosts[0].address
    name = f"{program}.{named.zone}"
    named.set_address(name, address)  # pebble's validator resolves it to the lab host
    add_issuer(cli, pebble)
    code, _, err = run_cli(cli, "define", program, "--cn", name, "--issuer", "pebble",
                           "--challenge", "http-01", "--target",
                           f"lab:lab1/{program}:www.example.com")
    assert code == 0, err
    code, results, err = issue(cli, program)
    assert code == 0, (results, err)
    assert results[0]["status"] == "issued", results
    export_and_verify(cli, program, root, out)
    # the token and the directories made for it are gone again
    host = open_lab_host(lab_dir, "lab1")
    assert host.stat(CHALLENGE_DIR) is None
    return results[0]


def test_http01_through_the_lab_apache(cli: CliRunner, apache_lab: Path, named: Named,
                                       pebble80: Pebble, tmp_path: Path) -> None:
    root = tmp_path / "root.pem"
    root.write_bytes(pebble80.root_pem())
    _issue_through(cli, apache_lab, named, pebble80, "apache2", root, tmp_path)
    # a name resolving elsewhere (127.0.0.1: nothing on port 80) fails validation; the
    # token written on the lab host is removed also then
    code, _, err = run_cli(cli, "define", "miss", "--cn", f"miss.{named.zone}", "--issuer",
                           "pebble", "--challenge", "http-01", "--target",
                           "lab:lab1/apache2:www.example.com")
    assert code == 0, err
    code, results, err = issue(cli, "miss")
    assert code != 0 and "miss.example.test" in err + str(results), (results, err)
    assert open_lab_host(apache_lab, "lab1").stat(CHALLENGE_DIR) is None


def test_http01_through_an_nginx_of_its_own(cli: CliRunner, nginx_lab: Path, named: Named,
                                            pebble80: Pebble, tmp_path: Path) -> None:
    root = tmp_path / "root.pem"
    root.write_bytes(pebble80.root_pem())
    _issue_through(cli, nginx_lab, named, pebble80, "nginx", root, tmp_path)


def test_an_explicit_standalone_port_wins_over_discovery(
        cli: CliRunner, apache_lab: Path, named: Named, pebble: Pebble) -> None:
    """--standalone-port: certmgr's own responder answers (pebble's usual validator port),
    the lab Apache's web root is not touched."""
    add_issuer(cli, pebble)
    code, _, err = run_cli(cli, "define", "own", "--cn", f"own.{named.zone}", "--issuer",
                           "pebble", "--standalone-port", f"127.0.0.1:{pebble.http_port}",
                           "--target", "lab:lab1/apache2:www.example.com")
    assert code == 0, err
    code, results, err = issue(cli, "own")
    # the name resolves to 127.0.0.1, where only certmgr's responder answers
    assert code == 0 and results[0]["status"] == "issued", (results, err)
