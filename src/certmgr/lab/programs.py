"""The server programs of a lab host: their files, configuration and service-table entry.

Each program is one :class:`LabProgram` in :data:`PROGRAMS`: the seed's six
(:data:`DEFAULT_PROGRAMS`, what a lab runs unless told otherwise), then nginx
(port 4431) and haproxy (port 4432), which run only when asked for. ``install`` writes
its configuration and TLS files into the host tree (Debian's file names, the
seed's or Debian's certificate layout); ``service`` says how the host starts,
reloads and stops it. Paths are as the program sees them inside the host.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import ClassVar, Protocol

from certmgr.hosts.servicetable import ServiceEntry
from certmgr.lab.certs import SelfSigned, jks_keystore, self_signed
from certmgr.lab.tree import HostTree, template
from certmgr.models import Endpoint, TlsMode
from certmgr.programs import ServiceKind

__all__ = [
    "DEFAULT_PROGRAMS",
    "LAYOUTS",
    "PROGRAMS",
    "SNAKEOIL_CERT",
    "SNAKEOIL_KEY",
    "HostContext",
    "LabProgram",
    "program",
]

LAYOUTS = ("seed", "debian")
SNAKEOIL_CERT = "/etc/ssl/certs/ssl-cert-snakeoil.pem"
SNAKEOIL_KEY = "/etc/ssl/private/ssl-cert-snakeoil.key"
SEED_NAMES = ("ldap.example.com", "www.example.com", "www2.example.com", "ftp.example.com",
              "smtp.example.com", "pop.example.com", "imap.example.com")
Ports = tuple[tuple[int, TlsMode], ...]
KEYSTORE_PASSWORD = "changeit"  # noqa: S105 - the seed's documented keystore password


@dataclass
class HostContext:
    """What programs need to install themselves into one host's tree."""

    tree: HostTree
    address: str
    layout: str
    manager_password: str
    fingerprints: dict[str, str] = field(default_factory=dict)  # kind -> served leaf sha256
    snakeoil: SelfSigned | None = None

    def pem_pair(self, kind: ServiceKind, name: str, sans: tuple[str, ...], *,
                 key_group: str = "root") -> tuple[str, str]:
        """Place the program's certificate and key; returns (cert path, key path).

        seed: a self-signed pair of its own at Table 1's paths, owner and mode
        (``root:<key_group>`` 0640 in a 0750 ``private/`` when the program reads
        its key as its own user, else ``root:root`` 0600 in 0700).
        debian: the shared snakeoil pair.
        """
        if self.layout == "debian":
            assert self.snakeoil is not None
            self.fingerprints[kind.value] = self.snakeoil.sha256
            return SNAKEOIL_CERT, SNAKEOIL_KEY
        base = _SEED_DIRS[kind]
        cred = self_signed(name, sans)
        self.fingerprints[kind.value] = cred.sha256
        shared = key_group != "root"
        cert, key = f"{base}/ssl/certs/{name}.crt", f"{base}/ssl/private/{name}.key"
        self.tree.mkdir(f"{base}/ssl/certs")
        self.tree.mkdir(f"{base}/ssl/private", mode=0o750 if shared else 0o700, group=key_group)
        self.tree.write(cert, cred.cert_pem)
        self.tree.write(key, cred.key_pem, mode=0o640 if shared else 0o600, group=key_group)
        if kind is ServiceKind.SLAPD:
            # slapd wants a trusted-CA file; for a self-signed certificate it is the certificate.
            self.tree.write(f"{base}/ssl/certs/trusted-ca.crt", cred.cert_pem)
        return cert, key

    def ca_file(self, kind: ServiceKind) -> str:
        if self.layout == "debian":
            return SNAKEOIL_CERT
        return f"{_SEED_DIRS[kind]}/ssl/certs/trusted-ca.crt"


# The seed's per-program directories; the lab's Tomcat reads /etc/tomcat10/server.xml.
_SEED_DIRS = {**{k: k.spec.seed_dir for k in ServiceKind if k.spec.seed_dir},
              ServiceKind.TOMCAT: "/etc/tomcat10"}


def _sh(script: str, log: str) -> tuple[str, ...]:
    """A start command: ``script`` in sh, every output going to ``log`` (never to our pipes)."""
    return ("sh", "-c", f"exec >>{log} 2>&1 </dev/null; {script}")


def _foreground(pid_file: str, argv: str, log: str, *, before: str = "",
                stdin: str = "/dev/null") -> tuple[str, ...]:
    """A start command for a program that stays in the foreground.

    ``setsid -f`` detaches a shell that writes its own pid to ``pid_file`` and
    then becomes the program, so the table's pid is the program's.
    """
    inner = f"exec <>{stdin} >>{log} 2>&1; {before}echo $$ >{pid_file}; exec {argv}"
    return ("setsid", "-f", "sh", "-c", inner)


class LabProgram(Protocol):
    """One server program of a lab host.

    Attributes:
        kind: which program.
        ports: its TLS ports and how TLS starts on each.
    """

    kind: ClassVar[ServiceKind]
    ports: ClassVar[Ports]

    def install(self, ctx: HostContext) -> None:
        """Write the program's configuration and TLS files into the host tree."""
        ...

    def service(self, ctx: HostContext) -> ServiceEntry:
        """Its service-table entry: start, reload, stop, pid file, user, logs, endpoints."""
        ...


def _endpoints(prog: LabProgram, address: str) -> tuple[Endpoint, ...]:
    return tuple(Endpoint(address, port, tls) for port, tls in prog.ports)


class Slapd:
    kind: ClassVar[ServiceKind] = ServiceKind.SLAPD
    ports: ClassVar[Ports] = ((389, TlsMode.STARTTLS_LDAP), (636, TlsMode.DIRECT))

    def install(self, ctx: HostContext) -> None:
        t = ctx.tree
        cert, key = ctx.pem_pair(self.kind, "ldap.example.com", (), key_group="openldap")
        if ctx.layout == "debian":
            t.add_to_group("ssl-cert", "openldap")
        values = {"CERT": cert, "KEY": key, "CAFILE": ctx.ca_file(self.kind)}
        t.write("/etc/ldap/certmgr-lab/config.ldif", template("slapd/config.ldif", **values))
        t.write("/etc/ldap/certmgr-lab/base.ldif", template("slapd/base.ldif"))
        t.write("/etc/ldap/certmgr-lab/reload-tls.ldif",
                template("slapd/reload-tls.ldif", **values))
        t.remove("/etc/ldap/slapd.d")
        t.mkdir("/etc/ldap/slapd.d", mode=0o755, owner="openldap", group="openldap")
        t.mkdir("/var/lib/ldap", mode=0o700, owner="openldap", group="openldap")

    def service(self, ctx: HostContext) -> ServiceEntry:
        urls = f"ldap://{ctx.address}/ ldaps://{ctx.address}/ ldapi:///"
        argv = ("/usr/sbin/slapd -h " + shlex.quote(urls)
                + " -g openldap -u openldap -F /etc/ldap/slapd.d -d stats")
        # The cn=config tree and the database are loaded on first start (slapadd as root,
        # then handed to openldap); slapd -d keeps it in the foreground, logging to a file.
        before = ("install -d -o openldap -g openldap -m 0755 /run/slapd; "
                  "if [ ! -e /etc/ldap/slapd.d/cn=config.ldif ]; then "
                  "slapadd -q -n0 -F /etc/ldap/slapd.d -l /etc/ldap/certmgr-lab/config.ldif && "
                  "slapadd -q -n1 -F /etc/ldap/slapd.d -l /etc/ldap/certmgr-lab/base.ldif && "
                  "chown -R openldap:openldap /etc/ldap/slapd.d /var/lib/ldap || exit 1; fi; ")
        return ServiceEntry(
            name=self.kind.value, user="openldap",
            start=_foreground("/run/slapd/slapd.pid", argv, "/var/log/slapd.log", before=before),
            reload=("ldapmodify", "-Q", "-Y", "EXTERNAL", "-H", "ldapi:///",
                    "-f", "/etc/ldap/certmgr-lab/reload-tls.ldif"),
            pid_file="/run/slapd/slapd.pid", logs=("/var/log/slapd.log",),
            endpoints=_endpoints(self, ctx.address),
        )


def write_offline_slapd_config(tree: HostTree) -> None:
    """The file-only lab's cn=config: the ``cn=config`` entry as ``slapd.d/cn=config.ldif``.

    In a running lab slapadd builds the whole tree on slapd's first start; a
    file-only lab starts nothing, yet its trees must show slapd's TLS settings
    where discovery reads them, as slapadd would have written them.
    """
    ldif = tree.path("/etc/ldap/certmgr-lab/config.ldif").read_text()
    entry = next(block for block in ldif.split("\n\n") if "dn: cn=config\n" in block)
    lines = [ln for ln in entry.splitlines() if ln and not ln.startswith("#")]
    tree.write("/etc/ldap/slapd.d/cn=config.ldif",
               "# AUTO-GENERATED FILE - DO NOT EDIT!! Use ldapmodify.\n" + "\n".join(lines)
               + "\n", mode=0o600, owner="openldap", group="openldap")


class Apache2:
    kind: ClassVar[ServiceKind] = ServiceKind.APACHE2
    ports: ClassVar[Ports] = ((443, TlsMode.DIRECT),)

    def install(self, ctx: HostContext) -> None:
        t = ctx.tree
        cert, key = ctx.pem_pair(self.kind, "www.example.com", ())
        t.write("/etc/apache2/ports.conf", template("apache2/ports.conf", ADDRESS=ctx.address))
        t.write("/etc/apache2/sites-available/default-ssl.conf",
                template("apache2/default-ssl.conf", CERT=cert, KEY=key))
        # a2enmod ssl; a2ensite default-ssl (the links Debian's tools make).
        for name in ("ssl.load", "ssl.conf", "socache_shmcb.load"):
            t.symlink(f"/etc/apache2/mods-enabled/{name}", f"../mods-available/{name}")
        t.symlink("/etc/apache2/sites-enabled/default-ssl.conf",
                  "../sites-available/default-ssl.conf")
        t.mkdir("/var/log/apache2", mode=0o750, group="adm")
        t.mkdir("/var/cache/apache2")

    def service(self, ctx: HostContext) -> ServiceEntry:
        log = "/var/log/apache2/startup.log"
        return ServiceEntry(
            name=self.kind.value, user="root",
            start=_sh("apache2ctl start", log), reload=("apache2ctl", "graceful"),
            pid_file="/run/apache2/apache2.pid",
            logs=(log, "/var/log/apache2/error.log"), endpoints=_endpoints(self, ctx.address),
        )


class Vsftpd:
    kind: ClassVar[ServiceKind] = ServiceKind.VSFTPD
    ports: ClassVar[Ports] = ((21, TlsMode.STARTTLS_FTP),)

    def install(self, ctx: HostContext) -> None:
        cert, key = ctx.pem_pair(self.kind, "www2.example.com", ("ftp.example.com",))
        ctx.tree.write("/etc/vsftpd.conf",
                       template("vsftpd/vsftpd.conf", ADDRESS=ctx.address, CERT=cert, KEY=key))

    def service(self, ctx: HostContext) -> ServiceEntry:
        # vsftpd writes its start-up errors ("500 OOPS") to fd 0: stdin is a log file.
        oops = "/var/log/vsftpd.startup.log"
        return ServiceEntry(
            name=self.kind.value, user="root",
            start=_foreground("/run/vsftpd.pid", "/usr/sbin/vsftpd /etc/vsftpd.conf",
                              "/var/log/vsftpd.stderr.log", stdin=oops,
                              before="mkdir -p -m 0755 /run/vsftpd/empty; "),
            reload=None, pid_file="/run/vsftpd.pid",
            logs=(oops, "/var/log/vsftpd.stderr.log", "/var/log/vsftpd.log"),
            endpoints=_endpoints(self, ctx.address),
        )


class Postfix:
    kind: ClassVar[ServiceKind] = ServiceKind.POSTFIX
    ports: ClassVar[Ports] = ((25, TlsMode.STARTTLS_SMTP), (587, TlsMode.STARTTLS_SMTP),
                             (465, TlsMode.DIRECT))

    def install(self, ctx: HostContext) -> None:
        t = ctx.tree
        cert, key = ctx.pem_pair(self.kind, "smtp.example.com", ())
        t.write("/etc/postfix/main.cf",
                template("postfix/main.cf", ADDRESS=ctx.address, CERT=cert, KEY=key))
        t.write("/etc/postfix/master.cf", template("postfix/master.cf"))
        t.write("/etc/mailname", "smtp.example.com\n")
        t.mkdir("/var/spool/postfix")
        t.mkdir("/var/lib/postfix", mode=0o700, owner="postfix", group="postfix")

    def service(self, ctx: HostContext) -> ServiceEntry:
        log = "/var/log/postfix.startup.log"
        return ServiceEntry(
            name=self.kind.value, user="root",
            # "postfix check" creates the queue directories with their owners.
            start=_sh("postfix check && postfix start", log), reload=("postfix", "reload"),
            pid_file="/var/spool/postfix/pid/master.pid",
            logs=(log, "/var/log/postfix.log"), endpoints=_endpoints(self, ctx.address),
        )


class Dovecot:
    kind: ClassVar[ServiceKind] = ServiceKind.DOVECOT
    ports: ClassVar[Ports] = ((110, TlsMode.STARTTLS_POP3), (995, TlsMode.DIRECT),
                             (143, TlsMode.STARTTLS_IMAP), (993, TlsMode.DIRECT))

    def install(self, ctx: HostContext) -> None:
        t = ctx.tree
        cert, key = ctx.pem_pair(self.kind, "pop.example.com", ("imap.example.com",))
        t.write("/etc/dovecot/dovecot.conf",
                template("dovecot/dovecot.conf", ADDRESS=ctx.address))
        t.write("/etc/dovecot/conf.d/10-ssl.conf",
                template("dovecot/10-ssl.conf", CERT=cert, KEY=key))
        t.write("/etc/dovecot/conf.d/10-logging.conf", template("dovecot/10-logging.conf"))
        t.mkdir("/var/lib/dovecot")

    def service(self, ctx: HostContext) -> ServiceEntry:
        # Dovecot's master keeps the caller's stderr as a fallback log: a file, never a pipe.
        log = "/var/log/dovecot.startup.log"
        return ServiceEntry(
            name=self.kind.value, user="root",
            start=_sh("/usr/sbin/dovecot", log), reload=("dovecot", "reload"),
            pid_file="/run/dovecot/master.pid",
            logs=(log, "/var/log/dovecot.log"), endpoints=_endpoints(self, ctx.address),
        )


_CATALINA_ENV = (
    "CATALINA_HOME=/usr/share/tomcat10 CATALINA_BASE=/var/lib/tomcat10 "
    "CATALINA_PID=/run/tomcat10/catalina.pid CATALINA_OUT=/var/log/tomcat10/catalina.out "
    "CATALINA_TMPDIR=/tmp/tomcat10-tmp "
    "JAVA_OPTS='-Djava.awt.headless=true -Xms32m -Xmx128m -XX:+UseSerialGC "
    "-XX:TieredStopAtLevel=1 -XX:-UsePerfData'"
)


class Tomcat:
    kind: ClassVar[ServiceKind] = ServiceKind.TOMCAT
    ports: ClassVar[Ports] = ((8443, TlsMode.DIRECT),)

    def install(self, ctx: HostContext) -> None:
        t = ctx.tree
        if ctx.layout == "debian":
            cert, key = ctx.pem_pair(self.kind, "", ())
            t.add_to_group("ssl-cert", "tomcat")
            attributes = f'certificateFile="{cert}"\n                         ' \
                         f'certificateKeyFile="{key}"'
        else:
            store = "/etc/tomcat10/ssl/private/www2.example.com.jks"
            cred = self_signed("www2.example.com", ("ftp.example.com",))
            ctx.fingerprints[self.kind.value] = cred.sha256
            t.mkdir("/etc/tomcat10/ssl/private", mode=0o750, group="tomcat")
            t.write(store, jks_keystore(cred, alias="tomcat", password=KEYSTORE_PASSWORD),
                    mode=0o640, group="tomcat")
            attributes = (f'certificateKeystoreFile="{store}"\n                         '
                          f'certificateKeystoreType="JKS" '
                          f'certificateKeystorePassword="{KEYSTORE_PASSWORD}"\n'
                          '                         certificateKeyAlias="tomcat"')
        t.write("/etc/tomcat10/server.xml",
                template("tomcat/server.xml", ADDRESS=ctx.address,
                         CERTIFICATE_ATTRIBUTES=attributes), mode=0o640, group="tomcat")
        t.write("/etc/tomcat10/tomcat-users.xml",
                template("tomcat/tomcat-users.xml", MANAGER_PASSWORD=ctx.manager_password),
                mode=0o640, group="tomcat")
        t.write("/etc/tomcat10/certmgr-sslreload.curlrc",
                template("tomcat/sslreload.curlrc", ADDRESS=ctx.address,
                         MANAGER_PASSWORD=ctx.manager_password), mode=0o600)
        t.mkdir("/var/log/tomcat10", mode=0o750, owner="tomcat", group="adm")
        t.mkdir("/var/cache/tomcat10", mode=0o750, owner="tomcat", group="adm")

    def service(self, ctx: HostContext) -> ServiceEntry:
        log = "/var/log/tomcat10/startup.log"
        script = ("install -d -o tomcat -g tomcat -m 0755 /run/tomcat10 /tmp/tomcat10-tmp && "
                  f"env {_CATALINA_ENV} setpriv --reuid=tomcat --regid=tomcat --init-groups "
                  "/usr/share/tomcat10/bin/catalina.sh start")
        return ServiceEntry(
            name=self.kind.value, user="tomcat",
            start=_sh(script, log),
            reload=("curl", "-K", "/etc/tomcat10/certmgr-sslreload.curlrc"),
            pid_file="/run/tomcat10/catalina.pid",
            logs=(log, "/var/log/tomcat10/catalina.out"), endpoints=_endpoints(self, ctx.address),
        )


class Nginx:
    """nginx as Debian runs it: the master as root (it reads the key), workers as www-data.

    Debian's own nginx.conf is kept; its default site (port 80) is replaced by
    one TLS server on port 4431 of the host's address.
    """

    kind: ClassVar[ServiceKind] = ServiceKind.NGINX
    ports: ClassVar[Ports] = ((4431, TlsMode.DIRECT),)

    def install(self, ctx: HostContext) -> None:
        t = ctx.tree
        cert, key = ctx.pem_pair(self.kind, "www.example.com", ())
        t.write("/etc/nginx/sites-available/certmgr-lab-ssl",
                template("nginx/certmgr-lab-ssl", ADDRESS=ctx.address, CERT=cert, KEY=key))
        t.remove("/etc/nginx/sites-enabled/default")
        # Relative, so that the link resolves inside the host tree from outside it too.
        t.symlink("/etc/nginx/sites-enabled/certmgr-lab-ssl",
                  "../sites-available/certmgr-lab-ssl")
        t.mkdir("/var/log/nginx", mode=0o755, group="adm")
        t.mkdir("/var/lib/nginx")  # nginx makes its temp directories (body...) in it

    def service(self, ctx: HostContext) -> ServiceEntry:
        log = "/var/log/nginx/startup.log"
        # nginx daemonizes (Debian's "daemon on; master_process on;") and writes its pid file.
        return ServiceEntry(
            name=self.kind.value, user="root",
            start=_sh("/usr/sbin/nginx", log), reload=("nginx", "-s", "reload"),
            pid_file="/run/nginx.pid", logs=(log, "/var/log/nginx/error.log"),
            endpoints=_endpoints(self, ctx.address),
        )


class Haproxy:
    """HAProxy in master-worker mode as Debian's unit runs it: the master as root, workers
    as haproxy; a reload is ``haproxy -c`` then SIGUSR2 to the master.

    Its credential is one combined PEM file (certificate and key), root:root 0600.
    """

    kind: ClassVar[ServiceKind] = ServiceKind.HAPROXY
    ports: ClassVar[Ports] = ((4432, TlsMode.DIRECT),)
    config: ClassVar[str] = "/etc/haproxy/haproxy.cfg"
    pid_file: ClassVar[str] = "/run/haproxy.pid"

    def install(self, ctx: HostContext) -> None:
        t = ctx.tree
        if ctx.layout == "debian":
            # HAProxy takes no separately named key file: an admin puts a combined copy
            # of the snakeoil pair where Debian's haproxy.cfg has its crt-base.
            assert ctx.snakeoil is not None
            cred, pem = ctx.snakeoil, "/etc/ssl/private/ssl-cert-snakeoil-combined.pem"
        else:
            cred = self_signed("www.example.com")
            pem = "/etc/haproxy/ssl/private/www.example.com.pem"
            t.mkdir("/etc/haproxy/ssl/private", mode=0o700)
        ctx.fingerprints[self.kind.value] = cred.sha256
        t.write(pem, cred.cert_pem + cred.key_pem, mode=0o600)
        t.write(self.config, template("haproxy/haproxy.cfg", ADDRESS=ctx.address, PEM=pem))
        t.mkdir("/var/lib/haproxy")  # its chroot

    def service(self, ctx: HostContext) -> ServiceEntry:
        log = "/var/log/haproxy.startup.log"
        # -W master-worker, -D daemon, -p the master's pid, -S the master CLI (Debian's
        # EXTRAOPTS). Start-up alerts go to the log before it detaches.
        start = ("mkdir -p -m 0755 /run/haproxy; exec /usr/sbin/haproxy -W -D "
                 f"-f {self.config} -p {self.pid_file} -S /run/haproxy-master.sock")
        reload = (f"haproxy -c -q -f {self.config} && "
                  f"kill -USR2 \"$(cat {self.pid_file})\"")
        return ServiceEntry(
            name=self.kind.value, user="root", start=_sh(start, log),
            reload=("sh", "-c", reload), pid_file=self.pid_file, logs=(log,),
            endpoints=_endpoints(self, ctx.address),
        )


# Start order: Tomcat first, as it takes longest to come up and the others start meanwhile.
PROGRAMS: tuple[LabProgram, ...] = (Tomcat(), Slapd(), Apache2(), Vsftpd(), Postfix(),
                                    Dovecot(), Nginx(), Haproxy())
# What a lab runs unless told otherwise: the seed's six. nginx and haproxy only when asked.
DEFAULT_PROGRAMS: tuple[str, ...] = ("tomcat", "slapd", "apache2", "vsftpd", "postfix",
                                     "dovecot")


def program(name: str) -> LabProgram:
    """The lab program of this kind (``slapd``, ``apache2``...)."""
    for prog in PROGRAMS:
        if prog.kind.value == name:
            return prog
    raise KeyError(name)
