"""Acceptance: the seed's whole evaluation (issue 8), run as `certmgr demo` does, then judged.

For each of the 12 ports (Table 2 plus Postfix 465): the served leaf is the repository's
certificate for that service and its chain verifies to the built-in root; the files'
owner, group and mode are Table 1's; no key file is shared between programs; and
`check` reports no error afterwards.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from certmgr.demo.runner import certmgr
from certmgr.demo.story import SEED_DEFINITIONS, SIX
from certmgr.pki import fingerprint_sha256, load_bundle, verify_chain
from certmgr.testing import skip_or_fail
from certmgr.testing.lab import lab_missing

pytestmark = pytest.mark.lab

# Table 1, with Debian's Tomcat 10 user: who may read each program's key.
KEY_OWNERSHIP = {"slapd": ("root", "openldap", 0o640), "tomcat": ("root", "tomcat", 0o640)}
DEFAULT_OWNERSHIP = ("root", "root", 0o600)
TABLE2_PORTS = {389, 636, 443, 21, 25, 587, 465, 110, 995, 143, 993, 8443}


@pytest.fixture(scope="module")
def demo() -> Iterator[dict[str, Any]]:
    """`certmgr demo --keep` run once; its home and lab stay for the assertions."""
    reason = lab_missing()
    if reason is not None:
        skip_or_fail(reason)
    run = certmgr(Path("/nonexistent-unused"), "demo", "--keep")
    data = run.data
    assert isinstance(data, dict), run.stderr
    home = Path(data["home"]) if data.get("home") else None
    try:
        yield {"run": data, "home": home, "stderr": run.stderr, "exit": run.returncode}
    finally:
        if home is not None:
            down = certmgr(home, "lab", "down", "--dir", str(home / "lab"))
            assert down.returncode == 0, down.stderr
            # the demo's own temporary home (--keep left it for the assertions)
            if home.name.startswith("certmgr-demo.") and \
                    home.parent == Path(tempfile.gettempdir()):
                shutil.rmtree(home)


def _kind_of_definition() -> dict[str, str]:
    return {kind: name for name, (_names, kinds) in SEED_DEFINITIONS.items() for kind in kinds}


def test_every_step_had_its_expected_outcome(demo: dict[str, Any]) -> None:
    steps = demo["run"]["steps"]
    assert demo["exit"] == 0, [s for s in steps if not s["ok"]] or demo["stderr"]
    assert [s["number"] for s in steps] == list(range(1, 9))
    assert all(s["ok"] and not s["skipped"] for s in steps)


def test_served_leaves_are_the_repositorys_and_chain_to_the_builtin_root(
        demo: dict[str, Any]) -> None:
    home = demo["home"]
    lab = certmgr(home, "lab", "status", "--dir", str(home / "lab")).data
    host = lab["hosts"][0]
    targets = {}
    for program in host["programs"]:
        for e in program["endpoints"]:
            suffix = "" if e["tls"] == "direct" else "/" + e["tls"].removeprefix("starttls-")
            targets[f"{e['address']}:{e['port']}{suffix}"] = program["kind"]
    assert {int(t.split(":")[1].split("/")[0]) for t in targets} == TABLE2_PORTS
    scan = certmgr(home, "scan", *targets)
    assert scan.returncode == 0, scan.stderr
    results = scan.data["results"] if isinstance(scan.data, dict) else scan.data
    root = load_bundle(_ca_root_pem(home).encode()).certificates[0]
    definition_of = _kind_of_definition()
    for result in results:
        kind = targets[result["target"]]
        assert result["ok"], result
        assert not [f for f in result["findings"] if f["severity"] == "error"], result
        current = certmgr(home, "export", definition_of[kind], "--format", "fullchain",
                          "--out", str(home / "export" / kind))
        assert current.returncode == 0, current.stderr
        bundle = load_bundle((home / "export" / kind / f"{definition_of[kind]}-fullchain.crt")
                             .read_bytes())
        leaf, *chain = bundle.certificates
        assert result["chain"][0]["sha256"] == fingerprint_sha256(leaf), result["target"]
        assert [c["sha256"] for c in result["chain"][1:]] == [fingerprint_sha256(c)
                                                               for c in chain]
        assert verify_chain(leaf, chain, [root]).ok, result["target"]


def _ca_root_pem(home: Path) -> str:
    out = home / "root.pem"
    run = certmgr(home, "ca", "export", "--out", str(out))
    assert run.returncode == 0, run.stderr
    return out.read_text()


def test_files_owner_group_mode_are_table_1s_and_keys_are_not_shared(
        demo: dict[str, Any]) -> None:
    home = demo["home"]
    root = home / "lab" / "lab1"
    found = certmgr(home, "discover", "--root", str(root), "--no-store").data
    keys: dict[str, str] = {}
    for service in found["services"]:
        kind = service["kind"]
        if kind not in SIX:
            continue
        for slot in service["slots"]:
            key = slot["keystore"] or slot["key"]
            assert key, slot
            path = root / key.lstrip("/")
            st = path.stat()
            owner, group, mode = KEY_OWNERSHIP.get(kind, DEFAULT_OWNERSHIP)
            assert (_user(root, st.st_uid), _group(root, st.st_gid),
                    stat.S_IMODE(st.st_mode)) == (owner, group, mode), (kind, key)
            private = path.parent
            dmode = stat.S_IMODE(private.stat().st_mode)
            assert dmode in (0o700, 0o750), (kind, private, oct(dmode))
            real = os.path.realpath(path)
            assert keys.setdefault(real, kind) == kind, f"{real} shared by {keys[real]}, {kind}"


def test_check_reports_no_error_afterwards(demo: dict[str, Any]) -> None:
    home = demo["home"]
    check = certmgr(home, "check", "--host", "lab:lab1")
    errors = [f for f in check.data["findings"] if f["severity"] == "error"]
    assert check.returncode == 0 and not errors, json.dumps(errors, indent=1)


def _user(root: Path, uid: int) -> str:
    for line in (root / "etc" / "passwd").read_text().splitlines():
        fields = line.split(":")
        if len(fields) > 2 and fields[2] == str(uid):
            return fields[0]
    return str(uid)


def _group(root: Path, gid: int) -> str:
    for line in (root / "etc" / "group").read_text().splitlines():
        fields = line.split(":")
        if len(fields) > 2 and fields[2] == str(gid):
            return fields[0]
    return str(gid)
