"""LDAP sign-in through the console against the lab's own slapd, and certmgr keeping that
directory's certificate (the seed's point: the sign-in directory is one of its slots).

A lab host runs slapd alone (389 StartTLS, 636, at its 198.18.x.x address, Table 1's
files, the lab's self-signed ``ldap.example.com`` certificate). The test loads people
and groupOfNames groups into it on the host (ldapadd over ldapi as root), and serves the
console over HTTPS with an ``[ldap]`` table for ``ldap://ADDRESS``:

- trusting the lab's own certificate, every sign-in answers 503: that certificate does
  not hold the address the console connects to (the name check is real), and the
  reason is in the audit log;
- certmgr issues slapd a certificate from the built-in CA with the address among its
  names and deploys it to slapd's slot (ldapmodify of cn=config, live); with the
  built-in root as ``ca_file`` the directory is trusted: a directory admin signs in
  with the admin role, a wrong password is refused and audited, a user in no group is
  refused, and an operator of a group with host patterns is refused (403) on the lab
  host, which its patterns do not match.

Markers ``lab`` and ``ldap``: in CI it runs, never skips.
"""

from __future__ import annotations

import json
import ssl
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from typer.testing import CliRunner

from certmgr.app.console import console_certificate
from certmgr.app.ldap_config import load_ldap_config
from certmgr.app.trust import builtin_roots
from certmgr.hosts.lab import LabHost
from certmgr.lab import register_hosts
from certmgr.testing.lab import RunningLab, running_lab
from certmgr.web.console import Console
from certmgr.web.security import SESSION_COOKIE, Security
from tests.app.slapd import BASE, PASSWORD, _ssha, ldap_config_file
from tests.conftest import run_cli
from tests.web.conftest import serving
from tests.web.test_signin import _csrf, _login

pytestmark = [pytest.mark.lab, pytest.mark.ldap]

HOST = "lab:lab1"
NAME = "ldap.example.com"
# uid -> groups (cn under ou=groups)
PEOPLE = {"alice": ("certmgr-admins",), "oscar": ("web-operators",), "nobody": ()}
GROUPS = ("certmgr-admins", "web-operators")

# The lab's mdb database lets everyone read and nobody write (no rootpw): root over
# ldapi (peercred) gets manage on it first, as it has on cn=config.
_ROOT_MANAGES = """dn: olcDatabase={1}mdb,cn=config
changetype: modify
add: olcAccess
olcAccess: {0}to * by dn.exact=gidNumber=0+uidNumber=0,cn=peercred,cn=external,cn=auth \
manage by * break
"""


def _people() -> str:
    out = [f"dn: ou={ou},{BASE}\nobjectClass: organizationalUnit\nou: {ou}\n"
           for ou in ("people", "groups")]
    for uid in PEOPLE:
        out.append(f"dn: uid={uid},ou=people,{BASE}\nobjectClass: inetOrgPerson\nuid: {uid}\n"
                   f"cn: {uid}\nsn: {uid}\nuserPassword: {_ssha(PASSWORD)}\n")
    for group in GROUPS:
        members = [f"uid={u},ou=people,{BASE}" for u, gs in PEOPLE.items() if group in gs]
        out.append(f"dn: cn={group},ou=groups,{BASE}\nobjectClass: groupOfNames\ncn: {group}\n"
                   + "".join(f"member: {m}\n" for m in members))
    return "\n".join(out)


def _load_directory(host: LabHost) -> None:
    for argv, ldif in ((["ldapmodify"], _ROOT_MANAGES), (["ldapadd"], _people())):
        result = host.run([*argv, "-Q", "-Y", "EXTERNAL", "-H", "ldapi:///"],
                          input=ldif.encode(), check=False, timeout=60)
        assert result.ok, result


def _ldap_file(where: Path, address: str, ca_file: Path) -> Path:
    return ldap_config_file(where, f"ldap://{address}", ca_file, timeout=10)


def _client(url: str, root: Path) -> httpx.Client:
    context = ssl.create_default_context(cafile=str(root))
    return httpx.Client(base_url=url, verify=context, timeout=30, follow_redirects=False)


@pytest.fixture
def lab() -> Iterator[RunningLab]:
    # not under pytest's 0700 basetemp: the lab's programs traverse the lab directory
    with tempfile.TemporaryDirectory(prefix="certmgr-ldap-lab-") as tmp:
        yield from running_lab(Path(tmp) / "lab", hosts=1, programs=["slapd"])


def test_console_signs_in_against_the_labs_slapd_whose_certificate_certmgr_deploys(
        cli: CliRunner, home: Path, tmp_path: Path, lab: RunningLab) -> None:
    (host,) = lab.hosts
    address = lab.state.hosts[0].address
    _load_directory(host)
    assert run_cli(cli, "ca", "init")[0] == 0
    console = Console(home)
    try:
        repo = console.repository()
        register_hosts(repo, lab.state)
        root = tmp_path / "root.pem"
        root.write_bytes(b"".join(r.public_bytes(serialization.Encoding.PEM)
                                  for r in builtin_roots(repo)))
        lab_cert = tmp_path / "lab-slapd.pem"
        lab_cert.write_bytes(host.read_bytes("/etc/ldap/ssl/certs/trusted-ca.crt"))
        security = Security()
        cert = console_certificate(console, fqdn="certmgr.test")
        with serving(console, cert, security) as (url, app, _context):
            # 1. the lab's own certificate names ldap.example.com, not the address
            app.state.ldap = load_ldap_config(_ldap_file(tmp_path, address, lab_cert))
            with _client(url, root) as c:
                r = _login(c, "alice", PASSWORD)
                assert r.status_code == 503, r.text[:300]
            error = repo.list_audit(limit=1, action="login.error")[0]
            reason = str(error.detail["reason"])
            assert "certificate is not trusted: IP address mismatch" in reason, reason

            # 2. certmgr issues and deploys slapd's certificate, the address among its names
            code, out, err = run_cli(cli, "discover", "--host", HOST, "--json")
            assert code == 0, err
            (slapd,) = [s for s in json.loads(out)["services"] if s["kind"] == "slapd"]
            (slot,) = [s["id"] for s in slapd["slots"]]
            assert run_cli(cli, "define", NAME, "--san", address,
                           "--target", f"{HOST}/{slot}")[0] == 0
            assert run_cli(cli, "issue", NAME)[0] == 0
            code, out, err = run_cli(cli, "deploy", NAME, "--yes", "--json")
            assert code == 0, err
            (done,) = json.loads(out)["deployments"]
            assert done["outcome"] == "verified", done

            # 3. trusted through the built-in root: the sign-ins, as the directory says
            app.state.ldap = load_ldap_config(_ldap_file(tmp_path, address, root))
            with _client(url, root) as c:
                r = _login(c, "alice", PASSWORD)
                assert r.status_code == 303 and r.headers["location"] == "/", r.text[:300]
                assert c.cookies[SESSION_COOKIE]
                assert c.get("/users").status_code == 200  # admin only
            assert repo.get_user("alice").role == "admin"
            ok = repo.list_audit(limit=1, action="login.ok")[0]
            assert (ok.actor, ok.detail["via"], ok.detail["role"]) == ("alice", "ldap", "admin")

            with _client(url, root) as c:
                r = _login(c, "alice", "not the directory password")
                assert r.status_code == 401 and SESSION_COOKIE not in c.cookies
            failed = repo.list_audit(limit=1, action="login.failed")[0]
            assert (failed.object, failed.detail["failed"]) == ("user:alice", "password")

            with _client(url, root) as c:
                r = _login(c, "nobody", PASSWORD)
                assert r.status_code == 403 and "none of the directory groups" in r.text
            refused = repo.list_audit(limit=1, action="login.refused")[0]
            assert (refused.object, refused.detail["failed"]) == ("user:nobody", "no_group")

            with _client(url, root) as c:
                assert _login(c, "oscar", PASSWORD).status_code == 303
                hosts = c.get("/hosts")
                assert hosts.status_code == 200
                r = c.post(f"/hosts/{HOST}/discover", data={"csrf": _csrf(hosts.text)})
                assert r.status_code == 403
            oscar = repo.get_user("oscar")
            assert (oscar.origin, oscar.role, oscar.hosts) == ("ldap", "operator",
                                                               ("lab:web*",))
            denied = repo.list_audit(limit=1, action="access.denied")[0]
            assert denied.actor == "oscar"
    finally:
        console.close()
