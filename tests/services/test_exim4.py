"""Exim 4, the ninth program: its grammar, discovery of the three styles, check, layout,
the spec, and (``lab``) a real Exim 4.96 deployed to, faulted and rolled back.

Fixture trees (``tests/fixtures/trees/exim4/``): ``debian-unsplit`` (Debian's
template and localmacros, -oX in /etc/default/exim4), ``debian-split``
(conf.d/main with an RSA and an ECDSA pair), ``handwritten`` (an exim4.conf
beside update-exim4.conf.conf: it takes precedence) and ``upstream``
(/etc/exim/configure choosing its files by expansion).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from typer.testing import CliRunner

from certmgr.checks.runner import run_checks
from certmgr.cli.app import app
from certmgr.deploy.control import ServiceControl
from certmgr.deploy.engine import Engine, EngineOptions
from certmgr.deploy.journal import FileJournalStore, KeyFileCipher
from certmgr.deploy.layout import decide_layout
from certmgr.deploy.model import Outcome, SlotTarget
from certmgr.deploy.targets import slot_targets
from certmgr.deploy.verify import served_now
from certmgr.hosts.base import WritableHost
from certmgr.hosts.lab import LabHost, open_lab_host
from certmgr.hosts.local import LocalHost
from certmgr.models import Finding, Severity, TlsMode
from certmgr.pki import load_bundle
from certmgr.programs import Discovery, ServiceKind, discover_host
from certmgr.programs.exim4 import SPEC
from certmgr.programs.exim4.config import MainReader, split_list
from certmgr.testing import skip_or_fail
from certmgr.testing.faults import at_checkpoint
from certmgr.testing.lab import RunningLab, lab_missing, running_lab
from tests.checks.pkihelp import DemoPKI, ec_key, key_pem, make_pki, pem
from tests.conftest import run_cli
from tests.deploy.lab_support import corrupt_key
from tests.deploy.material import TestCA

TREES = Path(__file__).resolve().parent.parent / "fixtures" / "trees" / "exim4"
NOW = dt.datetime.now(dt.UTC)
EXIM = ServiceKind.EXIM4


def discover(tree: str | Path) -> Discovery:
    return discover_host(LocalHost(TREES / tree if isinstance(tree, str) else tree))


def only(found: Discovery) -> tuple[str, list[tuple[str, str | None, str | None]]]:
    service = found.service(EXIM)
    assert service is not None
    return service.config, [(s.id, s.cert, s.key) for s in service.slots]


def ports(found: Discovery) -> set[tuple[str, int, str]]:
    return {(e.address, e.port, e.tls.value) for _s, sl in found.slots() for e in sl.endpoints}


# -- the grammar ------------------------------------------------------------------------

def read(files: dict[str, str], first: str) -> MainReader:
    reader = MainReader(files.get)
    reader.read_file(first)
    return reader


def test_lists_take_their_separator_and_escapes() -> None:
    assert split_list("/a.crt : /b.crt") == ["/a.crt", "/b.crt"]
    assert split_list("<; 25 ; 587 ;") == ["25", "587"]
    assert split_list("a::b : c") == ["a:b", "c"]
    assert split_list("  ") == []


def test_macros_conditionals_includes_and_continuations() -> None:
    reader = read({
        "/e/main": "CERTDIR = /etc/x\nCERT = CERTDIR/a.crt\n.ifdef CERT\n"
                   "tls_certificate = \\\n# a comment inside the continuation\n   CERT\n"
                   ".else\ntls_certificate = /never\n.endif\n.ifndef CERTDIR\nnever = 1\n"
                   ".elifdef CERT\n.include tls\n.endif\n"
                   "CERT == CERT : /etc/x/b.crt\nother = CERT\nbegin acl\nafter = 1\n",
        "/e/tls": "hide tls_privatekey = CERTDIR/a.key\n.include_if_exists /e/missing\n"},
        "/e/main")
    options = reader.section.options
    assert options["tls_certificate"].value == "/etc/x/a.crt"
    assert options["tls_certificate"].line == 4 and not options["tls_certificate"].editable
    assert options["tls_privatekey"].value == "/etc/x/a.key"
    assert options["tls_privatekey"].path == "/e/tls"
    assert options["other"].value == "/etc/x/a.crt : /etc/x/b.crt"  # == redefines
    assert "never" not in options and "after" not in options  # the main section ends
    assert reader.section.macros["CERT"].line == 15


@pytest.mark.parametrize(("text", "line"), [(".ifdef X\na = 1\n", 2), (".endif\n", 1),
                                            ("A = 1\nA = 2\n", 2), ("not an option\n", 1)])
def test_a_broken_configuration_is_a_config_error_at_its_line(
        tmp_path: Path, text: str, line: int) -> None:
    (tmp_path / "etc/exim4").mkdir(parents=True)
    (tmp_path / "etc/exim4/exim4.conf").write_text(text)
    found = discover(tmp_path)
    assert [(f.code, f.path, f.line) for f in found.findings] == [
        ("CONFIG_ERROR", "/etc/exim4/exim4.conf", line)]
    assert only(found) == ("/etc/exim4/exim4.conf", [])


# -- discovery of the styles ------------------------------------------------------------

def test_debian_unsplit_reads_localmacros_before_the_template() -> None:
    found = discover("debian-unsplit")
    assert found.findings == ()
    assert only(found) == ("/etc/exim4/update-exim4.conf.conf", [
        ("exim4", "/etc/ssl/certs/ssl-cert-snakeoil.pem",
         "/etc/ssl/private/ssl-cert-snakeoil.key")])
    ((service, slot),) = found.slots()
    assert (service.user, service.group) == ("Debian-exim", "Debian-exim")
    # -oX 465:25:587 in /etc/default/exim4 replaces daemon_smtp_ports (smtp).
    assert ports(found) == {("*", 25, "starttls-smtp"), ("*", 587, "starttls-smtp"),
                            ("*", 465, "direct")}
    assert (slot.names, slot.names_from) == (("mx1",), "host")
    # The template names the macros; they are set (and edited) in localmacros.
    assert {r: (s.path, s.line, s.directive) for r, s in slot.settings.items()} == {
        "cert": ("/etc/exim4/exim4.conf.localmacros", 4, "MAIN_TLS_CERTIFICATE"),
        "key": ("/etc/exim4/exim4.conf.localmacros", 5, "MAIN_TLS_PRIVATEKEY")}
    assert slot.config == "/etc/exim4/exim4.conf.localmacros"


def test_debian_unsplit_defaults_without_macros(tmp_path: Path) -> None:
    root = tmp_path / "t"
    shutil.copytree(TREES / "debian-unsplit", root)
    (root / "etc/exim4/exim4.conf.localmacros").write_text("MAIN_TLS_ENABLE = 1\n")
    (root / "etc/default/exim4").unlink()
    found = discover(root)
    ((_service, slot),) = found.slots()
    assert (slot.cert, slot.key) == ("/etc/exim4/exim.crt", "/etc/exim4/exim.key")
    assert slot.settings == {}  # Debian's packaged default is no place to edit
    assert ports(found) == {("*", 25, "starttls-smtp")}
    (root / "etc/exim4/exim4.conf.localmacros").write_text(
        "MAIN_TLS_ENABLE = 1\nMAIN_TLS_CERTKEY = /etc/exim4/mail.pem\n")
    ((_service, slot),) = discover(root).slots()
    assert slot.cert == slot.key == "/etc/exim4/mail.pem"  # one combined file wins
    # Without MAIN_TLS_ENABLE Debian's template sets no certificate: no slot.
    (root / "etc/exim4/exim4.conf.localmacros").unlink()
    assert discover(root).slots() == []


def test_debian_split_makes_one_slot_per_pair() -> None:
    found = discover("debian-split")
    assert found.findings == ()
    assert only(found) == ("/etc/exim4/update-exim4.conf.conf", [
        ("exim4", "/etc/exim4/rsa.crt", "/etc/exim4/rsa.key"),
        ("exim4:cert2", "/etc/exim4/ecdsa.crt", "/etc/exim4/ecdsa.key")])
    slots = {sl.id: sl for _s, sl in found.slots()}
    second = slots["exim4:cert2"].settings
    assert (second["cert"].path, second["cert"].line, second["cert"].index) == (
        "/etc/exim4/conf.d/main/000_localmacros", 3, 1)
    # dc_local_interfaces='127.0.0.1 ; ::1' (update-exim4.conf's macro): loopback only.
    assert ports(found) == {("127.0.0.1", 25, "starttls-smtp")}


def test_a_handwritten_exim4_conf_takes_precedence() -> None:
    found = discover("handwritten")
    assert found.findings == ()
    # update-exim4.conf.conf is there too, but Exim reads exim4.conf first.
    assert only(found) == ("/etc/exim4/exim4.conf", [
        ("exim4", "/etc/exim4/tls/mx1.pem", "/etc/exim4/tls/mx1.pem")])
    ((_s, slot),) = found.slots()
    assert (slot.names, slot.names_from) == (("mx1.example.net",), "config")
    assert ports(found) == {("*", 25, "starttls-smtp"), ("*", 587, "starttls-smtp"),
                            ("*", 465, "direct")}
    # Its value starts on the line after the setting: not a line deploy can edit.
    assert slot.settings == {}


def test_an_expansion_is_not_understood_and_reported(tmp_path: Path) -> None:
    found = discover("upstream")
    assert only(found) == ("/etc/exim/configure", [])
    assert [(f.code, f.severity, f.path, f.line) for f in found.findings] == [
        ("CONFIG_NOT_UNDERSTOOD", Severity.WARNING, "/etc/exim/configure", 6)]
    assert "tls_certificate" in found.findings[0].message


def test_advertising_no_tls_leaves_only_tls_on_connect(tmp_path: Path) -> None:
    root = tmp_path / "t"
    shutil.copytree(TREES / "handwritten", root)
    conf = root / "etc/exim4/exim4.conf"
    conf.write_text(conf.read_text().replace("tls_advertise_hosts = *", "tls_advertise_hosts ="))
    assert ports(discover(root)) == {("*", 465, "direct")}


# -- check ------------------------------------------------------------------------------

def check_tree(root: Path, pki: DemoPKI, *, key_group: str, key_mode: int) -> list[Finding]:
    shutil.copytree(TREES / "debian-unsplit", root)
    leaf, leaf_key = pki.leaf(["mx1"], now=NOW - dt.timedelta(days=1))
    macros = root / "etc/exim4/exim4.conf.localmacros"
    macros.write_text(macros.read_text().replace(
        "/etc/ssl/certs/ssl-cert-snakeoil.pem", "/etc/exim4/ssl/certs/mx1.crt").replace(
        "/etc/ssl/private/ssl-cert-snakeoil.key", "/etc/exim4/ssl/private/mx1.key"))
    (root / "etc/exim4/ssl/certs").mkdir(parents=True)
    (root / "etc/exim4/ssl/private").mkdir(mode=0o750)
    (root / "etc/exim4/ssl/private").chmod(0o750)
    (root / "etc/exim4/ssl/certs/mx1.crt").write_bytes(pem(leaf, pki.inter))
    key = root / "etc/exim4/ssl/private/mx1.key"
    key.write_bytes(key_pem(leaf_key))
    key.chmod(key_mode)
    uid, gid = os.getuid(), os.getgid()
    root.chmod(0o755)
    (root / "etc/passwd").write_text(f"root:x:{uid}:{gid}::/root:/bin/sh\n"
                                     "Debian-exim:x:60101:60101::/var/spool/exim4:/bin/false\n")
    # Debian-exim is listed in its group: here its primary gid is another number.
    member = "Debian-exim" if key_group == "Debian-exim" else ""
    groups = [f"{key_group}:x:{gid}:{member}", *(f"{g}:x:{60101 + i}:" for i, g in
                                         enumerate(("Debian-exim", "root")) if g != key_group)]
    (root / "etc/group").write_text("\n".join(groups) + "\n")
    host = LocalHost(root)
    findings = run_checks(host, discover_host(host), now=NOW, extra_trust=[pki.root])
    return [f for f in findings if f.service == "exim4"]


def test_check_holds_exim_to_table_1(tmp_path: Path) -> None:
    pki = make_pki(NOW)
    assert check_tree(tmp_path / "ok", pki, key_group="Debian-exim", key_mode=0o640) == []
    # Debian-exim opens the key after dropping privileges: root-only fails STARTTLS.
    found = check_tree(tmp_path / "root", pki, key_group="root", key_mode=0o600)
    unreadable = [f for f in found if f.code == "KEY_UNREADABLE_BY_SERVICE"]
    assert len(unreadable) == 1 and "Debian-exim" in unreadable[0].message
    found = check_tree(tmp_path / "wide", pki, key_group="Debian-exim", key_mode=0o644)
    assert {f.code for f in found} == {"KEY_PERMISSIONS"}


def test_check_reports_every_certificate_problem_of_a_slot(tmp_path: Path) -> None:
    pki = make_pki(NOW)
    check_tree(tmp_path / "t", pki, key_group="Debian-exim", key_mode=0o640)
    key = tmp_path / "t/etc/exim4/ssl/private/mx1.key"
    key.write_bytes(key_pem(ec_key()))
    host = LocalHost(tmp_path / "t")
    codes = {f.code for f in run_checks(host, discover_host(host), now=NOW,
                                        extra_trust=[pki.root])}
    assert codes == {"KEY_MISMATCH"}
    (tmp_path / "t/etc/exim4/ssl/certs/mx1.crt").unlink()
    assert {f.code for f in run_checks(host, discover_host(host), now=NOW)} == {"FILE_MISSING"}


# -- layout and the spec -----------------------------------------------------------------

def target(root: Path, slot_id: str = "exim4") -> SlotTarget:
    host = LocalHost(root)
    return next(t for t in slot_targets(host.name, discover_host(host).slots())
                if t.slot_id == slot_id)


def test_layout_moves_off_snakeoil_by_editing_localmacros() -> None:
    root = TREES / "debian-unsplit"
    decided = decide_layout(LocalHost(root), target(root), SPEC, "mail.example.org")
    assert decided.layout == "seed"
    assert [(f.role, f.spec.path, f.spec.owner, f.spec.group, f.spec.mode)
            for f in decided.files] == [
        ("cert", "/etc/exim4/ssl/certs/mail.example.org.crt", "root", "root", 0o644),
        ("key", "/etc/exim4/ssl/private/mail.example.org.key", "root", "Debian-exim", 0o640)]
    assert [(d.path, d.group, d.mode) for d in decided.dirs] == [
        ("/etc/exim4/ssl/certs", "root", 0o755), ("/etc/exim4/ssl/private", "Debian-exim", 0o750)]
    (edit,) = decided.edits
    assert edit.spec.path == "/etc/exim4/exim4.conf.localmacros"
    new = edit.new.decode().splitlines()
    assert new[3:5] == ["MAIN_TLS_CERTIFICATE = /etc/exim4/ssl/certs/mail.example.org.crt",
                        "MAIN_TLS_PRIVATEKEY = /etc/exim4/ssl/private/mail.example.org.key"]
    assert new[:3] + new[5:] == edit.old.decode().splitlines()[:3] + \
        edit.old.decode().splitlines()[5:]


def test_layout_of_the_second_pair_edits_its_item_of_the_list(tmp_path: Path) -> None:
    root = tmp_path / "t"
    shutil.copytree(TREES / "debian-split", root)
    # Shared with another program: the ECDSA pair is in the machine-wide store.
    macros = root / "etc/exim4/conf.d/main/000_localmacros"
    macros.write_text(macros.read_text().replace("/etc/exim4/ecdsa.", "/etc/ssl/ecdsa."))
    decided = decide_layout(LocalHost(root), target(root, "exim4:cert2"), SPEC, "mx-ec")
    (edit,) = decided.edits
    lines = edit.new.decode().splitlines()
    assert lines[2] == "MAIN_TLS_CERTIFICATE = /etc/exim4/rsa.crt : " \
                       "/etc/exim4/ssl/certs/mx-ec.crt"
    assert lines[3] == "MAIN_TLS_PRIVATEKEY = /etc/exim4/rsa.key : " \
                       "/etc/exim4/ssl/private/mx-ec.key"
    # The RSA pair is Exim's own: replaced in place.
    assert decide_layout(LocalHost(root), target(root), SPEC, "mx").layout == "in-place"


def test_layout_adds_the_key_macro_next_to_the_certificate(tmp_path: Path) -> None:
    root = tmp_path / "t"
    shutil.copytree(TREES / "debian-unsplit", root)
    macros = root / "etc/exim4/exim4.conf.localmacros"
    macros.write_text(macros.read_text().replace(
        "MAIN_TLS_PRIVATEKEY = /etc/ssl/private/ssl-cert-snakeoil.key\n", ""))
    decided = decide_layout(LocalHost(root), target(root), SPEC, "mx")
    (edit,) = decided.edits
    assert edit.new.decode().splitlines()[3:5] == [
        "MAIN_TLS_CERTIFICATE = /etc/exim4/ssl/certs/mx.crt",
        "MAIN_TLS_PRIVATEKEY = /etc/exim4/ssl/private/mx.key"]


def test_the_spec_tests_the_file_exim_reads() -> None:
    test = SPEC.config_test_spec
    assert test is not None and test.read_only
    debian = LocalHost(TREES / "debian-unsplit")
    assert test.argv(debian, "/etc/exim4/exim4.conf.localmacros") == ["exim4", "-bV"]
    upstream = LocalHost(TREES / "upstream")
    assert test.argv(upstream, "/etc/exim/configure") == ["exim", "-C", "/etc/exim/configure",
                                                          "-bV"]
    error = ("2026-12-06 03:20:00 Exim configuration error in line 7 of "
             "/etc/exim4/exim4.conf: main option \"tls_certificat\" unknown")
    match = test.patterns[0].search(error)
    assert match is not None and (match["path"], match["line"]) == ("/etc/exim4/exim4.conf", "7")
    assert SPEC.reads_key_as_user and SPEC.seed_dir == "/etc/exim4"


def test_a_lab_host_runs_postfix_or_exim_not_both(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["lab", "up", "--files-only", "--programs",
                                      "postfix,exim4", "--dir", str(tmp_path / "lab")])
    assert result.exit_code == 2
    assert "postfix and exim4 both listen on port 25" in result.output
    assert not (tmp_path / "lab").exists()


# -- a real Exim 4.96 on a lab host ------------------------------------------------------

def _exim_lab(layout: str) -> Iterator[RunningLab]:
    with tempfile.TemporaryDirectory(prefix=f"certmgr-exim4-{layout}-") as tmp:
        yield from running_lab(Path(tmp) / "lab", layout=layout, programs=["exim4"])


@pytest.fixture(scope="module")
def lab() -> Iterator[RunningLab]:
    """The seed layout: Exim's own pair under /etc/exim4/ssl, replaced in place."""
    yield from _exim_lab("seed")


@pytest.fixture(scope="module")
def debian_lab() -> Iterator[RunningLab]:
    """Debian's layout: localmacros on the snakeoil pair, moved off it by a macro edit."""
    yield from _exim_lab("debian")


@pytest.fixture(scope="module")
def ca() -> TestCA:
    return TestCA()


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return Engine(FileJournalStore(tmp_path / "journal"), KeyFileCipher(tmp_path / "key"),
                  options=EngineOptions(verify_timeout=60))


def exim_target(host: WritableHost) -> SlotTarget:
    (found,) = [t for t in slot_targets(host.name, discover_host(host).slots())
                if t.kind is EXIM]
    return found


def served(host: LabHost, slot: SlotTarget) -> dict[str, tuple[bytes, ...] | None]:
    return {name: r.chain if r.ok else None
            for name, r in served_now(slot.endpoints, host.address).items()}


def daemon(host: WritableHost) -> int:
    pid = ServiceControl(host).main_pid("exim4")
    assert pid is not None
    return pid


@pytest.mark.lab
@pytest.mark.slow
def test_the_lab_runs_exim_as_debian_does(lab: RunningLab) -> None:
    host = lab.hosts[0]
    found = discover_host(host)
    service = found.service(EXIM)
    assert service is not None and service.config == "/etc/exim4/update-exim4.conf.conf"
    ((_s, slot),) = [(s, sl) for s, sl in found.slots() if s.kind is EXIM]
    assert {(e.port, e.tls) for e in slot.endpoints} == {
        (25, TlsMode.STARTTLS_SMTP), (587, TlsMode.STARTTLS_SMTP), (465, TlsMode.DIRECT)}
    assert slot.names == ("smtp.example.com",)
    assert service.user == "Debian-exim"
    # The daemon keeps root as its real uid and runs as Debian-exim.
    assert host.run(["ps", "-o", "euser=", "-p", str(daemon(host))]).stdout.strip() == \
        "Debian-exim"
    st = host.stat(slot.key or "")
    assert st is not None and (st.owner, st.group, st.mode) == ("root", "Debian-exim", 0o640)
    # localmacros changed but not regenerated: Exim still reads the old generated file,
    # and discovery says what Exim says (exim4 -bP), not what the parse alone would.
    macros = host.local_path("/etc/exim4/exim4.conf.localmacros")
    original = macros.read_bytes()
    macros.write_bytes(original.replace(b"MAIN_TLS_CERTIFICATE = ",
                                        b"MAIN_TLS_CERTIFICATE = /etc/exim4/later.crt\n# "))
    try:
        ((_s, seen),) = [(s, sl) for s, sl in discover_host(host).slots() if s.kind is EXIM]
        ((_s, parsed),) = discover_host(LocalHost(host.info.root), kinds=[EXIM]).slots()
    finally:
        macros.write_bytes(original)
    assert (seen.cert, parsed.cert) == (slot.cert, "/etc/exim4/later.crt")
    assert "cert" not in seen.settings  # the parsed line no longer sets what Exim reads


@pytest.mark.lab
@pytest.mark.slow
def test_deploy_serves_the_new_chain_on_25_587_465_without_a_signal(
        lab: RunningLab, engine: Engine, ca: TestCA) -> None:
    host = lab.hosts[0]
    slot = exim_target(host)
    pid = daemon(host)
    material = ca.material("smtp.example.com", ("smtp.example.com",))
    plan = engine.plan(host, slot, material)
    assert plan.layout == "in-place" and plan.edits == ()
    outcome = engine.deploy(host, slot, material)
    assert (outcome.outcome, outcome.reason) == (Outcome.VERIFIED, "")
    full = (material.cert.public_bytes(Encoding.DER), ca.intermediate.public_bytes(Encoding.DER))
    assert served(host, slot) == {name: full for name in served(host, slot)}
    assert len(served(host, slot)) == 3
    assert daemon(host) == pid  # nothing restarted, nothing signalled


@pytest.mark.lab
@pytest.mark.slow
def test_faults_are_refused_or_rolled_back_with_the_old_chain_served(
        lab: RunningLab, engine: Engine, ca: TestCA) -> None:
    host = lab.hosts[0]
    slot = exim_target(host)
    before = served(host, slot)
    assert None not in before.values()
    good = ca.material("smtp.example.com", ("smtp.example.com",))
    corrupted = replace(good, key_pem=b"-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n"
                                      b"-----END PRIVATE KEY-----\n")
    faulty = [ca.material("smtp.example.com", ("smtp.example.com",), **{fault: True})
              for fault in ("mismatched", "encrypted")]
    for material in (corrupted, *faulty):  # refused by preflight: nothing written
        outcome = engine.deploy(host, slot, material)
        assert outcome.outcome is Outcome.REFUSED, outcome.reason
        assert served(host, slot) == before
    # The key spoiled after preflight: Exim's file watch loads it and fails every
    # handshake; verify sees that, the old files come back and are served again.
    with at_checkpoint("reload", corrupt_key(host, slot.key or "")) as reached:
        outcome = engine.deploy(host, slot, ca.material("smtp.example.com",
                                                        ("smtp.example.com",)))
    assert outcome.outcome is Outcome.ROLLED_BACK, outcome.reason
    assert "rollback-verify" in reached
    assert served(host, slot) == before


@pytest.mark.lab
@pytest.mark.slow
def test_moving_off_snakeoil_edits_localmacros_and_rolls_back_byte_for_byte(
        debian_lab: RunningLab, engine: Engine, ca: TestCA) -> None:
    host = debian_lab.hosts[0]
    slot = exim_target(host)
    assert slot.cert == "/etc/ssl/certs/ssl-cert-snakeoil.pem"
    macros = "/etc/exim4/exim4.conf.localmacros"
    original = host.read_bytes(macros)
    generated = host.read_bytes("/var/lib/exim4/config.autogenerated")
    before = served(host, slot)
    pid = daemon(host)
    material = ca.material("smtp.example.com", ("smtp.example.com",))
    # A failing reload: the edited configuration does not load (an unknown option).
    def spoil() -> None:
        local = host.local_path(macros)
        local.write_bytes(local.read_bytes() + b"no_such_option = 1\n")
    with at_checkpoint("reload", spoil):
        outcome = engine.deploy(host, slot, material)
    assert outcome.outcome is Outcome.ROLLED_BACK, outcome.reason
    assert "update-exim4.conf" in outcome.reason
    assert host.read_bytes(macros) == original
    assert host.read_bytes("/var/lib/exim4/config.autogenerated") == generated
    assert served(host, slot) == before and daemon(host) == pid
    outcome = engine.deploy(host, slot, material)
    assert (outcome.outcome, outcome.reason) == (Outcome.VERIFIED, "")
    text = host.read_bytes(macros).decode()
    assert "MAIN_TLS_CERTIFICATE = /etc/exim4/ssl/certs/smtp.example.com.crt" in text
    assert "MAIN_TLS_PRIVATEKEY = /etc/exim4/ssl/private/smtp.example.com.key" in text
    assert b"/etc/exim4/ssl/certs/smtp.example.com.crt" in host.read_bytes(
        "/var/lib/exim4/config.autogenerated")
    leaf = material.cert.public_bytes(Encoding.DER)
    assert {chain[0] if chain else None for chain in served(host, slot).values()} == {leaf}
    assert daemon(host) == pid  # SIGHUP re-executes the daemon in place
    assert host.read_bytes("/etc/ssl/certs/ssl-cert-snakeoil.pem")  # left as it was


@pytest.mark.lab
@pytest.mark.slow
def test_certmgr_deploy_puts_a_built_in_ca_certificate_on_a_lab_exim(
        cli: CliRunner, home: Path) -> None:
    reason = lab_missing()
    if reason is not None:
        skip_or_fail(reason)
    lab_dir = home / "lab"
    code, _out, err = run_cli(cli, "lab", "up", "--programs", "exim4", "--dir", str(lab_dir))
    try:
        assert code == 0, err
        host = open_lab_host(lab_dir, "lab1")
        code, out, err = run_cli(cli, "discover", "--host", "lab:lab1", "--json")
        assert code == 0, err
        (exim,) = [s for s in json.loads(out)["services"] if s["kind"] == "exim4"]
        assert [slot["id"] for slot in exim["slots"]] == ["exim4"]
        assert run_cli(cli, "ca", "init")[0] == 0
        assert run_cli(cli, "define", "smtp.example.com", "--target", "lab:lab1/exim4")[0] == 0
        assert run_cli(cli, "issue", "smtp.example.com")[0] == 0
        code, out, err = run_cli(cli, "deploy", "smtp.example.com", "--yes", "--json")
        assert code == 0, err
        (done,) = json.loads(out)["deployments"]
        assert done["outcome"] == "verified", done
        slot = exim_target(host)
        chains = served(host, slot)
        assert len(chains) == 3  # 25 and 587 (STARTTLS), 465 (TLS)
        assert {hashlib.sha256(c[0]).hexdigest() if c else None
                for c in chains.values()} == {done["plan"]["sha256"]}
        issued = load_bundle(host.read_bytes(slot.cert or "")).certificates
        assert {c or () for c in chains.values()} == {
            tuple(c.public_bytes(Encoding.DER) for c in issued)}  # the full chain served
    finally:
        run_cli(cli, "lab", "down", "--dir", str(lab_dir))
