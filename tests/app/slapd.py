"""A real OpenLDAP slapd on 127.0.0.1 for the LDAP sign-in tests: a throwaway slapd.conf
in the test's directory, an mdb database loaded with slapadd (people, groupOfNames
groups, a service account), and TLS with a certificate made by ``cryptography`` (a CA
of the test's own, and a second CA the directory does not use: "untrusted")."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from certmgr.testing import skip_or_fail

SLAPD = "/usr/sbin/slapd"
SLAPADD = "/usr/sbin/slapadd"
BASE = "dc=example,dc=com"
SERVICE_DN = f"cn=certmgr,ou=services,{BASE}"
SERVICE_PASSWORD = "service account secret 42"
PASSWORD = "directory password 1"
# uid -> groups (cn under ou=groups)
PEOPLE = {
    "alice": ("certmgr-admins", "certmgr-viewers"),
    "oscar": ("web-operators",),
    "vera": ("certmgr-viewers",),
    "nobody": (),
    "root_admin": ("certmgr-admins",),
}
GROUPS = ("certmgr-admins", "web-operators", "certmgr-viewers", "unrelated")


@dataclass(frozen=True)
class Directory:
    url: str  # ldap://localhost:PORT (StartTLS)
    ldaps_url: str
    ca_file: Path  # the CA that issued the directory's certificate
    other_ca_file: Path  # a CA that did not
    base: str = BASE


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _ca(cn: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(_name(cn))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False,
                                         False), critical=True)
            .sign(key, hashes.SHA256()))
    return key, cert


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def make_tls(where: Path) -> tuple[Path, Path, Path, Path]:
    """(server certificate, its key, the issuing CA, another CA) as PEM files."""
    ca_key, ca = _ca("certmgr test LDAP CA")
    _, other = _ca("some other CA")
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    leaf = (x509.CertificateBuilder().subject_name(_name("localhost")).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            # localhost only: ldap://127.0.0.1 is a name the certificate does not hold
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]),
                           critical=False)
            .add_extension(x509.ExtendedKeyUsage([x509.OID_SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = [where / n for n in ("server.pem", "server.key", "ca.pem", "other-ca.pem")]
    paths[0].write_bytes(_pem(leaf))
    paths[1].touch(mode=0o600)
    paths[1].write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    paths[2].write_bytes(_pem(ca))
    paths[3].write_bytes(_pem(other))
    return paths[0], paths[1], paths[2], paths[3]


def _ssha(password: str) -> str:
    salt = os.urandom(8)
    digest = hashlib.sha1(password.encode() + salt, usedforsecurity=False).digest()
    return "{SSHA}" + base64.b64encode(digest + salt).decode()


def _ldif() -> str:
    out = [f"dn: {BASE}\nobjectClass: dcObject\nobjectClass: organization\no: example\n"
           "dc: example\n"]
    for ou in ("people", "groups", "services"):
        out.append(f"dn: ou={ou},{BASE}\nobjectClass: organizationalUnit\nou: {ou}\n")
    for uid in PEOPLE:
        out.append(f"dn: uid={uid},ou=people,{BASE}\nobjectClass: inetOrgPerson\nuid: {uid}\n"
                   f"cn: {uid}\nsn: {uid}\nuserPassword: {_ssha(PASSWORD)}\n")
    out.append(f"dn: {SERVICE_DN}\nobjectClass: person\ncn: certmgr\nsn: service\n"
               f"userPassword: {_ssha(SERVICE_PASSWORD)}\n")
    for group in GROUPS:
        members = [f"uid={u},ou=people,{BASE}" for u, gs in PEOPLE.items() if group in gs]
        members = members or [SERVICE_DN]  # groupOfNames needs one member
        out.append(f"dn: cn={group},ou=groups,{BASE}\nobjectClass: groupOfNames\ncn: {group}\n"
                   + "".join(f"member: {m}\n" for m in members))
    return "\n".join(out)


def _conf(where: Path, cert: Path, key: Path, ca: Path) -> str:
    return f"""include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile {where}/slapd.pid
argsfile {where}/slapd.args
TLSCACertificateFile {ca}
TLSCertificateFile {cert}
TLSCertificateKeyFile {key}
database mdb
directory {where}/db
maxsize 10485760
suffix "{BASE}"
rootdn "cn=admin,{BASE}"
access to attrs=userPassword by anonymous auth by self read by * none
access to * by users read by * none
"""


def start_slapd(where: Path) -> Iterator[Directory]:
    """Run slapd on two free loopback ports (LDAP with StartTLS, LDAPS) until closed."""
    if not (os.access(SLAPD, os.X_OK) and os.access(SLAPADD, os.X_OK)):
        skip_or_fail(f"{SLAPD} is not installed (Debian: apt-get install slapd ldap-utils)")
    cert, key, ca, other = make_tls(where)
    (where / "db").mkdir()
    conf = where / "slapd.conf"
    conf.write_text(_conf(where, cert, key, ca))
    (where / "data.ldif").write_text(_ldif())
    subprocess.run([SLAPADD, "-q", "-f", str(conf), "-l", str(where / "data.ldif")],
                   check=True, capture_output=True, timeout=60)
    port, tls_port = _free_port(), _free_port()
    urls = f"ldap://127.0.0.1:{port}/ ldaps://127.0.0.1:{tls_port}/"
    log = (where / "slapd.log").open("wb")
    proc = subprocess.Popen([SLAPD, "-f", str(conf), "-h", urls, "-d", "0"],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait(port, proc, where)
        _wait(tls_port, proc, where)
        yield Directory(f"ldap://localhost:{port}", f"ldaps://localhost:{tls_port}", ca, other)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.close()


def _wait(port: int, proc: subprocess.Popen[bytes], where: Path) -> None:
    for _ in range(250):
        if proc.poll() is not None:
            raise RuntimeError(f"slapd ended ({proc.returncode}): "
                               + (where / "slapd.log").read_text()[-2000:])
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.04)
    raise RuntimeError(f"slapd did not listen on {port} within 10 s")


def ldap_config_file(where: Path, url: str, ca_file: Path | str, *,
                     timeout: int = 5) -> Path:
    """``where/ldap.toml`` for ``certmgr web --ldap``: users by DN template under
    ``ou=people``, admins from ``certmgr-admins``, operators restricted to ``lab:web*``
    from ``web-operators``."""
    file = where / "ldap.toml"
    file.write_text(f"""[ldap]
url = "{url}"
ca_file = "{ca_file}"
timeout = {timeout}
user_dn = "uid={{username}},ou=people,{BASE}"
group_base = "ou=groups,{BASE}"

[[ldap.group]]
dn = "cn=certmgr-admins,ou=groups,{BASE}"
role = "admin"

[[ldap.group]]
dn = "cn=web-operators,ou=groups,{BASE}"
role = "operator"
hosts = ["lab:web*"]
""")
    return file
