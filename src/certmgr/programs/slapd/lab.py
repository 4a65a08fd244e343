"""slapd on a lab host: cn=config loaded by slapadd on first start, LDAP 389 (StartTLS) and 636."""

from __future__ import annotations

import shlex
from typing import ClassVar

from certmgr.hosts.servicetable import ServiceEntry
from certmgr.models import TlsMode
from certmgr.programs.lab import LabContext, LabProgram, LabTree, Ports, foreground

__all__ = ["LAB", "SlapdLab"]


class SlapdLab(LabProgram):
    name: ClassVar[str] = "slapd"
    ports: ClassVar[Ports] = ((389, TlsMode.STARTTLS_LDAP), (636, TlsMode.DIRECT))
    default: ClassVar[bool] = True

    def install(self, ctx: LabContext) -> None:
        t = ctx.tree
        cert, key = ctx.pem_pair(self.name, "ldap.example.com", (), key_group="openldap")
        if ctx.layout == "debian":
            t.add_to_group("ssl-cert", "openldap")
        values = {"CERT": cert, "KEY": key, "CAFILE": ctx.ca_file(self.name)}
        t.write("/etc/ldap/certmgr-lab/config.ldif", ctx.template("slapd/config.ldif", **values))
        t.write("/etc/ldap/certmgr-lab/base.ldif", ctx.template("slapd/base.ldif"))
        t.write("/etc/ldap/certmgr-lab/reload-tls.ldif",
                ctx.template("slapd/reload-tls.ldif", **values))
        t.remove("/etc/ldap/slapd.d")
        t.mkdir("/etc/ldap/slapd.d", mode=0o755, owner="openldap", group="openldap")
        t.mkdir("/var/lib/ldap", mode=0o700, owner="openldap", group="openldap")

    def service(self, ctx: LabContext) -> ServiceEntry:
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
            name=self.name, user="openldap",
            start=foreground("/run/slapd/slapd.pid", argv, "/var/log/slapd.log", before=before),
            reload=("ldapmodify", "-Q", "-Y", "EXTERNAL", "-H", "ldapi:///",
                    "-f", "/etc/ldap/certmgr-lab/reload-tls.ldif"),
            pid_file="/run/slapd/slapd.pid", logs=("/var/log/slapd.log",),
            endpoints=self.endpoints(ctx.address),
        )

    def files_only(self, tree: LabTree) -> None:
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


LAB = SlapdLab()
