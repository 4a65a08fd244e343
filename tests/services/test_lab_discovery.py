"""Discovery of the lab's running programs: what discover says is what each program serves."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography import x509
from typer.testing import CliRunner

from certmgr.checks.runner import run_checks
from certmgr.hosts.base import Host
from certmgr.lab.probe import served_sha256
from certmgr.models import Endpoint, Severity
from certmgr.pki import fingerprint_sha256, load_bundle
from certmgr.programs import Slot, discover_host
from certmgr.testing.lab import RunningLab
from tests.conftest import run_cli

pytestmark = pytest.mark.lab

# Table 2 of the seed, plus smtps, as the lab serves them.
TABLE_2 = {389, 636, 443, 21, 25, 587, 465, 110, 995, 143, 993, 8443}


def _leaf(host: Host, slot: Slot) -> x509.Certificate:
    path = slot.keystore or slot.cert
    assert path is not None
    bundle = load_bundle(host.read_bytes(path), slot.password if slot.keystore else None,
                         source=path)
    leaf = bundle.leaf
    assert leaf is not None, path
    return leaf


def test_discovered_slots_are_what_the_programs_serve(lab: RunningLab) -> None:
    host = lab.hosts[0]
    result = discover_host(host)
    assert [f for f in result.findings if f.code == "CONFIG_ERROR"] == []
    kinds = {s.kind.value for s in result.services if s.slots}
    assert kinds >= {"slapd", "apache2", "vsftpd", "postfix", "dovecot", "tomcat"}
    served: set[int] = set()
    for service, slot in result.slots():
        expected = fingerprint_sha256(_leaf(host, slot))
        assert expected == lab.expected("lab1", service.kind.value), slot.id
        for endpoint in slot.endpoints:
            # A wildcard listen is probed on the host's own address.
            wildcard = endpoint.address in ("*", "::", "0.0.0.0")  # noqa: S104 - compared only
            address = host.address if wildcard else endpoint.address
            assert address is not None
            probe = Endpoint(address, endpoint.port, endpoint.tls, endpoint.sni)
            assert served_sha256(probe) == expected, (slot.id, endpoint)
            served.add(endpoint.port)
    assert served >= TABLE_2
    users = {s.kind.value: s.user for s in result.services}
    assert users["slapd"] == "openldap" and users["tomcat"] == "tomcat"


def test_check_on_the_seed_layout_finds_no_error(lab: RunningLab) -> None:
    host = lab.hosts[0]
    findings = run_checks(host, discover_host(host))
    errors = [f for f in findings if f.severity is Severity.ERROR
              and f.code not in ("CHAIN_UNTRUSTED", "NAME_MISMATCH")]
    assert errors == []
    # The seed's layout: no key shared between programs, Table 1 modes everywhere.
    assert {f.code for f in findings} & {"KEY_SHARED", "KEY_PERMISSIONS",
                                         "KEY_UNREADABLE_BY_SERVICE"} == set()


def test_discover_and_check_a_registered_lab_host(lab: RunningLab, cli: CliRunner,
                                                  home: Path) -> None:
    from certmgr.lab import register_hosts
    from certmgr.repository import open_repository

    repo = open_repository(None, home)
    try:
        register_hosts(repo, lab.state)
    finally:
        repo.close()
    code, out, err = run_cli(cli, "discover", "--host", "lab:lab1", "--json")
    assert code == 0, err
    ids = {sl["id"] for s in json.loads(out)["services"] for sl in s["slots"]}
    assert ids == {slot.id for _s, slot in discover_host(lab.hosts[0]).slots()}
    repo = open_repository(None, home)
    try:
        assert {s.slot_id for s in repo.list_slots("lab:lab1")} == ids
    finally:
        repo.close()
    code, out, err = run_cli(cli, "check", "--host", "lab:lab1", "--json")
    codes = {f["code"] for f in json.loads(out)["findings"]}
    assert not codes & {"KEY_SHARED", "KEY_PERMISSIONS", "KEY_UNREADABLE_BY_SERVICE",
                        "FILE_MISSING", "KEY_MISMATCH", "CONFIG_ERROR"}, err
